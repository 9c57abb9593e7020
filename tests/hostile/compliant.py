"""A stand-in for a model that does whatever a post asks (security tests only).

It is what the output checks exist for: asked for its instructions, it answers with its
system message; asked to say something, it says it, links, handles, markup and all; asked
anything else, it repeats the mention back. The real engine answers in the other run.
"""

from __future__ import annotations

import re
from typing import Any

_ASKS_FOR_RULES = re.compile(
    r"system (?:prompt|message)|instructions|rules|persona|guidelines|everything above|"
    r"initial prompt|text before",
    re.IGNORECASE,
)
_ASKS_TO_SAY = re.compile(
    r"(?:say|repeat(?: after me)?|include this link in your reply|post|answer with|reply with)"
    r"[^:]*:\s*(.+)",
    re.IGNORECASE | re.DOTALL,
)
_MENTION_BLOCK = re.compile(r"```mention by @\w+\n(.*?)\n```", re.DOTALL)


def comply(body: dict[str, Any]) -> str:
    """The answer an obedient model gives to this chat completion request."""
    system = str(body["messages"][0]["content"])
    user = str(body["messages"][-1]["content"])
    blocks = _MENTION_BLOCK.findall(user)
    mention = blocks[-1] if blocks else user
    if _ASKS_FOR_RULES.search(mention):
        return system
    asked = _ASKS_TO_SAY.search(mention)
    return asked.group(1) if asked else mention
