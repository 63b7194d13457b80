"""A client for OpenAI-compatible chat-completions servers (vLLM, TGI, llama.cpp server,
Ollama, OpenAI): one completion per call, with retries on what is worth retrying."""

import os
import random
import time
from contextlib import nullcontext
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

RETRYABLE_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}
_shared: httpx.Client | None = None


def _client() -> httpx.Client:
    """One pooled, thread-safe client per process: building one per call costs a TLS
    context each time, more than a fast server takes to answer."""
    global _shared
    if _shared is None:
        _shared = httpx.Client(
            limits=httpx.Limits(max_connections=256, max_keepalive_connections=64)
        )
    return _shared


class ModelCallFailed(Exception):
    """A request that will not succeed by trying again (or that ran out of attempts)."""

    def __init__(self, message: str, *, attempts: int):
        super().__init__(message)
        self.attempts = attempts


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str
    tokens_in: int | None
    tokens_out: int | None
    latency_ms: int
    attempts: int


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random) -> float:
    """Exponential backoff with full jitter (attempt 1 waits up to ``base``)."""
    return rng.uniform(0, min(cap, base * 2 ** (attempt - 1)))


def chat_completion(
    *,
    base_url: str,
    model: str,
    messages: list[dict[str, str]],
    params: dict[str, Any],
    api_key_env: str = "",
    timeout: float = 120.0,
    max_attempts: int = 6,
    backoff_base: float = 1.0,
    backoff_cap: float = 30.0,
    sleep=time.sleep,
    slot=nullcontext,
) -> Completion:
    """POSTs ``/chat/completions``; retries 429, 5xx, timeouts and connection errors with
    exponential backoff and jitter, waiting at least what ``Retry-After`` asks. ``slot()`` is
    entered around each request (not the waits between them): a concurrency limit."""
    headers = {"Content-Type": "application/json"}
    key = os.environ.get(api_key_env, "") if api_key_env else ""
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": model, "messages": messages, **params}
    url = base_url.rstrip("/") + "/chat/completions"
    rng = random.Random()  # noqa: S311 - jitter, not a secret
    client = _client()
    for attempt in range(1, max_attempts + 1):
        wait = None
        try:
            with slot():
                started = time.perf_counter()
                response = client.post(url, json=body, headers=headers, timeout=timeout)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            if response.status_code == 200:
                return _parse(response, started, attempt)
            # Some APIs quote a rejected key back in the error, which is stored and shown.
            problem = f"HTTP {response.status_code}: {_redact(response.text, key)[:300]}"
            if response.status_code not in RETRYABLE_STATUS:
                raise ModelCallFailed(problem, attempts=attempt)
            wait = _retry_after(response)
        if attempt == max_attempts:
            raise ModelCallFailed(f"{problem} (after {attempt} attempts)", attempts=attempt)
        delay = backoff_seconds(attempt, base=backoff_base, cap=backoff_cap, rng=rng)
        sleep(max(delay, wait or 0.0))
    raise AssertionError("unreachable")


def _redact(text: str, key: str) -> str:
    return text.replace(key, "[redacted]") if key else text


def _parse(response: httpx.Response, started: float, attempt: int) -> Completion:
    latency = int((time.perf_counter() - started) * 1000)
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] or ""
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise ModelCallFailed(f"Unexpected response body: {exc!r}", attempts=attempt) from None
    usage = data.get("usage") or {}
    return Completion(
        text=text,
        finish_reason=choice.get("finish_reason") or "",
        tokens_in=usage.get("prompt_tokens"),
        tokens_out=usage.get("completion_tokens"),
        latency_ms=latency,
        attempts=attempt,
    )


def list_models(*, base_url: str, api_key_env: str = "", timeout: float = 10.0) -> list[str]:
    """The model ids the server offers (``GET /models``)."""
    headers = {}
    key = os.environ.get(api_key_env, "") if api_key_env else ""
    if key:
        headers["Authorization"] = f"Bearer {key}"
    response = _client().get(base_url.rstrip("/") + "/models", headers=headers, timeout=timeout)
    response.raise_for_status()
    return [m.get("id", "") for m in response.json().get("data", [])]
