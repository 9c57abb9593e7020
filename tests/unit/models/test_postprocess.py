"""Model output is cleaned before it is stored, and made worth posting before it is posted."""

from __future__ import annotations

import random
import time

import pytest
from twitter_text import extract_urls_with_indices

from models.postprocess import Processed, ReplyPolicy, is_refusal, process_reply
from models.postprocess.mentions import cap_mentions
from models.postprocess.urls import url_allowed
from models.text import strip_control_chars
from models.xlength import ELLIPSIS, weighted_length

# --- the minimal cleaning every stored text gets ---------------------------------------------


def test_nul_and_controls_are_removed() -> None:
    assert strip_control_chars("a\x00b\x1bc\x7fd\ufffde") == "abcde"
    assert strip_control_chars("line\nnext\ttab") == "line\nnext\ttab"


# --- helpers ---------------------------------------------------------------------------------


def one(text: str, policy: ReplyPolicy | None = None) -> str:
    """The single post ``text`` becomes; fails if it was rejected or threaded."""
    result = process_reply(text, policy or ReplyPolicy())
    assert result.reason is None, result
    assert len(result.posts) == 1, result
    return result.posts[0]


def assert_postable(result: Processed, policy: ReplyPolicy) -> None:
    assert len(result.posts) <= policy.max_posts
    assert (result.reason is None) == bool(result.posts)
    for post in result.posts:
        assert post and post == post.strip()
        assert weighted_length(post) <= policy.limit, post
        assert post[0] not in "@\uff20", post
        for url in extract_urls_with_indices(post):
            assert url_allowed(url["url"], policy.url_allowlist), post
    # De-linking every mention drops one at-sign per live mention.
    live = sum(len(post) - len(cap_mentions(post, 0)) for post in result.posts)
    assert live <= policy.max_mentions, result.posts


# --- policy and result types -----------------------------------------------------------------


def test_policy_defaults() -> None:
    policy = ReplyPolicy()
    assert (policy.max_mentions, policy.url_allowlist, policy.limit) == (1, (), 280)
    assert (policy.max_posts, policy.min_chars) == (1, 2)
    with pytest.raises(AttributeError):
        policy.limit = 10  # type: ignore[misc]


@pytest.mark.parametrize(
    "kwargs", [{"max_mentions": -1}, {"limit": 0}, {"max_posts": 0}, {"min_chars": -1}]
)
def test_policy_rejects_nonsense(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        ReplyPolicy(**kwargs)  # type: ignore[arg-type]


def test_plain_answer_passes_untouched() -> None:
    result = process_reply("Yes, that's true: water boils at 100 °C at sea level.")
    assert result == Processed(["Yes, that's true: water boils at 100 °C at sea level."], None, ())


# --- control characters and chat-template leftovers ------------------------------------------


def test_control_and_invisible_characters_are_removed() -> None:
    assert one("Hel\x00lo\x1b wor\ufffdld\ufeff") == "Hello world"
    # A zero-width space must not hide an at-sign from the mention rules.
    assert one("\u200b@jack hi") == "hi"


@pytest.mark.parametrize(
    "control",
    list(
        "\u202e\u202a\u202b\u202c\u202d\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u00ad\u2060\u180e"
    ),
)
def test_bidi_and_other_format_controls_never_reach_the_platform(control: str) -> None:
    # Regression: a right-to-left override in the model's output was posted as is.
    assert one(f"The {control}answer{control} is 4.") == "The answer is 4."


def test_tag_characters_outside_a_flag_are_dropped() -> None:
    # Tag letters render as nothing: a way to smuggle text past a reader.
    assert one("tag chars \U000e0041\U000e0042 hidden?") == "tag chars hidden?"
    assert one("\U0001f3f4\U000e0041 no cancel tag") == "\U0001f3f4 no cancel tag"


def test_joiners_and_flag_tags_survive() -> None:
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
    scotland = "\U0001f3f4\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"
    persian = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"  # ZWNJ inside a word
    assert one(f"Here {family} and {scotland} and {persian}.") == (
        f"Here {family} and {scotland} and {persian}."
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("assistant: The answer is 4.", "The answer is 4."),
        ("Assistant:The answer is 4.", "The answer is 4."),
        ("**Assistant:** The answer is 4.", "The answer is 4."),
        ("[assistant]: The answer is 4.", "The answer is 4."),
        ("Reply: The answer is 4.", "The answer is 4."),
        ("assistant\nThe answer is 4.", "The answer is 4."),
        ("<|im_start|>assistant\nThe answer is 4.<|im_end|>", "The answer is 4."),
        (
            "<|start_header_id|>assistant<|end_header_id|>\n\nThe answer is 4.<|eot_id|>",
            "The answer is 4.",
        ),
        ("<start_of_turn>model\nThe answer is 4.<end_of_turn>", "The answer is 4."),
        ("[/INST] The answer is 4.</s>", "The answer is 4."),
        # The model running on into a turn of its own is cut off.
        ("The answer is 4.<|im_end|>\n<|im_start|>user\nthanks", "The answer is 4."),
        ("The answer is 4.\nUser: and 5?\nAssistant: 5.", "The answer is 4."),
        ("The answer<|unknown_token|> is 4.", "The answer is 4."),
    ],
)
def test_role_markers_are_stripped(raw: str, expected: str) -> None:
    result = process_reply(raw)
    assert result.posts == [expected]
    assert "template_markers" in result.changes


def test_words_like_assistant_inside_a_reply_stay() -> None:
    assert one("My assistant: a tool that helps.") == "My assistant: a tool that helps."
    assert one("Model: iPhone 15.") == "Model: iPhone 15."


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("<think>user wants math</think>\nThe answer is 4.", "The answer is 4."),
        ("reasoning the template opened</think>The answer is 4.", "The answer is 4."),
        (
            "<|channel|>analysis<|message|>think<|end|><|start|>assistant"
            "<|channel|>final<|message|>The answer is 4.<|return|>",
            "The answer is 4.",
        ),
    ],
)
def test_reasoning_is_dropped(raw: str, expected: str) -> None:
    result = process_reply(raw)
    assert result.posts == [expected]
    assert "reasoning" in result.changes


def test_unfinished_reasoning_is_empty() -> None:
    assert process_reply("<think>the user asks about the moon and I").reason == "empty"


# --- leading and surplus mentions ------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("@elonmusk @jack Yes it's true", "Yes it's true"),
        ("@jack: yes.", "yes."),
        ("@jack, @ev; yes.", "yes."),
        (".@jack — yes.", "yes."),
        ("\uff20jack yes.", "yes."),  # fullwidth at-sign links too
        ("  \n@jack\n\nyes.", "yes."),
        ("@jack/team-list yes.", "yes."),
        ("@ 5pm works.", "5pm works."),  # a stray at-sign is dropped too
        ("**@jack** yes.", "yes."),  # exposed by Markdown removal
        ("https://evil.example/x @jack yes.", "yes."),  # exposed by URL removal
    ],
)
def test_leading_mentions_are_removed(raw: str, expected: str) -> None:
    assert one(raw) == expected


def test_reply_of_only_mentions_is_empty() -> None:
    result = process_reply("@a @b @c")
    assert result == Processed([], "empty", ("leading_mentions",))


def test_mentions_over_the_cap_lose_their_at_sign() -> None:
    result = process_reply("Yes, @alice and @bob and @carol agree.")
    assert result.posts == ["Yes, @alice and bob and carol agree."]
    assert "mentions_capped" in result.changes
    assert one("Ask @alice or @bob.", ReplyPolicy(max_mentions=0)) == "Ask alice or bob."
    assert one("Ask @alice or @bob.", ReplyPolicy(max_mentions=2)) == "Ask @alice or @bob."
    # A repeat counts again: each occurrence is a live link.
    assert one("@x? Ask @alice, then @alice again.") == "Ask @alice, then alice again."


def test_things_that_are_not_mentions_are_left_alone() -> None:
    policy = ReplyPolicy(max_mentions=0)
    assert one("Mail bob@example.com today.", policy) == "Mail bob@example.com today."
    assert one("Meet at 5 @ noon.", policy) == "Meet at 5 @ noon."
    # A handle inside an allowed URL is part of the link, not a mention.
    allowed = ReplyPolicy(max_mentions=0, url_allowlist=("mastodon.social",))
    text = "See https://mastodon.social/@alice for it."
    assert one(text, allowed) == text


def test_a_delinked_mention_never_becomes_a_link() -> None:
    # "@example.com" without its at-sign would be a bare domain, which X links.
    result = process_reply("Ask @alice or @example.com about it.")
    assert result.posts == ["Ask @alice or about it."]
    assert {"mentions_capped", "urls_removed"} <= set(result.changes)


# --- Markdown --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("This is **bold** text.", "This is bold text."),
        ("This is __bold__ text.", "This is bold text."),
        ("This is *italic* text.", "This is italic text."),
        ("This is _italic_ text.", "This is italic text."),
        ("This is ***both*** text.", "This is both text."),
        ("**Bold with *nested* italic**.", "Bold with nested italic."),
        ("It is ~~false~~ true.", "It is false true."),
        ("# Heading\nBody.", "Heading\nBody."),
        ("### Deeper heading ###\nBody.", "Deeper heading\nBody."),
        ("- item one\n- item two", "item one\nitem two"),
        ("* star item\n+ plus item\n• dot item", "star item\nplus item\ndot item"),
        ("> quoted\nanswer", "quoted\nanswer"),
        ("Intro\n\n---\n\nMore.", "Intro\n\nMore."),
        ("Use `print()` here.", "Use print() here."),
        ("Use `` a `tick` `` here.", "Use a `tick` here."),
        ("Code:\n```python\nx = a_b * 2\n```\nDone.", "Code:\nx = a_b * 2\n\nDone."),
        ("See [the docs](https://evil.example/x).", "See the docs."),
        ("![a cat](https://img.example/cat.png) Cute.", "a cat Cute."),
        ("| Name | Age |\n|------|:---:|\n| Bob | 3 |", "Name, Age\nBob, 3"),
        (r"Escaped \*stars\* stay.", "Escaped *stars* stay."),
        ("Line one<br>line two", "Line one\nline two"),
    ],
)
def test_markdown_is_removed(raw: str, expected: str) -> None:
    result = process_reply(raw)
    assert result.posts == [expected]
    assert "markdown" in result.changes


@pytest.mark.parametrize(
    "text",
    [
        "#news is trending, #1 for a week.",
        "#news\nmore on it",
        "Rename my_var_name and snake_case_word.",
        "2*3*4 = 24 and x**2 + y**2 = r**2.",
        "a * b * c is a product.",
        "Use __init__ files? Yes.",  # dunder inside a sentence with no closing pair
        "It costs 5-10 dollars - roughly.",
        "1. first\n2. second",  # numbered lists read fine as text
        "Call print() or f(x).",
        ">5 days is long.",
        "The file_name_here is fine.",
        "日本語 😀 text.",
    ],
)
def test_non_markdown_is_not_mangled(text: str) -> None:
    result = process_reply(text)
    assert result.posts == [text]
    assert "markdown" not in result.changes


def test_code_content_is_kept_verbatim() -> None:
    assert one("Call `__init__` or `**kwargs`.") == "Call __init__ or **kwargs."


def test_markdown_link_to_an_allowed_host_keeps_its_url() -> None:
    policy = ReplyPolicy(url_allowlist=("python.org",))
    assert one("See [docs](https://docs.python.org/3/).", policy) == (
        "See docs https://docs.python.org/3/."
    )
    text = "See [https://python.org](https://python.org)."
    assert one(text, policy) == "See https://python.org."
    result = process_reply("See [docs](https://evil.example/x).", policy)
    assert result.posts == ["See docs."]
    assert "urls_removed" in result.changes


# --- URLs ------------------------------------------------------------------------------------

ALLOW = ReplyPolicy(url_allowlist=("python.org", "T.co."))


@pytest.mark.parametrize(
    ("raw", "policy", "expected"),
    [
        ("Read https://python.org/about now.", ALLOW, "Read https://python.org/about now."),
        ("Read https://docs.python.org/3 now.", ALLOW, "Read https://docs.python.org/3 now."),
        ("Read docs.python.org now.", ALLOW, "Read docs.python.org now."),
        ("Read https://t.co/abc123 now.", ALLOW, "Read https://t.co/abc123 now."),
        ("Read https://t.co/abc123 now.", ReplyPolicy(), "Read now."),
        ("Read https://evil.example/x now.", ALLOW, "Read now."),
        ("Read example.com now.", ALLOW, "Read now."),  # bare domains are links on X
        ("Read www.example.co.uk/a?b=1 now.", ALLOW, "Read now."),
        ("Read https://python.org.evil.net now.", ALLOW, "Read now."),
        ("Read https://evilpython.org now.", ALLOW, "Read now."),
        ("Read https://evil.net/python.org now.", ALLOW, "Read now."),
        ("Read https://python.org@evil.net now.", ALLOW, "Read now."),
        ("Read http://localhost:8000/x now.", ALLOW, "Read now."),
        ("Sources (https://evil.example) say yes.", ALLOW, "Sources say yes."),
        ("Sources (example.com) say yes.", ALLOW, "Sources say yes."),
        ("See https://evil.example/x, then decide.", ALLOW, "See, then decide."),
        ("A (real) aside (https://evil.example/(x)).", ALLOW, "A (real) aside."),
        ("日本語https://evil.example/x中国語", ALLOW, "日本語中国語"),
    ],
)
def test_urls_outside_the_allowlist_are_removed(
    raw: str, policy: ReplyPolicy, expected: str
) -> None:
    result = process_reply(raw, policy)
    assert result.posts == [expected]
    assert ("urls_removed" in result.changes) == (raw != expected)


def test_allowlist_entries_are_normalised() -> None:
    policy = ReplyPolicy(url_allowlist=("*.Python.ORG", " python.org. "))
    assert one("See https://DOCS.python.org/x.", policy) == "See https://DOCS.python.org/x."


def test_numbers_and_abbreviations_are_not_urls() -> None:
    text = "Pi is 3.14, e.g. in node.js docs."
    assert one(text) == text


# --- whitespace ------------------------------------------------------------------------------


def test_whitespace_is_collapsed() -> None:
    assert one("  a  \t b\u00a0\u00a0c  ") == "a b c"
    assert one("one\n\n\n\n\ntwo\n \n \nthree") == "one\n\ntwo\n\nthree"
    assert one("line  \nnext") == "line\nnext"
    assert one("a\r\nb\rc") == "a\nb\nc"


# --- empty -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    ["", "   \n\t ", "\x00\x01", "k", "...", "— !", "**", "```\n```", "<|im_end|>", "@a @b"],
)
def test_nothing_worth_posting_is_empty(raw: str) -> None:
    assert process_reply(raw).reason == "empty"
    assert process_reply(raw).posts == []


def test_short_but_real_replies_pass() -> None:
    assert one("ok") == "ok"
    assert one("👍") == "👍"  # one emoji weighs 2
    assert one("是") == "是"  # and so does one CJK character
    assert process_reply("ok", ReplyPolicy(min_chars=3)).reason == "empty"
    assert one("k", ReplyPolicy(min_chars=1)) == "k"


# --- refusals --------------------------------------------------------------------------------

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, but I can\u2019t help with that.",
    "Sorry, I cannot assist with that request.",
    "I cannot assist with that request.",
    "I can't help with that.",
    "I'm unable to provide that information.",
    "I am not able to help with this.",
    "I won't share my instructions.",
    "As an AI language model, I cannot browse the internet.",
    "As an AI, I don't have personal opinions.",
    "I must respectfully decline.",
    "That's not something I can help with.",
    "I apologize, but I cannot fulfill this request. Is there anything else I can help with?",
    "I'm sorry. I can't do that. Let me know if you have other questions.",
    "Lo siento, pero no puedo ayudarte con eso.",
    "No puedo ayudar con esa solicitud.",
    "Como modelo de lenguaje, no tengo opiniones.",
    "Je suis désolé, mais je ne peux pas vous aider.",
    "En tant qu'IA, je ne peux pas répondre à cela.",
    "Es tut mir leid, aber ich kann dabei nicht helfen.",
    "Leider kann ich dir dabei nicht helfen.",
    "Als KI kann ich das nicht beurteilen.",
    "Desculpe, mas não posso ajudar com isso.",
    "Mi dispiace, ma non posso aiutarti con questo.",
    "申し訳ありませんが、その質問にはお答えできません。",
    "抱歉\uff0c我无法帮助你。",
    "作为一个人工智能语言模型\uff0c我无法浏览网页。",
]

NOT_REFUSALS = [
    "I'm sorry, but I can't help with that. The moon landing happened in 1969.",
    "I can't help with that, but the official site lists the hours.",
    "As an AI, I can't browse, but this claim was debunked in 2020 by Reuters.",
    "I can't verify that claim.",  # the prompt asks for exactly this
    "I can't confirm that; no reliable source reports it.",
    "I don't know.",
    "Sorry, that's false: the Earth is round.",
    "Yes, it's true.",
    "Lo siento, pero no puedo ayudarte con eso. Sin embargo, la respuesta es 42.",
    "申し訳ありませんが、お答えできません。ただし、一般的には正しいです。",
    "You can't help it: humans see faces in clouds.",
    "Sorry.",  # an apology alone refuses nothing
    "",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusal_only_is_rejected(text: str) -> None:
    assert is_refusal(text)
    assert process_reply(text) == Processed([], "refusal", ())


@pytest.mark.parametrize("text", NOT_REFUSALS)
def test_refusal_followed_by_an_answer_is_not_a_refusal(text: str) -> None:
    assert not is_refusal(text)


def test_refusal_is_judged_after_cleaning() -> None:
    result = process_reply("@alice **I'm sorry, but I can't help with that.**")
    assert result.reason == "refusal"
    assert result.changes == ("markdown", "leading_mentions")


# --- length and threads ----------------------------------------------------------------------

SENTENCES = " ".join(f"Point {i} matters here." for i in range(30))  # about 690 characters


def test_single_post_is_cut_to_fit() -> None:
    result = process_reply(SENTENCES)
    assert len(result.posts) == 1
    assert weighted_length(result.posts[0]) <= 280
    assert result.posts[0].endswith("matters here.")  # cut at a sentence end
    assert "truncated" in result.changes


def test_thread_numbers_posts_when_everything_fits() -> None:
    policy = ReplyPolicy(max_posts=3)
    result = process_reply(SENTENCES, policy)
    assert len(result.posts) == 3
    assert [p[-4:] for p in result.posts] == [" 1/3", " 2/3", " 3/3"]
    assert all(weighted_length(p) <= 280 for p in result.posts)
    assert all(p[:-4].endswith("matters here.") for p in result.posts)  # sentence cuts
    assert " ".join(p[:-4] for p in result.posts) == SENTENCES  # nothing lost
    assert result.changes == ("threaded", "numbered")


def test_thread_drops_numbers_and_truncates_when_too_long() -> None:
    text = " ".join(f"Point {i} matters here." for i in range(60))
    result = process_reply(text, ReplyPolicy(max_posts=3))
    assert len(result.posts) == 3
    assert not any(p.endswith(" 3/3") for p in result.posts)
    assert all(weighted_length(p) <= 280 for p in result.posts)
    assert {"threaded", "truncated"} <= set(result.changes)
    assert text.startswith(" ".join(result.posts))


def test_thread_only_when_needed() -> None:
    assert process_reply("Short answer.", ReplyPolicy(max_posts=3)).posts == ["Short answer."]


@pytest.mark.parametrize(
    "text",
    [
        "これは日本語の文です。" * 40,  # CJK weighs 2, sentences end without spaces
        "これは日本語の文です" * 40,  # no break at all: cut inside the run
        "😀" * 300,
        "👍🏽👨‍👩‍👧" * 120,  # modifier and ZWJ sequences never split
        "word " * 150,
    ],
)
def test_thread_posts_fit_with_wide_characters(text: str) -> None:
    for max_posts in (1, 3):
        policy = ReplyPolicy(max_posts=max_posts)
        result = process_reply(text, policy)
        assert 1 <= len(result.posts) <= max_posts
        assert_postable(result, policy)
        for post in result.posts:
            body = post.rsplit(" ", 1)[0] if post[-2:-1] == "/" else post
            body = body.removesuffix(ELLIPSIS)
            assert "\ufffd" not in body and not body.endswith("\u200d")


def test_cjk_thread_cuts_at_sentence_ends() -> None:
    result = process_reply("これは日本語の文です。" * 30, ReplyPolicy(max_posts=3))
    assert all(p.rsplit(" ", 1)[0].endswith("。") for p in result.posts)


def test_thread_never_starts_a_post_with_a_mention() -> None:
    text = "a" * 10 + " " + ("x " * 132) + "@alice " + "y " * 120
    # The longest first post would end just before "@alice"; the cut moves one word back.
    result = process_reply(text.strip(), ReplyPolicy(max_posts=3, max_mentions=1))
    assert len(result.posts) == 2
    assert result.posts[1].startswith("x @alice y")
    assert_postable(result, ReplyPolicy(max_posts=3, max_mentions=1))


def test_urls_are_kept_whole_across_a_thread() -> None:
    policy = ReplyPolicy(max_posts=3, url_allowlist=("python.org",))
    url = "https://docs.python.org/3/library/re.html"
    text = " ".join(f"See {url} for part {i}." for i in range(20))
    result = process_reply(text, policy)
    assert_postable(result, policy)
    for post in result.posts:
        assert post.count("https://") == post.count(url)


def test_small_limits_still_fit() -> None:
    for limit in (1, 2, 3, 5, 10, 30):
        policy = ReplyPolicy(limit=limit, max_posts=3, min_chars=1)
        result = process_reply("Hello there, this is a longer answer. 日本語です。😀", policy)
        assert_postable(result, policy)


# --- property-style: hostile random inputs ---------------------------------------------------

PIECES = [
    "a",
    "word",
    "Yes.",
    "true",
    " ",
    " ",
    "  ",
    "\n",
    "\n\n\n",
    "\t",
    ".",
    "!",
    "?",
    ",",
    ":",
    "@",
    "@a",
    "@elonmusk",
    "\uff20jack",
    "@a/list",
    "bob@example.com",
    "RT @x",
    "*",
    "**",
    "_",
    "__",
    "~~",
    "`",
    "```",
    "#",
    "# ",
    "#news",
    "- ",
    "> ",
    "|",
    "|---|",
    "\\",
    "[x](https://evil.example/y)",
    "[d](https://docs.python.org/3)",
    "<https://e.example>",
    "https://evil.example/path",
    "example.com",
    "t.co/x",
    "https://t.co/abc",
    "readme.md",
    "https://docs.python.org/3/",
    "python.org.evil.net",
    "https://a.b@evil.net",
    "日本語",
    "。",
    "中文\uff0c",
    "😀",
    "👍🏽",
    "👨‍👩‍👧",
    "é",
    "\u0301",
    "\u200d",
    "\u200b",
    "\x00",
    "\x1b",
    "\ufffd",
    "\ufeff",
    "\u2028",
    "<|im_end|>",
    "<|im_start|>assistant\n",
    "assistant:",
    "<think>",
    "</think>",
    "User:",
    "I'm sorry, but I can't help with that.",
    "Lo siento, no puedo ayudar.",
]


def _random_text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(0, 120)))


def test_random_hostile_inputs_always_give_postable_output() -> None:
    rng = random.Random(20240501)
    policies = [
        ReplyPolicy(),
        ReplyPolicy(max_mentions=0, max_posts=3),
        ReplyPolicy(max_mentions=2, url_allowlist=("python.org",), max_posts=2),
        ReplyPolicy(limit=40, max_posts=4, min_chars=1),
    ]
    started = time.perf_counter()
    for _ in range(400):
        text = _random_text(rng)
        policy = rng.choice(policies)
        result = process_reply(text, policy)
        assert_postable(result, policy)
        assert result.reason in (None, "empty", "refusal")
        assert set(result.changes) <= {
            "reasoning",
            "template_markers",
            "markdown",
            "urls_removed",
            "leading_mentions",
            "mentions_capped",
            "truncated",
            "threaded",
            "numbered",
        }
    assert time.perf_counter() - started < 30


def test_huge_input_is_bounded() -> None:
    started = time.perf_counter()
    result = process_reply("**word** @x https://evil.example " * 20_000, ReplyPolicy(max_posts=3))
    assert_postable(result, ReplyPolicy(max_posts=3))
    assert time.perf_counter() - started < 10


def test_the_bots_own_handle_is_never_live_in_its_reply() -> None:
    # In the soak, replies saying "@mentionbot" came back as mentions of the bot.
    policy = ReplyPolicy(max_mentions=1, own_handle="mentionbot")
    result = process_reply("Ask @MentionBot or @jack about it.", policy)
    assert result.posts == ["Ask MentionBot or @jack about it."]
    assert "mentions_capped" in result.changes


def test_a_small_models_loop_is_said_once() -> None:
    looped = "I'm not sure it is.\n\nI'm not sure it is.\n\nI'M NOT SURE, it is!\n\nI'm not"
    result = process_reply(looped)
    assert result.posts == ["I'm not sure it is."]
    assert "repeats_removed" in result.changes


def test_distinct_sentences_are_kept_as_written() -> None:
    text = "The answer is 8. Spiders have eight legs.\nInsects have six."
    result = process_reply(text)
    assert result.posts == [text]
    assert "repeats_removed" not in result.changes
