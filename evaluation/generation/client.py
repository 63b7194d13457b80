"""A client for OpenAI-compatible chat-completions servers (vLLM, TGI, llama.cpp server,
Ollama, OpenAI): one completion per call, with retries on what is worth retrying."""

import random
import time
import unicodedata
from contextlib import nullcontext
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from evaluation.generation.model_keys import KeyVariableRefused, key_read

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
    """A request that will not succeed by trying again, that was never sent, or (then
    ``retryable``) that ran out of attempts. ``status`` and ``reply`` are the server's last
    answer, if any, with the key redacted from it."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        status: int | None = None,
        reply: str = "",
        retryable: bool = False,
    ):
        super().__init__(message)
        self.attempts = attempts
        self.status = status
        self.reply = reply
        self.retryable = retryable


def _key(api_key_env: str) -> str:
    try:
        return key_read(api_key_env)
    except KeyVariableRefused as refused:
        raise ModelCallFailed(f"Request not sent: {refused}", attempts=0) from None


def excerpt(text: str, limit: int = 120) -> str:
    """What of a server's text a page may show: printable characters only (no control or
    bidirectional-override characters), whitespace collapsed, at most ``limit`` long."""
    printable = "".join(
        " " if unicodedata.category(ch)[0] in "CZ" else ch for ch in text[: limit * 4]
    )
    shown = " ".join(printable.split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


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
    entered around each request (not the waits between them): a concurrency limit. The key is
    read, and the request sent, only if ``api_key_env`` is a declared model key."""
    headers = {"Content-Type": "application/json"}
    key = _key(api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    body = {"model": model, "messages": messages, **params}
    url = base_url.rstrip("/") + "/chat/completions"
    rng = random.Random()  # noqa: S311 - jitter, not a secret
    client = _client()
    for attempt in range(1, max_attempts + 1):
        wait, status, reply = None, None, ""
        try:
            with slot():
                started = time.perf_counter()
                response = client.post(url, json=body, headers=headers, timeout=timeout)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            problem = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            if status == 200:
                return _parse(response, started, attempt, key)
            # Some APIs quote a rejected key back in the error, which is stored and shown.
            reply = _redact(response.text, key)[:300]
            problem = f"HTTP {status}: {reply}"
            if status not in RETRYABLE_STATUS:
                raise ModelCallFailed(problem, attempts=attempt, status=status, reply=reply)
            wait = _retry_after(response)
        if attempt == max_attempts:
            raise ModelCallFailed(
                f"{problem} (after {attempt} attempts)",
                attempts=attempt,
                status=status,
                reply=reply,
                retryable=True,
            )
        delay = backoff_seconds(attempt, base=backoff_base, cap=backoff_cap, rng=rng)
        sleep(max(delay, wait or 0.0))
    raise AssertionError("unreachable")


def _redact(text: str, key: str) -> str:
    """The server's text as it may be stored: without the key, and without NUL characters,
    which PostgreSQL cannot store."""
    text = text.replace("\x00", "\ufffd")
    return text.replace(key, "[redacted]") if key else text


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _parse(response: httpx.Response, started: float, attempt: int, key: str) -> Completion:
    """The completion of a 200 answer. Its body is the server's to choose: anything but a
    text where the text goes is a failed call, not a crash of the worker's task."""
    latency = int((time.perf_counter() - started) * 1000)
    try:
        data = response.json()
        choice = data["choices"][0]
        text = choice["message"]["content"] or ""
        if not isinstance(text, str):
            raise TypeError(f"content is {type(text).__name__}, not text")
        usage = data.get("usage") or {}
        finish_reason = _redact(str(choice.get("finish_reason") or ""), key)[:50]
        tokens_in = _count(usage.get("prompt_tokens"))
        tokens_out = _count(usage.get("completion_tokens"))
    except (ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ModelCallFailed(
            f"Unexpected response body: {_redact(repr(exc), key)[:300]}",
            attempts=attempt,
            status=response.status_code,
            reply=_redact(response.text, key)[:300],
        ) from None
    return Completion(
        # A server that echoes the key in its answer must not get it stored.
        text=_redact(text, key),
        finish_reason=finish_reason,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        latency_ms=latency,
        attempts=attempt,
    )


def list_models(*, base_url: str, api_key_env: str = "", timeout: float = 10.0) -> list[str]:
    """The model ids the server offers (``GET /models``). Raises ``ModelCallFailed`` when the
    request fails, is answered with an error or a body that is no model list, or is not sent
    (an undeclared key variable)."""
    headers = {}
    key = _key(api_key_env)
    if key:
        headers["Authorization"] = f"Bearer {key}"
    url = base_url.rstrip("/") + "/models"
    try:
        response = _client().get(url, headers=headers, timeout=timeout)
    except httpx.HTTPError as exc:
        raise ModelCallFailed(f"{type(exc).__name__}: {exc}", attempts=1) from None
    reply = _redact(response.text, key)[:300]
    if response.status_code != 200:
        raise ModelCallFailed(
            f"HTTP {response.status_code}: {reply}",
            attempts=1,
            status=response.status_code,
            reply=reply,
        )
    try:
        return [str(m["id"]) for m in response.json()["data"]]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelCallFailed(
            f"Not a model list: {exc!r}", attempts=1, status=200, reply=reply
        ) from None
