"""Local accounts' passwords: stored only as argon2id hashes (RFC 9106 §4, its second recommended
option: t=3, m=64 MiB, p=4), checked in constant work whether the account exists or not."""

from __future__ import annotations

import functools
from typing import Final

from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, func, select, update

from lockgate.store.errors import NotFoundError
from lockgate.store.schema import users

MIN_PASSWORD_LENGTH: Final = 12
MAX_PASSWORD_LENGTH: Final = 1024

_HASHER = PasswordHasher.from_parameters(profiles.RFC_9106_LOW_MEMORY)


@functools.cache
def _decoy() -> str:
    """A hash verified against when there is no account, so a failure costs the same either way."""
    return _HASHER.hash("lockgate: no such account")


def check_password_rules(password: str) -> None:
    """Raises ``ValueError`` (saying which rule) unless the password is 12 to 1024 characters."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"a password has at most {MAX_PASSWORD_LENGTH} characters")


def save_password(conn: Connection, user_id: int, password: str) -> None:
    """Set the user's password (its argon2id hash) and bump their version.

    Raises:
        ValueError: the password breaks ``check_password_rules``.
        NotFoundError: there is no such user.
    """
    check_password_rules(password)
    changed = conn.execute(
        update(users)
        .where(users.c.id == user_id)
        .values(password_hash=_HASHER.hash(password), version=users.c.version + 1)
    ).rowcount
    if not changed:
        raise NotFoundError(f"no user {user_id}")


def load_password_user(conn: Connection, email: str, password: str) -> int | None:
    """The id of the active user with ``email`` (case-insensitive) whose password this is; None
    otherwise: no such user, no password set, deactivated, or a wrong password, indistinguishably
    and at the same cost. A hash made with weaker parameters is replaced on the way."""
    row = conn.execute(
        select(users.c.id, users.c.password_hash, users.c.active).where(
            func.lower(users.c.email) == email.strip().lower()
        )
    ).first()
    decoy = _decoy()
    stored = row.password_hash if row is not None and row.password_hash else decoy
    try:
        _HASHER.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return None
    if row is None or stored is decoy or not row.active:
        return None
    if _HASHER.check_needs_rehash(stored):
        conn.execute(update(users).where(users.c.id == row.id).values(password_hash=_HASHER.hash(password)))
    return int(row.id)
