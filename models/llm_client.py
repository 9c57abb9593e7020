"""Client for vLLM's OpenAI-compatible server (``vllm serve`` / ``vllm.entrypoints.openai``).

Failures are split the way the worker needs them: ``LLMUnavailable`` is worth retrying later
(connection refused, dropped, timed out, 5xx), ``LLMRejected`` never is (4xx, nonsense reply).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

import httpx
import structlog
from httpx_sse import EventSource
from prometheus_client import Counter, Histogram
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
    wait_random,
)

log = structlog.get_logger(__name__)

Messages = Sequence[Mapping[str, str]]

# Fields the client sets itself; `extra` may add vLLM's sampling extensions but not these.
_RESERVED = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "temperature",
        "top_p",
        "priority",
        "seed",
        "stream",
        "stream_options",
    }
)
_BODY_SNIPPET = 300
_MAX_BACKOFF_S = 30.0
_HEALTH_TIMEOUT_S = 5.0
_TOKEN_CACHE_SIZE = 4096
_T = TypeVar("_T")

# Prometheus, in the process's default registry (served by each mentionbot process).
_LATENCY_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
GENERATION_SECONDS = Histogram(
    "mentionbot_generation_seconds",
    "Time for one chat completion from vLLM, retries included (successful ones).",
    buckets=_LATENCY_BUCKETS,
)
GENERATION_TTFT_SECONDS = Histogram(
    "mentionbot_generation_ttft_seconds",
    "Time to the first generated text of a streamed completion.",
    buckets=_LATENCY_BUCKETS,
)
GENERATIONS = Counter(
    "mentionbot_generations_total",
    "Chat completions asked of vLLM, by outcome: ok, unavailable (retry later), rejected.",
    ["outcome"],
)
PROMPT_TOKENS = Counter("mentionbot_prompt_tokens_total", "Prompt tokens vLLM reported.")
COMPLETION_TOKENS = Counter(
    "mentionbot_completion_tokens_total", "Completion tokens vLLM generated."
)


@dataclass(frozen=True)
class Completion:
    """One generated reply and what it cost."""

    text: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    elapsed_s: float
    # Time to the first generated text (streamed); None when the server did not stream.
    ttft_s: float | None = None


class LLMError(Exception):
    """Any failure to get a completion."""


class LLMUnavailable(LLMError):
    """Transient: the server could not be reached or failed; try again later."""


class LLMRejected(LLMError):
    """Permanent: the server refused the request or answered nonsense; retrying won't help."""


class LLM(Protocol):
    """What callers need from a language model; VLLMClient and test doubles provide it."""

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 96,
        temperature: float = 0.7,
        top_p: float = 0.95,
        priority: int | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Generate a chat completion for ``messages``."""
        ...

    def health(self) -> bool:
        """Return True if the model server is up."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs with the served model's tokenizer."""
        ...


class _Transient(Exception):
    """Internal: an attempt failed in a way worth retrying."""


class VLLMClient:
    """Synchronous client for one vLLM OpenAI-compatible endpoint, with bounded retries."""

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 60.0,
        max_retries: int = 3,
        backoff_s: float = 0.5,
    ) -> None:
        root = base_url.rstrip("/")
        # Accept both "http://host:8000" and "http://host:8000/v1": operators copy either.
        if root.endswith("/v1"):
            root = root[: -len("/v1")]
        self.root_url = root
        self.model = model
        self.timeout_s = timeout_s
        self.max_retries = max(0, max_retries)
        self.backoff_s = backoff_s
        self._api_key = api_key
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._http = httpx.Client(base_url=root, headers=headers, timeout=timeout_s)
        self._token_cache: dict[str, int] = {}
        self._cache_lock = threading.Lock()

    def __repr__(self) -> str:
        # Spelled out so the key can never slip in through a default dataclass-style repr.
        auth = "set" if self._api_key else "none"
        return f"VLLMClient(root_url={self.root_url!r}, model={self.model!r}, api_key={auth})"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the underlying connection pool."""
        self._http.close()

    def complete(
        self,
        messages: Messages,
        *,
        max_tokens: int = 96,
        temperature: float = 0.7,
        top_p: float = 0.95,
        priority: int | None = None,
        seed: int | None = None,
        extra: dict[str, Any] | None = None,
    ) -> Completion:
        """Generate a chat completion; ``elapsed_s`` includes any retries."""
        body: dict[str, Any] = {
            "model": self.model,
            "messages": [dict(m) for m in messages],
            "max_tokens": max_tokens,
            "temperature": temperature,
            "top_p": top_p,
        }
        # vLLM reads its extensions from the top level of the body, beside the OpenAI fields.
        if priority is not None:
            body["priority"] = priority
        if seed is not None:
            body["seed"] = seed
        if extra:
            clash = _RESERVED.intersection(extra)
            if clash:
                raise ValueError(f"extra may not set {sorted(clash)}; use the named arguments")
            body.update(extra)

        # Streamed, so the time to the first token is measured where the user feels it.
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        started = time.monotonic()
        try:
            completion = self._with_retries(
                "POST /v1/chat/completions", lambda: self._stream_completion(body, started)
            )
        except LLMError as exc:
            GENERATIONS.labels(
                outcome="unavailable" if isinstance(exc, LLMUnavailable) else "rejected"
            ).inc()
            raise
        _observe(completion)
        return completion

    def count_tokens(self, text: str) -> int:
        """Tokens `text` costs with the served model's own tokenizer (vLLM's /tokenize)."""
        with self._cache_lock:
            cached = self._token_cache.get(text)
        if cached is not None:
            return cached
        payload = self._json(
            self._request(
                "POST",
                "/tokenize",
                {"model": self.model, "prompt": text, "add_special_tokens": False},
            )
        )
        try:
            count = int(payload["count"])
        except (KeyError, TypeError, ValueError) as exc:
            raise LLMRejected(f"malformed /tokenize response: {exc!r}") from None
        with self._cache_lock:
            if len(self._token_cache) >= _TOKEN_CACHE_SIZE:
                self._token_cache.pop(next(iter(self._token_cache)))
            self._token_cache[text] = count
        return count

    def health(self) -> bool:
        """Return True if ``GET /health`` answers 200; any error means unhealthy."""
        try:
            # A probe that hangs for the full generation timeout is as useless as a failure.
            response = self._http.get("/health", timeout=min(self.timeout_s, _HEALTH_TIMEOUT_S))
            return response.status_code == httpx.codes.OK
        except httpx.HTTPError:
            return False

    def models(self) -> list[str]:
        """Return the model ids the server serves (``GET /v1/models``)."""
        payload = self._json(self._request("GET", "/v1/models", None))
        try:
            return [str(item["id"]) for item in payload["data"]]
        except (KeyError, TypeError) as exc:
            raise LLMRejected(f"malformed /v1/models response: {exc!r}") from None

    def _request(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        return self._with_retries(f"{method} {path}", lambda: self._attempt(method, path, body))

    def _with_retries(self, what: str, call: Callable[[], _T]) -> _T:
        attempts = self.max_retries + 1
        retrying = Retrying(
            retry=retry_if_exception_type(_Transient),
            stop=stop_after_attempt(attempts),
            # Jitter keeps a fleet of workers from hammering a recovering server in lockstep.
            wait=wait_exponential(multiplier=self.backoff_s, max=_MAX_BACKOFF_S)
            + wait_random(0, self.backoff_s),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    return call()
        except _Transient as exc:
            raise LLMUnavailable(f"{what} failed after {attempts} attempts: {exc}") from None
        raise AssertionError("unreachable: tenacity either returns or raises")  # pragma: no cover

    def _stream_completion(self, body: dict[str, Any], started: float) -> Completion:
        path = "/v1/chat/completions"
        try:
            with self._http.stream("POST", path, json=body) as response:
                if response.status_code >= 400:
                    response.read()
                    self._check_status("POST", path, response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    # A server (or proxy) that ignores `stream` answers with one JSON object.
                    response.read()
                    return _parse_completion(self._json(response), time.monotonic() - started)
                return self._read_events(response, started)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            # `from None` everywhere: httpx errors carry the request, whose headers hold the key.
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            raise LLMRejected(f"POST {path}: {type(exc).__name__}: {exc}") from None

    def _read_events(self, response: httpx.Response, started: float) -> Completion:
        parts: list[str] = []
        ttft: float | None = None
        finish: str | None = None
        usage: dict[str, Any] = {}
        model = ""
        # httpx-sse splits on \n, \r\n and \r only, as the SSE spec says; httpx's own
        # iter_lines() also breaks at U+2028, U+0085 and the like, which a model can emit raw
        # inside an event's JSON (a tiny model did, 1 reply in 6,000, cut into bad JSON).
        for sse in EventSource(response).iter_sse():
            data = sse.data.strip()
            if not data:
                continue
            if data == "[DONE]":
                break
            try:
                event = json.loads(data)
            except json.JSONDecodeError:
                raise LLMRejected(f"malformed stream event: {data[:_BODY_SNIPPET]}") from None
            if "error" in event:
                raise _Transient(f"stream error: {str(event['error'])[:_BODY_SNIPPET]}")
            model = str(event.get("model") or model)
            usage = event.get("usage") or usage
            for choice in event.get("choices") or []:
                piece = (choice.get("delta") or {}).get("content") or ""
                if piece:
                    if ttft is None:
                        ttft = time.monotonic() - started
                    parts.append(piece)
                finish = choice.get("finish_reason") or finish
        return Completion(
            text="".join(parts),
            model=model,
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=finish,
            elapsed_s=time.monotonic() - started,
            ttft_s=ttft,
        )

    def _attempt(self, method: str, path: str, body: dict[str, Any] | None) -> httpx.Response:
        try:
            response = self._http.request(method, path, json=body)
        except (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError) as exc:
            # `from None` everywhere: httpx errors carry the request, whose headers hold the key.
            raise _Transient(f"{type(exc).__name__}: {exc}") from None
        except httpx.HTTPError as exc:
            raise LLMRejected(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        self._check_status(method, path, response)
        return response

    def _check_status(self, method: str, path: str, response: httpx.Response) -> None:
        status = response.status_code
        if status >= 500:
            raise _Transient(f"HTTP {status}: {self._snippet(response)}")
        if status == httpx.codes.TOO_MANY_REQUESTS:
            # Overload, not a bad request: the caller should come back later, but retrying
            # here at once would only add to the queue.
            raise LLMUnavailable(f"{method} {path}: HTTP 429: {self._snippet(response)}")
        if status >= 400:
            raise LLMRejected(f"{method} {path}: HTTP {status}: {self._snippet(response)}")

    def _json(self, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = response.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise LLMRejected(f"response is not JSON: {self._snippet(response)}") from None
        if not isinstance(payload, dict):
            raise LLMRejected(f"response is not a JSON object: {self._snippet(response)}")
        return payload

    def _snippet(self, response: httpx.Response) -> str:
        text = response.text
        # A proxy that echoes the request back would otherwise put the key into our errors;
        # redact before cutting so a key straddling the cut cannot leak half of itself.
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return text[:_BODY_SNIPPET]

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "llm.retry",
            attempt=state.attempt_number,
            max_attempts=self.max_retries + 1,
            error=str(exc),
            sleep_s=round(state.upcoming_sleep, 3),
        )


def _observe(completion: Completion) -> None:
    """Count a completion in the process's metrics."""
    GENERATIONS.labels(outcome="ok").inc()
    GENERATION_SECONDS.observe(completion.elapsed_s)
    if completion.ttft_s is not None:
        GENERATION_TTFT_SECONDS.observe(completion.ttft_s)
    PROMPT_TOKENS.inc(completion.prompt_tokens)
    COMPLETION_TOKENS.inc(completion.completion_tokens)


def _parse_completion(payload: dict[str, Any], elapsed_s: float) -> Completion:
    try:
        choice = payload["choices"][0]
        message = choice["message"]
        # content is null when a reasoning model spends every token thinking; that is an
        # empty answer for the caller to judge, not a protocol error.
        content = message.get("content") or ""
        usage = payload.get("usage") or {}
        if not isinstance(content, str):
            raise TypeError("message.content is not a string")
        return Completion(
            text=content,
            model=str(payload.get("model", "")),
            prompt_tokens=int(usage.get("prompt_tokens") or 0),
            completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.get("finish_reason"),
            elapsed_s=elapsed_s,
        )
    except (KeyError, IndexError, TypeError, AttributeError, ValueError) as exc:
        raise LLMRejected(f"malformed completion response: {exc!r}") from None
