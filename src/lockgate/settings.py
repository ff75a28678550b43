"""Settings: every field from the environment as ``LOCKGATE_<FIELD>`` (pydantic-settings)."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lockgate.egress import LOOPBACK_NETWORKS
from lockgate.vault import KeyRing, Vault, VaultError, new_key
from lockgate.vault.keys import format_key_ring, parse_key_ring

SECRET_KEY_FILE = "secret.key"
MASTER_KEY_FILE = "master.keys"


class Settings(BaseSettings):
    """Lockgate's configuration. Each field is read from ``LOCKGATE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="LOCKGATE_", extra="ignore")

    data_dir: Path = Field(Path(".lockgate"), description="Where the SQLite store and the secret key live.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default sqlite in data_dir. postgresql://... uses PostgreSQL."
    )
    secret_key: SecretStr | None = Field(
        None, description="Key for hashing API tokens and signing cursors; default: data_dir/secret.key."
    )
    master_key: SecretStr | None = Field(
        None,
        description="The vault key ring (JSON, or one base64url 32-byte key); default: data_dir/master.keys.",
    )
    public_url: str | None = Field(
        None,
        description="The URL people and authorization servers reach Lockgate at (connection links, the "
        "OAuth callback); default http://HOST:PORT.",
    )
    egress_allowed_networks: list[str] = Field(
        default_factory=list,
        description="Private networks (CIDR) that OAuth discovery and webhooks may reach; public "
        "addresses always may, loopback, private and link-local ones only when listed here.",
    )
    server_allowed_networks: list[str] = Field(
        default_factory=lambda: list(LOOPBACK_NETWORKS),
        description="Networks (CIDR) that http and sse servers may be in although not public; public "
        "addresses always may. Default loopback only: list private networks (e.g. 10.0.0.0/8) to "
        "reach servers there; link-local (cloud metadata) is refused unless listed.",
    )
    presidio_model: str | None = Field(
        None,
        description="Directory of a spaCy model (installed by the operator) that gives Presidio rules "
        "the NER entities PERSON, LOCATION, NRP and ORGANIZATION; default none: pattern entities only, "
        "on a blank pipeline. Never downloaded (docs/presidio.md).",
    )
    host: str = Field("127.0.0.1", description="Address `lockgate serve` binds.")
    port: int = Field(8080, description="Port `lockgate serve` binds.")
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Extra Host values accepted (host:port, port may be *); loopback always is.",
    )
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Extra Origin values accepted (scheme://host:port, port may be *); loopback always is.",
    )
    upstream_timeout: float = Field(
        60.0, gt=0, description="Seconds an upstream call may take before -32011."
    )
    upstream_connect_timeout: float = Field(
        30.0, gt=0, description="Seconds to start a stdio server or open a session before -32010."
    )
    max_body_bytes: int = Field(4 * 1024 * 1024, gt=0, description="Largest POST body accepted (413 above).")
    max_response_bytes: int = Field(
        16 * 1024 * 1024,
        gt=0,
        description="Largest message taken from a server (an HTTP body, an SSE event, a stdio line); a "
        "larger answer fails its call with -32012, and a stdio server that sent it is restarted.",
    )
    session_idle_timeout: float = Field(
        1800.0,
        gt=0,
        description="Seconds a legacy session may go without a request (and without an open GET stream "
        "or a call in flight) before it is ended; its client then gets 404 and initializes again.",
    )
    max_sessions: int = Field(
        10_000,
        gt=0,
        description="Legacy sessions held in all; past it initialize is refused with HTTP 503 (-32016) "
        "and every live session is kept.",
    )
    max_sessions_per_connection: int = Field(
        100,
        gt=0,
        description="Legacy sessions one connection (host x gateway x user) may hold; its next one ends "
        "its own least recently used session, never another connection's.",
    )
    audit_batch_size: int = Field(1000, gt=0, description="Audit legs written per batch.")
    audit_max_pending: int = Field(
        50_000,
        gt=0,
        description="Unwritten audit legs at which new messages wait up to a second for the writer, "
        "then are refused with 503.",
    )
    audit_flush_interval: float = Field(0.05, gt=0, description="Seconds between audit batch writes.")
    audit_max_body_bytes: int = Field(
        1024 * 1024,
        gt=0,
        description="Largest body an audit leg stores; a larger one is stored as a note of its size and "
        "head, flagged degraded.",
    )
    audit_shutdown_deadline: float = Field(
        10.0,
        ge=0,
        description="Seconds a shutdown keeps writing buffered audit legs; what the store still refuses "
        "is kept in data_dir/audit-spill.jsonl and written at the next start.",
    )
    request_read_timeout: float = Field(
        30.0,
        gt=0,
        description="Seconds a client may take to send one request, headers and body, counted from the "
        "connection or from the request's first byte; past it the connection is closed (408 while still "
        "in the headers).",
    )
    max_header_bytes: int = Field(64 * 1024, gt=0, description="Largest request head accepted (431 above).")
    keep_alive_timeout: int = Field(
        5, gt=0, description="Seconds an idle keep-alive connection is kept open between requests."
    )
    max_connections: int = Field(
        2048,
        gt=0,
        description="Open connections (its own included), or requests in progress, at which a request "
        "is answered 503.",
    )
    log_level: str = Field("info", description="Log level of the server.")

    @property
    def resolved_public_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'lockgate.db'}"

    def ensure_data_dir(self) -> Path:
        """The data directory, created when missing and made the owner's alone (0700): it holds
        the secret key, the key ring and the SQLite store. Raises OSError."""
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        if self.data_dir.stat().st_mode & 0o777 != 0o700:
            self.data_dir.chmod(0o700)
        return self.data_dir

    def key_bytes(self, create: bool = True) -> bytes:
        """The instance secret: from ``LOCKGATE_SECRET_KEY``, else the owner-only key file (created
        when missing and ``create``).

        Raises:
            FileNotFoundError: no key configured and ``create`` is False.
        """
        if self.secret_key is not None:
            return self.secret_key.get_secret_value().encode()
        path = self.data_dir / SECRET_KEY_FILE
        if not path.exists():
            if not create:
                raise FileNotFoundError(f"no secret key at {path}: run `lockgate init`")
            self.ensure_data_dir()
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_hex(32))
        return path.read_text().strip().encode()

    def key_ring(self, create: bool = False) -> KeyRing:
        """The vault's key-encryption keys: from ``LOCKGATE_MASTER_KEY``, else the owner-only key file
        (created with one new key when missing and ``create``).

        Raises:
            VaultError: no key configured (and not ``create``), or a malformed one.
        """
        if self.master_key is not None:
            return parse_key_ring(self.master_key.get_secret_value())
        path = self.data_dir / MASTER_KEY_FILE
        if not path.exists():
            if not create:
                raise VaultError(f"no vault key at {path} and no LOCKGATE_MASTER_KEY: run `lockgate init`")
            self.save_key_ring(KeyRing({1: new_key()}, 1), exclusive=True)
        return parse_key_ring(path.read_text())

    def vault(self, create: bool = False) -> Vault:
        """The vault over ``key_ring(create)``.

        Raises:
            VaultError: as ``key_ring``.
        """
        return Vault(self.key_ring(create), reload=self.key_ring)

    def save_key_ring(self, ring: KeyRing, exclusive: bool = False) -> None:
        """Write the key file, owner-only, atomically (a new file renamed over the old one)."""
        self.ensure_data_dir()
        path = self.data_dir / MASTER_KEY_FILE
        temporary = path.with_suffix(".new")
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
        fd = os.open(temporary, flags, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(format_key_ring(ring))
        if exclusive and path.exists():
            temporary.unlink()
            raise VaultError(f"{path} already exists")
        os.replace(temporary, path)

    def guard_patterns(self) -> tuple[list[str], list[str]]:
        """The Host and Origin patterns accepted: loopback, the bound address, the public URL's, and
        the allowed lists."""
        loopback = ["127.0.0.1", "localhost", "[::1]"]
        hosts = [f"{h}:*" for h in loopback] + self.allowed_hosts
        if self.host not in ("0.0.0.0", "::", *loopback):  # noqa: S104 - compared, not bound
            hosts.append(f"{self.host}:*")
        origins = [f"http://{h}:*" for h in loopback] + self.allowed_origins
        if self.public_url is not None:
            public = urlsplit(self.public_url)
            hosts.append(public.netloc)
            origins.append(f"{public.scheme}://{public.netloc}")
        return hosts, origins
