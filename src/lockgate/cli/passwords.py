"""``lockgate users set-password``: a local account's password, for signing in to the web pages."""

from __future__ import annotations

import uuid
from typing import Annotated

import typer

from lockgate.cli.client import operator_actor
from lockgate.cli.context import fail, load_settings, open_store
from lockgate.store.admin_events import save_admin_event
from lockgate.store.errors import NotFoundError
from lockgate.store.passwords import MIN_PASSWORD_LENGTH, check_password_rules, save_password
from lockgate.store.people import fetch_user


def set_password(
    ctx: typer.Context,
    email: Annotated[
        str, typer.Argument(metavar="EMAIL", help="A user's email address.", show_default=False)
    ],
) -> None:
    """Set a user's password for signing in to the web pages (connection links). It is asked for
    twice, without echo, and stored only as an argon2id hash. Acts on the local store as the
    instance operator (recorded as an admin event), so it takes no --url."""
    if ctx.find_root().params.get("url"):
        fail("set-password acts on the local store: run it where the store is, without --url or LOCKGATE_URL")
    engine = open_store(load_settings())
    with engine.connect() as conn:
        try:
            user_id = fetch_user(conn, email).id
        except NotFoundError as exc:
            fail(str(exc))
    password = typer.prompt(
        f"Password (at least {MIN_PASSWORD_LENGTH} characters)", hide_input=True, confirmation_prompt=True
    )
    try:
        check_password_rules(password)
    except ValueError as exc:
        fail(str(exc))
    with engine.begin() as conn:
        save_password(conn, user_id, password)
        save_admin_event(
            conn,
            correlation_id=str(uuid.uuid4()),
            actor=operator_actor().email,
            operation="users_set_password",
            kind="user",
            name=email,
            before=None,
            after=None,
        )
    typer.echo(f"password set for {email}")
