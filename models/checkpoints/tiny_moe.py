"""Build a tiny random Mixtral checkpoint and tokenizer for tests and the demo.

Nothing is downloaded: the weights come from a seeded generator and the byte-level BPE
tokenizer is trained here on a corpus embedded in this module. The result (about 1.3 MB)
loads in vLLM's CPU engine like any Mixtral checkpoint.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from models.checkpoints.build import (
    WEIGHTS_NAME,
    build_atomically,
    is_complete_build,
    save_seeded,
    weights_sha256,
)

__all__ = [
    "CHAT_TEMPLATE",
    "DEFAULT_SPEC",
    "MANIFEST_NAME",
    "SPECIAL_TOKENS",
    "TinyMoESpec",
    "build_tiny_moe",
    "is_built",
    "main",
    "write_generation_config",
    "write_tokenizer",
]

# Bumped whenever the build procedure changes, so an old build is replaced rather than reused.
BUILDER_VERSION = 1
MANIFEST_NAME = "mentionbot-tiny-moe.json"

# Ids 0..3 follow the Llama/Mixtral convention (unk, bos, eos, pad) so the config defaults fit.
UNK, BOS, EOS, PAD = "<unk>", "<s>", "</s>", "<pad>"
SPECIAL_TOKENS: tuple[str, ...] = (
    UNK,
    BOS,
    EOS,
    PAD,
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|end|>",
)

# Content may arrive as a string or as OpenAI content parts; only text parts are kept.
CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['content'] is string %}{% set text = message['content'] %}"
    "{% else %}{% set text = message['content'] | selectattr('type', 'equalto', 'text')"
    " | map(attribute='text') | join('\\n') %}{% endif %}"
    "{{ '<|' + message['role'] + '|>\\n' + text + '<|end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\\n' }}{% endif %}"
)


@dataclass(frozen=True)
class TinyMoESpec:
    """Shape of the tiny checkpoint; kept to sizes the CPU kernels accept (multiples of 32)."""

    vocab_size: int = 512
    hidden_size: int = 128
    intermediate_size: int = 128
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    num_local_experts: int = 4
    num_experts_per_tok: int = 2
    max_position_embeddings: int = 4096
    initializer_range: float = 0.02
    dtype: str = "bfloat16"


DEFAULT_SPEC = TinyMoESpec()

# A few KB of mixed text so the BPE merges cover ordinary English, some other scripts, and
# the shape of social posts (handles, hashtags, URLs, emoji).
_CORPUS = """\
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with a
single step. Is this true? Can you check the facts in this post? What is the source for that
claim? Thanks for the answer, that was helpful. I am not sure this is right, please explain.
@mentionbot is this true? @mentionbot what does this mean? @mentionbot summarize the thread.
Breaking: the city council voted to expand the bike lanes downtown. #news #city
The weather today is sunny with a high of 24 degrees and a light breeze from the west.
Scientists say the new telescope captured images of galaxies formed soon after the big bang.
The report was published on Monday and reviewed by independent experts before release.
According to the study, people who sleep seven to eight hours a night report better mood.
No, that quote is not from Einstein; it first appeared in a self-help book in the 1980s.
Yes, the photo is real, but it was taken in 2019, not last week as the post suggests.
The statistic is misleading because it leaves out the population size of each country.
Here is a short answer: the claim is partly true. The numbers are correct, the context is not.
You can read more at https://example.com/articles/fact-check and https://example.org/faq
Please be kind. We review replies to keep the conversation respectful and accurate.
I think the model should answer briefly, cite sources when it can, and say when it does not
know. Short replies fit in a post: two hundred and eighty characters at most, links count as
twenty-three each, and some characters count twice.
Good morning! Good night! Happy birthday! Congratulations on the new job. See you soon.
What time is it in Tokyo? How far is the moon? Why is the sky blue? Who won the match?
The sky looks blue because air scatters short wavelengths of sunlight more than long ones.
The moon is about 384,400 kilometres from the earth on average.
Water boils at 100 degrees Celsius at sea level and at lower temperatures at high altitude.
El rápido zorro marrón salta sobre el perro perezoso. ¿Es esto verdad? Gracias por la
respuesta. La noticia es falsa; la foto es de otro año. Buenos días a todos.
Le renard brun rapide saute par-dessus le chien paresseux. Est-ce vrai ? Merci beaucoup pour
la réponse. L'article a été publié lundi. Bonne journée !
Der schnelle braune Fuchs springt über den faulen Hund. Ist das wahr? Vielen Dank für die
Antwort. Die Zahlen stimmen, aber der Zusammenhang fehlt. Schönen Tag noch!
A raposa marrom rápida pula sobre o cão preguiçoso. Isso é verdade? Obrigado pela resposta.
La volpe marrone veloce salta sopra il cane pigro. È vero? Grazie per la risposta.
Быстрая коричневая лиса прыгает через ленивую собаку. Это правда? Спасибо за ответ.
これは本当ですか？ありがとうございます。今日はいい天気です。
这是真的吗？谢谢你的回答。今天天气很好。
이것이 사실입니까? 답변 감사합니다. 오늘 날씨가 좋네요.
هل هذا صحيح؟ شكرا على الإجابة.
क्या यह सच है? उत्तर के लिए धन्यवाद।
Is this true? 🤔 Yes! ✅ No. ❌ Maybe... 👀 Thanks 🙏 Love it ❤️ LOL 😂 Fire 🔥
def answer(question: str) -> str:
    return "I checked: the claim is mostly accurate."
{"role": "user", "content": "Is this true?"} {"role": "assistant", "content": "Partly."}
User: Is the earth flat? Assistant: No. The earth is an oblate spheroid, as measured by
satellites, ships disappearing hull first over the horizon, and the shadow during eclipses.
User: Who wrote Hamlet? Assistant: William Shakespeare, around 1600.
User: Translate thank you into Spanish. Assistant: Gracias.
User: What is two plus two? Assistant: Four.
0 1 2 3 4 5 6 7 8 9 10 11 12 2024 2025 100% 3.14 $20 €15 #1 @user_123 RT @someone:
"""  # noqa: RUF001 (full-width punctuation is the point of the CJK lines)


def _spec_dict(spec: TinyMoESpec, seed: int) -> dict[str, Any]:
    """What a manifest records; a build is reused only when this matches exactly."""
    return {"builder_version": BUILDER_VERSION, "seed": seed, "spec": asdict(spec)}


def is_built(out_dir: Path, seed: int = 0, spec: TinyMoESpec = DEFAULT_SPEC) -> bool:
    """True when out_dir holds a complete build for these parameters with intact weights."""
    needed = ("config.json", WEIGHTS_NAME, "tokenizer.json", "tokenizer_config.json")
    return is_complete_build(
        Path(out_dir), MANIFEST_NAME, _spec_dict(spec, seed), needed, hashed_weights=True
    )


def build_tiny_moe(out_dir: Path, seed: int = 0, spec: TinyMoESpec = DEFAULT_SPEC) -> Path:
    """Build (or reuse) the tiny MoE checkpoint in out_dir and return out_dir."""
    out_dir = Path(out_dir)
    if is_built(out_dir, seed, spec):
        return out_dir

    def write(tmp_dir: Path) -> dict[str, Any]:
        _write_checkpoint(tmp_dir, seed, spec)
        write_tokenizer(tmp_dir, spec)
        return {"build": _spec_dict(spec, seed), "weights_sha256": weights_sha256(tmp_dir)}

    return build_atomically(out_dir, MANIFEST_NAME, write, lambda: is_built(out_dir, seed, spec))


def _write_checkpoint(model_dir: Path, seed: int, spec: TinyMoESpec) -> None:
    """Write config.json, generation_config.json and bf16 safetensors with seeded weights."""
    from transformers import MixtralConfig, MixtralForCausalLM

    config = MixtralConfig(
        vocab_size=spec.vocab_size,
        hidden_size=spec.hidden_size,
        intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.num_hidden_layers,
        num_attention_heads=spec.num_attention_heads,
        num_key_value_heads=spec.num_key_value_heads,
        head_dim=spec.head_dim,
        num_local_experts=spec.num_local_experts,
        num_experts_per_tok=spec.num_experts_per_tok,
        max_position_embeddings=spec.max_position_embeddings,
        initializer_range=spec.initializer_range,
        bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=SPECIAL_TOKENS.index(EOS),
        pad_token_id=SPECIAL_TOKENS.index(PAD),
        tie_word_embeddings=False,
        dtype=spec.dtype,
    )
    model = MixtralForCausalLM(config)
    save_seeded(model, model_dir, seed, initializer_range=spec.initializer_range, dtype=spec.dtype)
    write_generation_config(model_dir)


def write_generation_config(model_dir: Path) -> None:
    """Write generation_config.json with this tokenizer's special token ids."""
    from transformers import GenerationConfig

    # Stopping at the end-of-turn marker is what ends an assistant turn in chat requests.
    GenerationConfig(
        bos_token_id=SPECIAL_TOKENS.index(BOS),
        eos_token_id=[SPECIAL_TOKENS.index(EOS), SPECIAL_TOKENS.index("<|end|>")],
        pad_token_id=SPECIAL_TOKENS.index(PAD),
    ).save_pretrained(model_dir)


def write_tokenizer(model_dir: Path, spec: TinyMoESpec) -> None:
    """Train a byte-level BPE on the embedded corpus and save it as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token=UNK))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    bos_id = SPECIAL_TOKENS.index(BOS)
    # Prepend <s> like Llama/Mixtral tokenizers do; chat templates write it themselves and
    # vLLM tokenizes templated prompts without special tokens, so it is never doubled.
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B:1", special_tokens=[(BOS, bos_id)]
            ),
        ]
    )
    trainer = trainers.BpeTrainer(
        vocab_size=spec.vocab_size,
        special_tokens=list(SPECIAL_TOKENS),
        # Every byte is in the vocabulary, so no input ever maps to <unk>.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        min_frequency=2,
        show_progress=False,
    )
    tokenizer.train_from_iterator(_CORPUS.splitlines(), trainer=trainer)
    if tokenizer.get_vocab_size() > spec.vocab_size:
        raise RuntimeError(f"tokenizer vocab {tokenizer.get_vocab_size()} > {spec.vocab_size}")

    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=BOS,
        eos_token=EOS,
        unk_token=UNK,
        pad_token=PAD,
        additional_special_tokens=list(SPECIAL_TOKENS[4:]),
        model_max_length=spec.max_position_embeddings,
        clean_up_tokenization_spaces=False,
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(model_dir)
    # Name the class every transformers version knows; v5 writes its internal backend name.
    config_path = model_dir / "tokenizer_config.json"
    tok_config = json.loads(config_path.read_text(encoding="utf-8"))
    tok_config["tokenizer_class"] = "PreTrainedTokenizerFast"
    tok_config["chat_template"] = CHAT_TEMPLATE
    config_path.write_text(json.dumps(tok_config, indent=2, sort_keys=True) + "\n", "utf-8")


def main(argv: list[str] | None = None) -> int:
    """Command line: python -m models.checkpoints.tiny_moe OUT_DIR [--seed N]; prints the dir."""
    parser = argparse.ArgumentParser(description="Build the tiny random MoE checkpoint.")
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(build_tiny_moe(args.out_dir, seed=args.seed))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
