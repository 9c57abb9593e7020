"""Dashboard accounts: moderators and admins, argon2 password hashes, signing in with a
throttle per account and per client address kept in the database (the rate counters), and
the sessions signed in: a random token for the cookie, its hash in `moderator_sessions`,
ended on the server by signing out, a password reset or a removal."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.moderation import audit
from bot.moderation.schema import Moderator, ModeratorSession
from bot.settings import Settings
from bot.subscribers import quotas
from bot.vocab import AuditAction, Role

NAME = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
MIN_PASSWORD = 12
LOGIN_WINDOW_S = 900
_HASHER = PasswordHasher()
# Verified against when the account does not exist, so an unknown name takes as long as a
# wrong password (no timing oracle for which accounts exist).
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Account:
    """A signed-in moderator as the dashboard knows them."""

    id: int
    name: str
    role: str

    @property
    def is_admin(self) -> bool:
        """Admins also edit tier policies, manage accounts and pause posting."""
        return self.role == Role.ADMIN


class SignInRefused(Exception):
    """A sign-in that did not succeed; `throttled` when too many failed before it."""

    def __init__(self, message: str, *, throttled: bool = False) -> None:
        super().__init__(message)
        self.throttled = throttled


def generate_password() -> str:
    """A password for a new account when the operator gives none (shown once)."""
    return secrets.token_urlsafe(18)


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise OperatorError("{password} must be at least {n} characters", n=MIN_PASSWORD)
    return password


def _account(row: Moderator) -> Account:
    return Account(row.id, row.name, row.role)


def _active(s: Session, name: str) -> Moderator:
    row = s.scalars(select(Moderator).where(Moderator.name == name)).first()
    if row is None or row.removed_at is not None:
        raise OperatorError("no moderator called {name}", name=repr(name))
    return row


def add_moderator(s: Session, name: str, role: str, password: str, actor: str) -> Account:
    """A new account; names are never reused, so the audit log stays unambiguous."""
    if not NAME.fullmatch(name):
        raise OperatorError("{name} may use letters, digits, '_', '.' and '-' (1 to 64)")
    if role not in set(Role):
        raise OperatorError("{role} must be moderator or admin, not {value}", value=repr(role))
    if s.scalar(select(Moderator.id).where(Moderator.name == name)) is not None:
        raise OperatorError("{name} {value} is taken (names are never reused)", value=repr(name))
    row = Moderator(
        name=name,
        role=Role(role),
        password_hash=_HASHER.hash(_checked_password(password)),
        created_at=utcnow(),
    )
    s.add(row)
    s.flush()
    audit.record(s, actor, AuditAction.ADD_MODERATOR, note=f"{name} ({role})")
    return _account(row)


def remove_moderator(s: Session, name: str, actor: str) -> None:
    """End an account: it cannot sign in, and its sessions end."""
    row = _active(s, name)
    row.removed_at = utcnow()
    _end_sessions_of(s, row.id)
    audit.record(s, actor, AuditAction.REMOVE_MODERATOR, note=name)


def reset_password(s: Session, name: str, password: str, actor: str) -> None:
    """A new password; every session signed in with the old one ends."""
    row = _active(s, name)
    row.password_hash = _HASHER.hash(_checked_password(password))
    _end_sessions_of(s, row.id)
    audit.record(s, actor, AuditAction.RESET_PASSWORD, note=name)


def moderators(s: Session) -> list[Moderator]:
    """Every active account, by name."""
    return list(
        s.scalars(select(Moderator).where(Moderator.removed_at.is_(None)).order_by(Moderator.name))
    )


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def open_session(s: Session, account: Account, now: datetime, lifetime_s: float) -> str:
    """A new session for a signed-in account; returns the token for the cookie (only its
    hash is stored). The account's expired sessions are cleared on the way."""
    s.execute(
        delete(ModeratorSession).where(
            ModeratorSession.moderator_id == account.id, ModeratorSession.expires_at <= now
        )
    )
    token = secrets.token_urlsafe(32)
    s.add(
        ModeratorSession(
            token_hash=_digest(token),
            moderator_id=account.id,
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime_s),
        )
    )
    return token


def session_account(s: Session, token: str, now: datetime) -> Account | None:
    """The account a session token opens, if the session stands (not ended, not expired,
    the account not removed)."""
    row = s.scalars(
        select(Moderator)
        .join(ModeratorSession, ModeratorSession.moderator_id == Moderator.id)
        .where(
            ModeratorSession.token_hash == _digest(token),
            ModeratorSession.expires_at > now,
            Moderator.removed_at.is_(None),
        )
    ).first()
    return _account(row) if row is not None else None


def end_session(s: Session, token: str) -> None:
    """Sign out: the session ends on the server, so a saved copy of the cookie opens nothing."""
    s.execute(delete(ModeratorSession).where(ModeratorSession.token_hash == _digest(token)))


def _end_sessions_of(s: Session, moderator_id: int) -> None:
    s.execute(delete(ModeratorSession).where(ModeratorSession.moderator_id == moderator_id))


def _throttle_keys(name: str, address: str) -> list[tuple[str, str]]:
    return [
        (f"login:account:{name.lower()[:64]}", "account"),
        (f"login:address:{address[:64]}", "address"),
    ]


def sign_in(
    s: Session, name: str, password: str, address: str, settings: Settings, now: datetime
) -> Account:
    """Check a name and password; a failure counts against the account and the address.

    Throttled before the password is looked at: once either has failed too often in the
    window, even the right password is refused until the window ends. The failure counts
    are written in the caller's transaction: catch SignInRefused inside it and commit.
    """
    limits = {
        "account": settings.login_failures_per_account,
        "address": settings.login_failures_per_address,
    }
    keys = _throttle_keys(name, address)
    for key, kind in keys:
        if quotas.used(s, key, LOGIN_WINDOW_S, now) >= limits[kind]:
            wait = LOGIN_WINDOW_S - int(now.timestamp()) % LOGIN_WINDOW_S
            raise SignInRefused(
                f"too many failed sign-ins for this {kind}; try again in {wait // 60 + 1} min",
                throttled=True,
            )
    row = s.scalars(select(Moderator).where(Moderator.name == name)).first()
    stored = row.password_hash if row is not None and row.removed_at is None else _DUMMY_HASH
    try:
        _HASHER.verify(stored, password)
        if stored is _DUMMY_HASH or row is None:
            raise VerificationError("no such account")
    except (VerificationError, InvalidHashError):
        for key, kind in keys:
            quotas.take(s, key, LOGIN_WINDOW_S, limits[kind] + 1, now)
        raise SignInRefused("wrong name or password") from None
    if _HASHER.check_needs_rehash(row.password_hash):
        row.password_hash = _HASHER.hash(password)
    s.execute(update(Moderator).where(Moderator.id == row.id).values(last_sign_in_at=now))
    audit.record(s, row.name, AuditAction.SIGN_IN, detail=address[:64])
    return _account(row)
