"""``lockgate vault``: the key ring of the credential vault (envelope encryption, AES-256-GCM)."""

from __future__ import annotations

import typer

from lockgate.cli.context import fail, load_settings, open_store
from lockgate.store.vault_keys import count_by_version, rewrap_all, verify_key_ring
from lockgate.vault import Vault, VaultError, new_key
from lockgate.vault.keys import format_key_ring

app = typer.Typer(help="The credential vault's key ring.", no_args_is_help=True)


@app.command("rotate")
def rotate() -> None:
    """Add a key version and re-wrap every stored secret with it, without downtime: running servers
    read the key file again when they meet the new version. With LOCKGATE_MASTER_KEY, add the
    version yourself (`lockgate vault new-key`), deploy it, then run this to re-wrap."""
    settings = load_settings()
    engine = open_store(settings)
    ring = settings.key_ring()
    if settings.master_key is None:
        ring = ring.rotated(new_key())
        settings.save_key_ring(ring)
    vault = Vault(ring)
    try:
        with engine.begin() as conn:
            verify_key_ring(conn, vault)
            moved = rewrap_all(conn, vault)
    except VaultError as exc:
        fail(f"nothing was re-wrapped: {exc}")
    total = sum(moved.values())
    typer.echo(f"key version {ring.current} is current; re-wrapped {total} secret(s)")


@app.command("status")
def status() -> None:
    """The current key version and how many stored secrets each version wraps."""
    settings = load_settings()
    engine = open_store(settings)
    with engine.connect() as conn:
        counts = count_by_version(conn)
    typer.echo(f"current key version: {settings.key_ring().current}")
    for version, count in sorted(counts.items()):
        typer.echo(f"version {version}: {count} secret(s)")


@app.command("new-key")
def new_key_command() -> None:
    """Print the key ring with a new version added and made current (for LOCKGATE_MASTER_KEY)."""
    settings = load_settings()
    try:
        ring = settings.key_ring()
    except VaultError as exc:
        fail(str(exc))
    typer.echo(format_key_ring(ring.rotated(new_key())), nl=False)
