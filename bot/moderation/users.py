"""Platform users as moderators look them up: found by handle or id, one by its row id, and
their latest mentions with the bot's replies."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from bot.errors import OperatorError
from bot.mentions.schema import Mention, PlatformUser
from bot.replies.schema import Reply


def find_users(s: Session, q: str, limit: int) -> list[PlatformUser]:
    """Users whose handle starts with `q` (any case), or whose platform id is `q`, by handle."""
    return list(
        s.scalars(
            select(PlatformUser)
            .where(
                func.lower(PlatformUser.username).startswith(q.lower(), autoescape=True)
                | (PlatformUser.platform_id == q)
            )
            .order_by(PlatformUser.username)
            .limit(limit)
        )
    )


def user_by_id(s: Session, user_id: int) -> PlatformUser | None:
    """The user with this row id, if there is one."""
    return s.get(PlatformUser, user_id)


def known_user(s: Session, user_id: int) -> PlatformUser:
    """The user with this row id; OperatorError when there is none."""
    user = user_by_id(s, user_id)
    if user is None:
        raise OperatorError("no such user")
    return user


def platform_id_of(s: Session, user_id: int) -> str:
    """The platform's id of the user with this row id (what the subscriber services take)."""
    return known_user(s, user_id).platform_id


def recent_exchanges(
    s: Session, user_id: int, limit: int = 20
) -> list[tuple[Mention, Reply | None]]:
    """The user's latest mentions, newest first, each with the bot's reply if it has one."""
    return list(
        s.execute(
            select(Mention, Reply)
            .outerjoin(Reply, Reply.mention_id == Mention.id)
            .where(Mention.author_id == user_id)
            .order_by(Mention.id.desc())
            .limit(limit)
        ).tuples()
    )
