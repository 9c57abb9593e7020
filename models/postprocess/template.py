"""Reasoning blocks and chat-template leftovers in model output."""

from __future__ import annotations

import re

__all__ = ["strip_reasoning", "strip_template_markers"]

_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
# gpt-oss (harmony) puts the answer after the last "final" channel header.
_HARMONY_FINAL = re.compile(r"<\|channel\|>\s*final\s*(?:<\|constrain\|>\S*)?\s*<\|message\|>")


def strip_reasoning(text: str) -> str:
    """Drop reasoning blocks (<think>, harmony analysis channels); keep the answer."""
    text = _THINK_BLOCK.sub("", text)
    # Template opened the block in the prompt: everything before the close is reasoning.
    closes = list(_THINK_CLOSE.finditer(text))
    if closes:
        text = text[closes[-1].end() :]
    opened = _THINK_OPEN.search(text)
    if opened:  # never closed: the answer never came
        text = text[: opened.start()]
    finals = list(_HARMONY_FINAL.finditer(text))
    if finals:
        text = text[finals[-1].end() :]
    return text


# A role header at the start, in the forms templates leave behind (tokens kept or stripped by
# the tokenizer's skip_special_tokens), including Markdown-dressed "**Assistant:**".
_LEADING_ROLE = re.compile(
    r"\A\s*(?:"
    r"<\|im_start\|>\s*(?:assistant|system|user)?"
    r"|<\|start_header_id\|>\s*\w*\s*<\|end_header_id\|>"
    r"|<\|start\|>\s*assistant"
    r"|<\|channel\|>\s*\w+\s*<\|message\|>"
    r"|<\|(?:assistant|system|user|bot)\|>"
    r"|<start_of_turn>\s*(?:model|assistant)?"
    r"|<s>|\[/?INST\]|<</?SYS>>|<\|begin_of_text\|>"
    r"|(?:assistant|model)[ \t]*(?=\n)"
    r"|[*_#>\s]*\[?(?:assistant|bot|response|reply)\]?[ \t]*[*_]*:[*_]*"
    r")",
    re.IGNORECASE,
)
# End of the model's turn: anything after it is the model running on into a turn of its own.
_END_OF_TURN = re.compile(
    r"<\|im_end\|>|<\|eot_id\|>|<\|eom_id\|>|<\|endoftext\|>|<\|end_of_text\|>|<\|end\|>"
    r"|<\|return\|>|</s>|<end_of_turn>|<\|im_start\|>|<start_of_turn>|<\|start_header_id\|>"
    r"|\[INST\]"
    r"|^[ \t]*(?:#{1,3}[ \t]*)?(?:user|human|instruction)[ \t]*:",
    re.IGNORECASE | re.MULTILINE,
)
_STRAY_TOKEN = re.compile(r"<\|[a-z_]{1,30}\|>", re.IGNORECASE)


def strip_template_markers(text: str) -> str:
    """Drop leading role headers, stray special tokens, and whatever follows the turn's end."""
    while True:
        lead = _LEADING_ROLE.match(text)
        if not lead or lead.end() == 0:
            break
        text = text[lead.end() :]
    cut = _END_OF_TURN.search(text)
    while cut is not None and not text[: cut.start()].strip():
        text = text[cut.end() :]  # a marker before any content is just noise
        cut = _END_OF_TURN.search(text)
    if cut is not None:
        text = text[: cut.start()]
    return _STRAY_TOKEN.sub("", text)
