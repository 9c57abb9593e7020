"""Model output is cleaned before it is stored or posted."""

from models.postprocess import clean_reply, strip_control_chars
from models.xlength import weighted_length


def test_nul_and_controls_are_removed() -> None:
    assert strip_control_chars("a\x00b\x1bc\x7fd\ufffde") == "abcde"
    assert strip_control_chars("line\nnext\ttab") == "line\nnext\ttab"


def test_clean_reply_collapses_spaces_and_fits() -> None:
    assert clean_reply("  hello \x00  world  \n\n  again ") == "hello world\n\nagain"
    long = "word " * 200
    out = clean_reply(long)
    assert weighted_length(out) <= 280 and out.startswith("word")


def test_only_noise_becomes_empty() -> None:
    assert clean_reply("\x00\x01 \ufffd \n") == ""
