"""Markdown in model output turned into the plain text a post shows.

Emphasis markers go only where they delimit a whole word run (``**x**``, ``*x*``, ``_x_``,
``__x__``, ``~~x~~``); intraword ones stay, so ``snake_case`` and ``2*3*4`` survive. Inline
code and fenced blocks lose their backticks and keep their text verbatim. Headings, bullets,
block quotes, rules and tables become plain lines (table cells joined with ", "); ``#hashtag``
stays because a heading needs a space after its ``#``. ``[text](url)`` becomes ``text`` (plus
`` url`` when the url is allowed).
"""

from __future__ import annotations

import re

from models.postprocess.urls import url_allowed, without_scheme

__all__ = ["strip_markdown"]

# Placeholders carry code and escapes through the other rules untouched. NUL cannot occur in
# the text any more (control characters are gone), so it cannot be forged.
_HOLD = "\x00"
_HELD = re.compile(_HOLD + r"(\d+)" + _HOLD)
_FENCE_BLOCK = re.compile(
    r"^[ \t]*(`{3,}|~{3,})[^\n]*\n(.*?)(?:^[ \t]*\1[ \t]*$|\Z)", re.MULTILINE | re.DOTALL
)
_INLINE_CODE = re.compile(r"(`+)(?!`)(.+?)(?<!`)\1(?!`)")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>])")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_IMAGE_OR_LINK = re.compile(
    r"!?\[([^\[\]\n]*)\]\(\s*<?([^\s()<>]+(?:\([^\s()]*\)[^\s()<>]*)*)>?"
    r"(?:\s+(?:\"[^\"\n]*\"|'[^'\n]*'))?\s*\)"
)
_AUTOLINK = re.compile(r"<((?:https?|ftp)://[^\s<>]+)>", re.IGNORECASE)
_HR = re.compile(r"^[ \t]*([-*_=])(?:[ \t]*\1){2,}[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+\u2022\u2023\u25e6\u25aa\u2013][ \t]+", re.MULTILINE)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]*)*>[ \t]+(?=\S)", re.MULTILINE)
_TABLE_RULE = re.compile(
    r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*(?:\n|\Z)",
    re.MULTILINE,
)
_TABLE_ROW = re.compile(r"^[ \t]*\|(.*)\|[ \t]*$", re.MULTILINE)
# Emphasis only around a run that does not touch a word character on the outside, so that
# intraword markers (snake_case, 2*3*4, x**2 + y**2) stay.
_STAR_EMPHASIS = re.compile(r"(?<![\w*])(\*{1,3})(?![\s*])(.+?)(?<![\s*])\1(?![\w*])")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![\w_])(_{1,3})(?![\s_])(.+?)(?<![\s_])\1(?![\w_])")
_DUNDER_NAME = re.compile(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)*")
_KNOWN_DUNDER = re.compile(
    r"init|new|del|main|name|file|doc|dict|class|module|slots|all|str|repr|call|len|iter|next"
    r"|enter|exit|getattr|setattr|getitem|setitem|contains|eq|hash|bool|future|builtins"
    r"|version|path|spec|loader|package|annotations|post_init|init_subclass"
)
_STRIKE = re.compile(r"(?<!~)~~(?![\s~])(.+?)(?<![\s~])~~(?!~)")


def strip_markdown(text: str, allow: tuple[str, ...], dropped: list[str]) -> str:
    """Markdown → plain text; URLs of links that are not allowed are appended to ``dropped``."""
    held: list[str] = []

    def hold(value: str) -> str:
        held.append(value)
        return f"{_HOLD}{len(held) - 1}{_HOLD}"

    text = _FENCE_BLOCK.sub(lambda m: hold(m.group(2).rstrip("\n")) + "\n", text)
    text = _INLINE_CODE.sub(lambda m: hold(_unpad(m.group(2))), text)
    text = _ESCAPE.sub(lambda m: hold(m.group(1)), text)
    text = _BR.sub("\n", text)
    text = _IMAGE_OR_LINK.sub(lambda m: _link_text(m.group(1), m.group(2), allow, dropped), text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TABLE_RULE.sub(lambda m: "" if "|" in m.group(0) else m.group(0), text)
    text = _HR.sub("", text)
    text = _TABLE_ROW.sub(_table_row, text)
    text = _HEADING.sub(lambda m: m.group(1) or "", text)
    text = _BULLET.sub(r"\1", text)
    text = _QUOTE.sub("", text)
    for _ in range(3):  # nested emphasis: ***x***, **a *b* c**
        before = text
        text = _STAR_EMPHASIS.sub(r"\2", text)
        text = _UNDERSCORE_EMPHASIS.sub(_underscore, text)
        text = _STRIKE.sub(r"\1", text)
        if text == before:
            break
    text = _HELD.sub(lambda m: held[int(m.group(1))], text)
    return text.replace(_HOLD, "")


def _underscore(match: re.Match[str]) -> str:
    # "__init__" in prose is a Python name, not bold "init": well-known names, and any
    # "__name__" written as an attribute (".__dict__") or a call ("__init__(").
    if match.group(1) == "__" and _DUNDER_NAME.fullmatch(match.group(2)):
        text, start, end = match.string, match.start(), match.end()
        attribute_or_call = text[start - 1 : start] == "." or text[end : end + 1] == "("
        if _KNOWN_DUNDER.fullmatch(match.group(2)) or attribute_or_call:
            return match.group(0)
    return match.group(2)


def _unpad(code: str) -> str:
    # CommonMark strips one space each side so "`` `x` ``" can show backticks.
    return code[1:-1] if len(code) > 2 and code[0] == code[-1] == " " else code


def _link_text(label: str, url: str, allow: tuple[str, ...], dropped: list[str]) -> str:
    label = label.strip()
    if not url_allowed(url, allow):
        dropped.append(url)
        return label
    if not label or label.rstrip("/") in {url.rstrip("/"), without_scheme(url).rstrip("/")}:
        return url
    return f"{label} {url}"


def _table_row(match: re.Match[str]) -> str:
    cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", match.group(1))]
    return ", ".join(cell for cell in cells if cell)
