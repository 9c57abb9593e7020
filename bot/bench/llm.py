"""`mentionbot bench llm`: the model server alone, on the prompts the pipeline sends."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from models.llm_client import Completion, VLLMClient
from models.prompt import ContextPost, build_messages, load_persona

# The mentions both benchmarks send (the pipeline benchmark injects the same texts), so the
# two sets of figures can be compared.
BENCH_MENTIONS: tuple[tuple[str, str], ...] = (
    ("alice", "@mentionbot is this true? The Great Wall of China is visible from space."),
    ("bob", "@mentionbot can you summarise this thread in one sentence?"),
    ("chen", "@mentionbot what year did the first person walk on the moon?"),
    ("dana", "@mentionbot ¿es verdad que los pulpos tienen tres corazones?"),
    ("emil", "@mentionbot est-ce vrai que le Mont Blanc est en Italie ?"),
    ("fay", "@mentionbot explain like I'm five: why is the sky blue?"),
    ("gus", "@mentionbot 何か面白い事実を教えて"),
    ("hana", "@mentionbot does drinking coffee dehydrate you? 🤔"),
)
BENCH_THREAD = (ContextPost("news_desk", "Breaking: bananas are berries, strawberries are not."),)


def bench_messages(persona: str | None = None) -> list[list[dict[str, str]]]:
    """The chat requests the benchmark sends, built by the pipeline's own prompt builder."""
    text = load_persona(persona)
    out = []
    for i, (author, mention) in enumerate(BENCH_MENTIONS):
        thread = BENCH_THREAD if i % 2 else ()
        out.append(build_messages(text, mention, author, thread=thread))
    return out


@dataclass(frozen=True)
class Run:
    """The figures for one concurrency level."""

    concurrency: int
    requests: int
    rps: float
    output_tokens_per_s: float
    p50_s: float
    p99_s: float
    ttft_p50_s: float | None
    errors: int

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, rounded."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in self.__dict__.items()}


def _pct(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


T = TypeVar("T")


def run_concurrently(
    call: Callable[[int], T], count: int, concurrency: int, on_done: Callable[[], None]
) -> tuple[float, list[T | None]]:
    """call(0), ..., call(count - 1) with `concurrency` in flight: (wall seconds, results).
    A call that raises gives None: counted, not fatal (a benchmark reports its errors)."""

    def one(i: int) -> T | None:
        try:
            return call(i)
        except Exception:
            return None
        finally:
            on_done()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(one, range(count)))
    return time.perf_counter() - started, results


def run_level(
    client: VLLMClient,
    concurrency: int,
    requests: int,
    max_tokens: int,
    messages: Sequence[list[dict[str, str]]],
    on_done: Callable[[], None] = lambda: None,
) -> Run:
    """Send `requests` requests with `concurrency` in flight; every one generates max_tokens."""

    def one(i: int) -> Completion:
        # ignore_eos makes every request cost the same, as vLLM's own bench does.
        return client.complete(
            messages[i % len(messages)],
            max_tokens=max_tokens,
            temperature=0.7,
            seed=i,
            extra={"ignore_eos": True},
        )

    wall, results = run_concurrently(one, requests, concurrency, on_done)
    ok = [r for r in results if r is not None]
    latencies = [r.elapsed_s for r in ok] or [0.0]
    ttfts = [r.ttft_s for r in ok if r.ttft_s is not None]
    return Run(
        concurrency=concurrency,
        requests=requests,
        rps=len(ok) / wall,
        output_tokens_per_s=sum(r.completion_tokens for r in ok) / wall,
        p50_s=statistics.median(latencies),
        p99_s=_pct(latencies, 0.99),
        ttft_p50_s=statistics.median(ttfts) if ttfts else None,
        errors=len(results) - len(ok),
    )
