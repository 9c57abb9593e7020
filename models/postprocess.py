"""Make model output safe to store and worth posting on X.

``strip_control_chars`` is the minimal cleaning every stored text gets.
``process_reply`` is the full policy for a reply about to be posted: chat-template leftovers,
leading and surplus @mentions, Markdown, links, whitespace, empty and refusal-only output, and
X's weighted length (optionally as a short numbered thread).

Decisions where the rules leave room, in one place:

- Surplus @mentions are de-linked by dropping the "@" ("ask @jack" -> "ask jack"): the sentence
  still reads and nobody is notified. The first ``max_mentions`` occurrences (in text order)
  stay live; a repeat of a handle counts again. Mentions inside a kept URL are not mentions.
- Links: every URL twitter-text finds (so bare domains and file names with a country-code
  ending such as ``readme.md``, exactly what X would link and count as 23) and every
  ``scheme://`` token is removed unless its host is on the allowlist. ``[text](url)`` becomes
  ``text`` (plus `` url`` when the url is allowed). URL removal runs again after mentions are
  de-linked, because "@example.com" without its "@" is a link.
- Markdown: emphasis markers go only where they delimit a whole word run (``**x**``,
  ``*x*``, ``_x_``, ``__x__``, ``~~x~~``); intraword ones stay, so ``snake_case`` and
  ``2*3*4`` survive. Inline code and fenced blocks lose their backticks and keep their text
  verbatim. Headings, bullets, block quotes, rules and tables become plain lines (table cells
  joined with ", "); ``#hashtag`` stays because a heading needs a space after its ``#``.
- "Too short" is measured in X's weighted length, so one CJK character or one emoji
  (weight 2) is a reply; a text with no letter, digit or symbol ("...") is empty.
- Refusal-only: every sentence is a refusal ("I can't help with that", "As an AI language
  model, I cannot ...", and the same in es/fr/de/pt/it/ja/zh) or refusal filler ("Sorry.",
  "Is there anything else I can help with?"), with at least one real refusal. A refusal
  clause followed by "but ..." or a long continuation is an answer. "I can't verify that"
  is not a refusal: the prompt asks the model to say so.
- Threads: split at sentence ends (when that keeps at least half a post), else at spaces,
  else inside a word with an ellipsis; never just before an "@". Posts get a " 1/3" suffix
  only when the whole text fits in ``max_posts`` numbered posts; otherwise the split is
  redone without numbers to keep as much text as possible, and the last post is cut with
  ``fit_to_limit``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from twitter_text import extract_urls_with_indices

# Same pinned library xlength relies on; these classes keep our mention rule identical to
# the one X uses to decide what to link.
from twitter_text.regexp.invalid_chars import invalid_chars as _INVALID_CHARS
from twitter_text.regexp.latin_accent_chars import latin_accent_chars as _LATIN_ACCENTS

from models.xlength import ELLIPSIS, fit_to_limit, fits, weighted_length

# C0 controls other than tab/newline/CR, DEL, C1 controls, lone surrogates and U+FFFD (what a
# byte-level tokenizer emits for a broken UTF-8 sequence). Postgres rejects NUL outright.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffd]")


def strip_control_chars(text: str) -> str:
    """Drop characters no database, prompt or post should carry; keep everything else."""
    return _CONTROL.sub("", text)


# --------------------------------------------------------------------------------------------
# Public API


@dataclass(frozen=True)
class ReplyPolicy:
    """What a posted reply may contain and how long it may be."""

    # The author being answered is added by X's reply threading, so 0 or 1 is typical.
    max_mentions: int = 1
    # Hostnames; a URL stays only if its host is one of them or a subdomain of one.
    url_allowlist: tuple[str, ...] = ()
    limit: int = 280
    max_posts: int = 1
    min_chars: int = 2

    def __post_init__(self) -> None:
        if self.max_mentions < 0 or self.min_chars < 0:
            raise ValueError("max_mentions and min_chars must be >= 0")
        if self.limit < 1 or self.max_posts < 1:
            raise ValueError("limit and max_posts must be >= 1")


@dataclass(frozen=True)
class Processed:
    """The posts to publish (empty when rejected), why not, and what was changed."""

    posts: list[str]
    reason: str | None = None  # "empty", "refusal" or None
    changes: tuple[str, ...] = ()


def process_reply(text: str, policy: ReplyPolicy = ReplyPolicy()) -> Processed:
    """Turn model output into posts that fit X and this policy, or say why there are none."""
    changes: list[str] = []

    def step(name: str, func: Callable[[str], str], value: str) -> str:
        out = func(value)
        if out != value and name not in changes:
            changes.append(name)
        return out

    allow = _normalise_allowlist(policy.url_allowlist)
    text = _normalise(text[:_MAX_INPUT])
    text = step("reasoning", _strip_reasoning, text)
    text = step("template_markers", _strip_template_markers, text)
    dropped_links: list[str] = []
    text = step("markdown", lambda t: _strip_markdown(t, allow, dropped_links), text)
    if dropped_links:
        changes.append("urls_removed")
    while True:
        # Each rule can expose work for another: a de-linked "@example.com" is a bare domain,
        # a removed URL can leave a mention at the start. Every rule only deletes, so this ends.
        before = text
        text = step("urls_removed", lambda t: _remove_urls(t, allow), text)
        text = step("leading_mentions", _strip_leading_mentions, text)
        text = step("mentions_capped", lambda t: _cap_mentions(t, policy.max_mentions), text)
        if text == before:
            break
    text = _collapse_whitespace(text)  # not an audit-worthy change

    if weighted_length(text) < policy.min_chars or not _has_substance(text):
        return Processed([], "empty", tuple(changes))
    if is_refusal(text):
        return Processed([], "refusal", tuple(changes))

    posts, fit_changes = _fit(text, policy, allow)
    changes.extend(c for c in fit_changes if c not in changes)
    if not posts:  # only when the limit is smaller than any visible piece of text
        return Processed([], "empty", tuple(changes))
    return Processed(posts, None, tuple(changes))


def is_refusal(text: str) -> bool:
    """True if ``text`` is only a refusal (with apologies around it), not an answer."""
    sentences = [s for s in (_clean_sentence(s) for s in _SENTENCE_SPLIT.split(text)) if s]
    if not sentences:
        return False
    refused = False
    for sentence in sentences:
        if _is_refusal_sentence(sentence):
            refused = True
        elif not any(p.match(sentence) for p in _FILLER):
            return False
    return refused


# --------------------------------------------------------------------------------------------
# Normalisation and chat-template leftovers

_MAX_INPUT = 50_000
_LINE_ENDINGS = re.compile(r"\r\n|\r|\u2028|\u2029")
# Invisible characters that could hide an "@" from our rules but not from a reader (zero-width
# space, word joiner, BOM, Mongolian vowel separator). ZWJ/ZWNJ stay: emoji and scripts use them.
_INVISIBLE = re.compile("[\u200b\u2060\ufeff\u180e]")


def _normalise(text: str) -> str:
    # The form xlength measures (NFC, "\n"), so cuts made later line up with its indices.
    text = unicodedata.normalize("NFC", strip_control_chars(text))
    text = _LINE_ENDINGS.sub("\n", text)
    return _INVISIBLE.sub("", _INVALID_CHARS.sub("", text))


_THINK_BLOCK = re.compile(r"<(think|thinking|reasoning)>.*?</\1>", re.DOTALL | re.IGNORECASE)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning)>", re.IGNORECASE)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning)>", re.IGNORECASE)
# gpt-oss (harmony) puts the answer after the last "final" channel header.
_HARMONY_FINAL = re.compile(r"<\|channel\|>\s*final\s*(?:<\|constrain\|>\S*)?\s*<\|message\|>")


def _strip_reasoning(text: str) -> str:
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


def _strip_template_markers(text: str) -> str:
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


# --------------------------------------------------------------------------------------------
# Markdown

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


def _strip_markdown(text: str, allow: tuple[str, ...], dropped: list[str]) -> str:
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
    if not _url_allowed(url, allow):
        dropped.append(url)
        return label
    if not label or label.rstrip("/") in {url.rstrip("/"), _without_scheme(url).rstrip("/")}:
        return url
    return f"{label} {url}"


def _table_row(match: re.Match[str]) -> str:
    cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", match.group(1))]
    return ", ".join(cell for cell in cells if cell)


# --------------------------------------------------------------------------------------------
# URLs

# Any scheme://token, without the punctuation that ends the sentence around it.
_SCHEME_TOKEN = re.compile(
    r"(?<![A-Za-z0-9.+-])[a-z][a-z0-9+.-]{1,15}://(?:\([!-'*-~]*\)|[!-'*-~])*?"
    r"(?=[)\]}>.,;:!?'\"]*(?:[^!-~]|\Z))",
    re.IGNORECASE,
)
_PAIRS = {"(": ")", "[": "]", "<": ">", "{": "}", "\uff08": "\uff09"}


def _normalise_allowlist(hosts: tuple[str, ...]) -> tuple[str, ...]:
    out = []
    for host in hosts:
        host = host.strip().lower().rstrip(".")
        host = host.removeprefix("*.").lstrip(".")
        if host:
            out.append(_idna(host))
    return tuple(out)


def _idna(host: str) -> str:
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        return host


def _without_scheme(url: str) -> str:
    return re.sub(r"^[a-z][a-z0-9+.-]*://", "", url, flags=re.IGNORECASE)


def _url_host(url: str) -> str | None:
    candidate = url if "://" in url else "https://" + url
    try:
        host = urlsplit(candidate).hostname
    except ValueError:
        return None
    return _idna(host.rstrip(".")) if host else None


def _url_allowed(url: str, allow: tuple[str, ...]) -> bool:
    host = _url_host(url)
    return host is not None and any(host == a or host.endswith("." + a) for a in allow)


def _url_spans(text: str) -> list[tuple[int, int]]:
    return [(u["indices"][0], u["indices"][1]) for u in extract_urls_with_indices(text)]


def _remove_urls(text: str, allow: tuple[str, ...]) -> str:
    # What X links (twitter-text), plus scheme://... tokens it would not link but a reader
    # could still copy, such as "https://example.com@evil.net". Removing one can make a link
    # of what was around it ("-" + "example.com"), so repeat until nothing changes.
    while True:
        before = text
        for finder in (_url_spans, _scheme_spans):
            spans = [(s, e) for s, e in finder(text) if not _url_allowed(text[s:e], allow)]
            for start, end in sorted(spans, reverse=True):
                start, end = _widen(text, start, end)
                text = text[:start] + text[end:]
        if text == before:
            return text


def _widen(text: str, start: int, end: int) -> tuple[int, int]:
    """Widen a removed span so "(https://x)" leaves no "()" and "see https://x, then" no " ,"."""
    left, right = start, end
    while left > 0 and text[left - 1] in " \t":
        left -= 1
    while right < len(text) and text[right] in " \t":
        right += 1
    if left > 0 and right < len(text) and _PAIRS.get(text[left - 1]) == text[right]:
        return _widen(text, left - 1, right + 1)
    if end < len(text) and text[end] in ",.;:!?" and left < start:
        return left, end
    return start, end


def _scheme_spans(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in _SCHEME_TOKEN.finditer(text)]


# --------------------------------------------------------------------------------------------
# Mentions

# twitter-text's validMentionOrList: an at-sign ("@" or fullwidth U+FF20) not preceded by a
# handle character or another at-sign (except after "RT"), a handle of up to 20 characters and
# an optional list slug, not followed by another at-sign, an accented Latin letter or "://".
_AT = "@\uff20"
_MENTION = re.compile(
    r"(?:(?<![A-Za-z0-9_!#$%&*@\uff20])|(?<=(?<![A-Za-z0-9_+~.-])[Rr][Tt])"
    r"|(?<=(?<![A-Za-z0-9_+~.-])[Rr][Tt]:))"
    # Atomic: twitter-text checks what follows the longest match and never tries a shorter one.
    r"[@\uff20](?>([A-Za-z0-9_]{1,20})(/[A-Za-z][A-Za-z0-9_-]{0,24})?)"
    r"(?![@\uff20" + _LATIN_ACCENTS.pattern + r"]|://)"
)
_LEADING_JUNK = re.compile(r"\A[\s,;:.!?\u2026\u2013\u2014]+")


def _strip_leading_mentions(text: str) -> str:
    """Drop @handles (and stray at-signs) at the start: X would read the reply as theirs."""
    rest = text
    while True:
        body = _LEADING_JUNK.sub("", rest)
        mention = _MENTION.match(body)
        if mention:
            rest = body[mention.end() :]
        elif body and body[0] in _AT:
            rest = body[1:]
        else:
            return text if rest is text else body


def _cap_mentions(text: str, cap: int) -> str:
    kept_urls = _url_spans(text)  # only allowed URLs are left by now
    live = 0
    out: list[str] = []
    last = 0
    for mention in _MENTION.finditer(text):
        start, end = mention.span()
        if any(s < end and start < e for s, e in kept_urls):
            continue
        if live < cap:
            live += 1
            continue
        out.append(text[last:start])
        last = start + 1  # drop the at-sign, keep the name
    out.append(text[last:])
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Whitespace and substance

_HSPACE = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n{3,}")


def _collapse_whitespace(text: str) -> str:
    text = _HSPACE.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def _has_substance(text: str) -> bool:
    return any(unicodedata.category(ch)[0] in "LNS" for ch in text)


# --------------------------------------------------------------------------------------------
# Refusals

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?…])\s+|(?<=[。\uff01\uff1f])|\n+")
_APOSTROPHES = re.compile("[\u2019\u02bc\u2018`\u00b4]")

_EN_APOLOGY = (
    r"(?:(?:i'?m|i\s+am)\s+(?:so\s+|very\s+|really\s+|truly\s+|terribly\s+)?sorry"
    r"|sorry|i\s+apologi[sz]e|(?:my\s+)?apologies|unfortunately|regrettably"
    r"|(?:i'?m|i\s+am)\s+afraid)"
)
_EN_AS_AI = (
    r"as\s+an?\s+(?:ai\b|artificial\s+intelligence|(?:ai\s+)?(?:large\s+)?language\s+model"
    r"|llm|(?:ai\s+|virtual\s+|digital\s+)?(?:assistant|chatbot|model|bot))"
)
_EN_NEG = (
    r"(?:(?:i|we)\s+(?:cannot|can\s*not|can'?t|could\s+not|couldn'?t|will\s+not|won'?t"
    r"|must\s+not|am\s+unable|are\s+unable|am\s+not\s+(?:able|going|allowed|permitted)"
    r"|do\s+not\s+feel\s+comfortable|don'?t\s+feel\s+comfortable)"
    r"|(?:i'?m|we'?re)\s+(?:unable|not\s+(?:able|going|allowed|permitted|comfortable)))"
)
_EN_VERB = (
    r"(?:help|assist|comply|fulfil+|provide|do\s+(?:that|this|so)|engage|answer|respond"
    r"|support|create|generate|write|produce|share|discuss|continue|participate|complete"
    r"|process|give|offer|accommodate|grant|reveal|disclose|go\s+along)"
)
_EN_LEAD = rf"^(?:{_EN_APOLOGY}[,.!]?\s*(?:but\s+)?)?(?:{_EN_AS_AI}\s*,?\s*)?"

_ES_AI = (
    r"como\s+(?:un\s+|una\s+)?(?:ia|inteligencia\s+artificial|modelo\s+de\s+lenguaje"
    r"|asistente)"
)
_FR_AI = (
    r"en\s+tant\s+qu(?:e\s+|')\s*(?:une?\s+)?(?:ia|intelligence\s+artificielle|assistant"
    r"|modèle\s+de\s+langage)"
)
_DE_AI = (
    r"als\s+(?:eine?\s+)?(?:ki|künstliche\s+intelligenz|sprachmodell|ki-sprachmodell"
    r"|ki-assistent)"
)
_PT_AI = (
    r"como\s+(?:um\s+|uma\s+)?(?:ia|inteligência\s+artificial|modelo\s+de\s+linguagem"
    r"|assistente)"
)
_IT_AI = (
    r"come\s+(?:un\s+|un'\s*|una\s+)?(?:ia|intelligenza\s+artificiale"
    r"|modello\s+(?:di\s+)?linguaggio|assistente)"
)
_ZH_AI = r"作为(?:一个|一名)?(?:ai|人工智能)(?:语言模型|助手|模型)?[\uff0c,]?"

_REFUSALS = [
    re.compile(p)
    for p in (
        # English
        rf"{_EN_LEAD}{_EN_NEG}\s+(?:to\s+)?(?:\w+\s+)?{_EN_VERB}\b",
        rf"{_EN_LEAD}i\s+(?:must|have\s+to|need\s+to|will\s+have\s+to)\s+"
        r"(?:respectfully\s+|politely\s+)?(?:decline|refuse)\b",
        rf"{_EN_LEAD}(?:that'?s|that\s+is|this\s+is|it'?s)\s+not\s+something\s+i\s+can\s+"
        r"(?:help|assist)",
        rf"^(?:{_EN_APOLOGY}[,.!]?\s*(?:but\s+)?)?{_EN_AS_AI}\s*,?\s*(?:i|we)\s*"
        r"(?:cannot|can\s*not|can'?t|do\s+not|don'?t|am\s+not|'m\s+not|have\s+no|lack"
        r"|am\s+unable|'m\s+unable|could\s+not|couldn'?t|won'?t|will\s+not)\b",
        # Spanish
        r"^(?:(?:lo\s+siento(?:\s+mucho)?|disculpa|disculpe|perdón|lamentablemente"
        rf"|desafortunadamente)[,.!]?\s*(?:pero\s+)?)?(?:{_ES_AI}\s*,?\s*)?(?:yo\s+)?no\s+"
        r"(?:puedo|podemos|me\s+es\s+posible|estoy\s+en\s+condiciones\s+de)\s+(?:\w+\s+)?"
        r"(?:ayudar\w*|asistir\w*|cumplir|responder\w*|proporcionar\w*|hacer\s+eso|realizar"
        r"|generar|crear|participar|complacer\w*)",
        rf"^{_ES_AI}\s*,?\s*no\b",
        # French
        r"^(?:(?:je\s+suis\s+)?(?:désolée?|navrée?)|je\s+m'excuse|malheureusement)?[,.!]?\s*"
        rf"(?:mais\s+)?(?:{_FR_AI}\s*,?\s*)?je\s+ne\s+(?:peux|pourrai|puis|suis)\s+pas\s+"
        r"(?:en\s+mesure\s+d(?:e\s+|')|autorisée?\s+à\s+)?(?:vous\s+|t'|te\s+)?"
        r"(?:aider|assister|répondre|fournir|faire\s+(?:ça|cela)|donner|satisfaire|générer"
        r"|créer|accéder)",
        rf"^{_FR_AI}\s*,?\s*je\s+ne\b",
        # German
        r"^(?:(?:es\s+tut\s+mir\s+(?:sehr\s+)?leid|entschuldigung|sorry|leider)[,.!]?\s*"
        rf"(?:aber\s+)?)?(?:{_DE_AI}\s*,?\s*)?(?:ich\s+kann|kann\s+ich|ich\s+darf|darf\s+ich)"
        r"\s+(?:\w+\s+){0,3}?(?:leider\s+)?(?:nicht|keine)\s+(?:\w+\s+){0,2}?"
        r"(?:helfen|behilflich|unterstützen|antworten|beantworten|erfüllen|nachkommen"
        r"|geben|liefern|erstellen)",
        rf"^{_DE_AI}\s*,?\s*(?:kann|habe|bin|darf)\s+ich\s+(?:\w+\s+){{0,3}}?(?:nicht|keine)",
        # Portuguese
        r"^(?:(?:desculpe|desculpa|sinto\s+muito|lamento|infelizmente)[,.!]?\s*"
        rf"(?:mas\s+)?)?(?:{_PT_AI}\s*,?\s*)?(?:eu\s+)?não\s+(?:posso|consigo|sou\s+capaz\s+de"
        r"|estou\s+autorizad[oa]\s+a)\s+(?:\w+\s+)?(?:ajudar|auxiliar|responder|fornecer"
        r"|atender|cumprir|fazer\s+isso|gerar|criar)",
        # Italian
        r"^(?:(?:mi\s+dispiace|scusa(?:mi)?|spiacente|purtroppo)[,.!]?\s*(?:ma\s+)?)?"
        rf"(?:{_IT_AI}\s*,?\s*)?non\s+(?:posso|sono\s+in\s+grado\s+di|riesco\s+a)\s+"
        r"(?:\w+\s+)?(?:aiutar\w*|assister\w*|rispondere|fornire|soddisfare|fare|generare"
        r"|creare)",
        # Japanese
        r"^(?:申し訳[^。]{0,12}?が|すみませんが|恐れ入りますが|残念ながら)?[、,]?[^。]{0,30}?"
        r"(?:お手伝い|お答え|お応え|回答|対応|協力|提供|支援|手伝|応じ)[^。]{0,6}?"
        r"(?:でき(?:ません|ない)|いたしかねます|しかねます)",
        # Chinese
        r"^(?:(?:很|非常)?抱歉|对不起|不好意思|很遗憾)?[\uff0c,、]?\s*(?:但(?:是)?)?"
        rf"(?:{_ZH_AI})?(?:我|我们)(?:无法|不能|没办法|不可以|不便)"
        r"(?:为你|为您|帮你|帮您|向你|向您)?(?:提供|帮助|协助|回答|满足|完成|处理|帮|支持|回应"
        r"|生成|创建)",
        rf"^{_ZH_AI}我(?:无法|不能|没有)",
    )
]
# After the refusal clause, any of these means an answer follows in the same sentence.
_CONTRAST = re.compile(
    r"\b(?:but|however|though|although|instead|that\s+said|here'?s|here\s+is|pero|sin\s+embargo"
    r"|aunque|mais|cependant|toutefois|aber|jedoch|allerdings|mas|porém|contudo|ma|però"
    r"|tuttavia)\b|[;:]|但|不过|然而|が|けど|ただし|しかし"
)
_MAX_REFUSAL_TAIL = 100
_FILLER = [
    re.compile(p)
    for p in (
        rf"^{_EN_APOLOGY}(?:\s+for\s+(?:any|the)\s+(?:inconvenience|confusion))?[.!]*$",
        r"^(?:is\s+there\s+(?:anything|something)\s+else|let\s+me\s+know\s+if"
        r"|if\s+you\s+have\s+(?:any\s+)?(?:other|another|more|further)|feel\s+free\s+to"
        r"|(?:i'?m|i\s+am)\s+(?:here|happy|glad)\s+to\s+help\s+with\s+(?:anything|something)"
        r"|thank\s+you\s+for\s+(?:your\s+)?understanding|please\s+let\s+me\s+know)",
        r"^(?:lo\s+siento(?:\s+mucho)?|disculpa|disculpe|(?:je\s+suis\s+)?désolée?"
        r"|es\s+tut\s+mir\s+(?:sehr\s+)?leid|entschuldigung|desculpe|sinto\s+muito"
        r"|mi\s+dispiace|申し訳(?:ありません|ございません)|すみません|(?:很|非常)?抱歉|对不起)"
        r"[.!。\uff01]*$",
        r"^(?:¿\s*)?(?:hay\s+algo\s+más|puedo\s+ayudarte\s+con\s+algo\s+más|y\s+a-t-il"
        r"|puis-je\s+vous\s+aider|kann\s+ich\s+(?:dir|ihnen)\s+(?:sonst|bei\s+etwas\s+anderem)"
        r"|posso\s+(?:te\s+)?ajudar\s+com|c'è\s+(?:qualcos'altro|altro)|他に|还有什么|有什么其他)",
    )
]


def _clean_sentence(sentence: str) -> str:
    sentence = _APOSTROPHES.sub("'", sentence.lower())
    return re.sub(r"\s+", " ", sentence).strip(" \"'“”«»()[]")


def _is_refusal_sentence(sentence: str) -> bool:
    for pattern in _REFUSALS:
        match = pattern.match(sentence)
        if match:
            tail = sentence[match.end() :]
            return len(tail) <= _MAX_REFUSAL_TAIL and not _CONTRAST.search(tail)
    return False


# --------------------------------------------------------------------------------------------
# Fitting and threading

_ASCII_STOPS = frozenset(".!?")
_CJK_STOPS = frozenset("\u3002\uff01\uff1f")
_CLOSERS = "\"')]}\u00bb\u201d\u2019\u300d\u300f\u3011\uff09"
_CJK_STOP_RUN = re.compile("[\u3002\uff01\uff1f][" + re.escape(_CLOSERS) + "]*")
_MIN_SENTENCE_SHARE = 0.5


@dataclass(frozen=True)
class _Cut:
    end: int  # the post is text[start:end]
    resume: int  # the next post starts here
    sentence: bool


def _fit(text: str, policy: ReplyPolicy, allow: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """Return the posts for ``text`` and the changes fitting made."""
    limit, cap = policy.limit, policy.max_mentions
    if fits(text, limit) or policy.max_posts == 1:
        post = fit_to_limit(text, limit)
        return _guard([post], limit, cap, allow), (["truncated"] if post != text else [])

    n = policy.max_posts
    reserve = weighted_length(f" {n}/{n}")
    if limit - reserve >= reserve:
        posts, complete = _split(text, limit - reserve, n)
        posts = _guard(posts, limit - reserve, cap, allow)
        if complete and len(posts) > 1:
            numbered = [f"{post} {i}/{len(posts)}" for i, post in enumerate(posts, 1)]
            if all(fits(p, limit) for p in numbered):
                return numbered, ["threaded", "numbered"]
    posts, complete = _split(text, limit, n)
    posts = _guard(posts, limit, cap, allow)
    changes = ["threaded"] if len(posts) > 1 else []
    return posts, changes + ([] if complete else ["truncated"])


def _guard(posts: list[str], budget: int, cap: int, allow: tuple[str, ...]) -> list[str]:
    """Undo what a cut can create; every post fits, at most ``cap`` live mentions in all."""
    # A cut can make a link ("-evil.net" cut after the "-"), a leading at-sign, or a mention
    # ("@jack" cut off "@jacké"). Every rule only deletes, so the loop ends.
    out: list[str] = []
    left = cap
    for post in posts:
        while True:
            before = post
            post = _cap_mentions(post, left)
            post = _strip_leading_mentions(_remove_urls(post, allow))
            post = _collapse_whitespace(post)
            if not fits(post, budget):
                post = fit_to_limit(post, budget)
            if post == before:
                break
        if post:
            left -= _count_mentions(post)
            out.append(post)
    return out


def _count_mentions(text: str) -> int:
    return len(text) - len(_cap_mentions(text, 0))  # one at-sign dropped per live mention


def _split(text: str, budget: int, max_posts: int) -> tuple[list[str], bool]:
    """Cut ``text`` into at most ``max_posts`` posts; True if nothing had to be dropped."""
    cuts = _cut_points(text)
    posts: list[str] = []
    start = 0
    while len(posts) < max_posts - 1:
        rest = text[start:]
        if fits(rest, budget):
            break
        cut = _choose_cut(text, start, cuts, budget)
        exact = True
        if cut is not None:
            post, resume = text[start : cut.end].strip(), cut.resume
        else:
            post, resume, exact = _hard_cut(text, start, budget)
        if not post or resume <= start:
            break
        posts.append(post)
        start = resume
        if not exact:
            return posts, False
    rest = text[start:].strip()
    last = fit_to_limit(rest, budget) if rest else ""
    if last:
        posts.append(last)
    return posts, last == rest


def _cut_points(text: str) -> list[_Cut]:
    urls = _url_spans(text)

    def in_url(i: int) -> bool:
        return any(s < i < e for s, e in urls)

    cuts: list[_Cut] = []
    for space in re.finditer(r"\s+", text):
        s, e = space.span()
        if s == 0 or e == len(text) or in_url(s):
            continue
        before = text[:s].rstrip(_CLOSERS)[-1:]
        sentence = "\n" in space.group() or before in _ASCII_STOPS or before in _CJK_STOPS
        cuts.append(_Cut(s, e, sentence))
    for stop in _CJK_STOP_RUN.finditer(text):
        e = stop.end()
        if 0 < e < len(text) and not text[e].isspace() and not in_url(e):
            cuts.append(_Cut(e, e, True))
    return sorted(cuts, key=lambda c: c.end)


def _choose_cut(text: str, start: int, cuts: list[_Cut], budget: int) -> _Cut | None:
    best_word: _Cut | None = None
    best_sentence: _Cut | None = None
    for cut in cuts:
        if cut.end <= start:
            continue
        chunk = text[start : cut.end].strip()
        if not chunk:
            continue
        if not fits(chunk, budget):
            break
        if text[cut.resume : cut.resume + 1] in _AT:
            continue  # the next post would start with an at-sign
        best_word = cut
        if cut.sentence:
            best_sentence = cut
    if best_sentence is not None:
        kept = weighted_length(text[start : best_sentence.end].strip())
        if kept >= _MIN_SENTENCE_SHARE * budget or best_word is None:
            return best_sentence
    return best_word


_FIRST_WORD = re.compile(r"\S+")


def _hard_cut(text: str, start: int, budget: int) -> tuple[str, int, bool]:
    """Cut one word that alone is too long (CJK without spaces); the post ends with "…"."""
    rest = text[start:]
    word = _FIRST_WORD.match(rest)
    post = fit_to_limit(word.group(0) if word else rest, budget)  # the cut is inside it
    body = post.removesuffix(ELLIPSIS).rstrip()
    if body and rest.startswith(body):
        resume = start + len(body)
        while resume < len(text) and text[resume].isspace():
            resume += 1
        return post, resume, True
    return post, len(text), False  # cannot tell where it cut: this post is the last
