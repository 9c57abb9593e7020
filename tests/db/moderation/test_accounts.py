"""Dashboard accounts on real Postgres (rolled back): argon2 hashes, checked names and
passwords, sessions that end with a reset or a removal, and the sign-in throttle."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.db.base import utcnow
from bot.errors import OperatorError
from bot.moderation import accounts
from bot.moderation.accounts import SignInRefused
from bot.moderation.schema import Moderator, ModeratorSession
from bot.settings import Settings
from tests.fixtures.factories.moderation import PASSWORD, moderator

SETTINGS = Settings(login_failures_per_account=3, login_failures_per_address=5)
LIFETIME_S = 12 * 3600


@pytest.fixture()
def s(db: sessionmaker[Session]) -> Iterator[Session]:
    with db() as session:
        yield session


def test_passwords_are_argon2_hashes_and_checked(s: Session) -> None:
    moderator(s, "alice")
    stored = s.scalar(select(Moderator.password_hash).where(Moderator.name == "alice"))
    assert stored is not None and stored.startswith("$argon2id$") and PASSWORD not in stored
    with pytest.raises(OperatorError, match="at least 12"):
        accounts.add_moderator(s, "bob", "moderator", "short", "test")
    with pytest.raises(OperatorError, match="taken"):
        moderator(s, "alice")
    with pytest.raises(OperatorError, match="moderator or admin"):
        accounts.add_moderator(s, "carol", "owner", PASSWORD, "test")
    with pytest.raises(OperatorError, match="letters, digits"):
        accounts.add_moderator(s, "bad name", "moderator", PASSWORD, "test")


def test_sign_in_and_sessions_that_end(s: Session) -> None:
    alice = moderator(s, "alice", "admin")
    now = utcnow()
    account = accounts.sign_in(s, "alice", PASSWORD, "10.0.0.1", SETTINGS, now)
    assert (account.name, account.is_admin) == ("alice", True)
    token = accounts.open_session(s, account, now, LIFETIME_S)
    assert accounts.session_account(s, token, now) == account
    accounts.reset_password(s, "alice", "a brand new passphrase", "ops")
    assert accounts.session_account(s, token, now) is None  # old session void
    with pytest.raises(SignInRefused, match="wrong name or password"):
        accounts.sign_in(s, "alice", PASSWORD, "10.0.0.1", SETTINGS, utcnow())
    again = accounts.sign_in(s, "alice", "a brand new passphrase", "10.0.0.1", SETTINGS, utcnow())
    token = accounts.open_session(s, again, now, LIFETIME_S)
    accounts.remove_moderator(s, "alice", "ops")
    assert accounts.session_account(s, token, now) is None
    with pytest.raises(SignInRefused):
        accounts.sign_in(s, "alice", "a brand new passphrase", "10.0.0.2", SETTINGS, utcnow())
    with pytest.raises(OperatorError, match="never reused"):
        moderator(s, "alice")
    assert alice.id == account.id


def test_a_session_ends_when_signed_out_or_expired_and_only_its_hash_is_kept(s: Session) -> None:
    bob = moderator(s, "bob")
    now = utcnow()
    first = accounts.open_session(s, bob, now, LIFETIME_S)
    second = accounts.open_session(s, bob, now, LIFETIME_S)
    stored = set(s.scalars(select(ModeratorSession.token_hash)))
    assert len(stored) == 2 and not stored & {first, second}  # the tokens are not stored
    accounts.end_session(s, first)
    assert accounts.session_account(s, first, now) is None
    assert accounts.session_account(s, second, now) == bob  # signing out ends one session
    later = now + timedelta(seconds=LIFETIME_S)
    assert accounts.session_account(s, second, later) is None  # expired
    assert accounts.session_account(s, "not a token", now) is None


def test_the_throttle_holds_per_account_and_per_address(s: Session) -> None:
    moderator(s, "bob")
    now = utcnow()
    for _ in range(3):
        with pytest.raises(SignInRefused) as wrong:
            accounts.sign_in(s, "bob", "guess", "10.0.0.9", SETTINGS, now)
        assert not wrong.value.throttled
    # The account is throttled: even the right password is refused, from any address.
    with pytest.raises(SignInRefused, match="this account") as held:
        accounts.sign_in(s, "bob", PASSWORD, "10.0.0.10", SETTINGS, now)
    assert held.value.throttled
    # ... until the window is over.
    later = now + timedelta(seconds=accounts.LOGIN_WINDOW_S)
    assert accounts.sign_in(s, "bob", PASSWORD, "10.0.0.10", SETTINGS, later).name == "bob"
    # One address guessing many accounts is throttled too (unknown names count).
    for i in range(5):
        with pytest.raises(SignInRefused):
            accounts.sign_in(s, f"nobody{i}", "guess", "10.0.0.66", SETTINGS, later)
    with pytest.raises(SignInRefused, match="this address"):
        accounts.sign_in(s, "bob", PASSWORD, "10.0.0.66", SETTINGS, later)
