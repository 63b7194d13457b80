"""Writes about model endpoints: registering them, with the parameters a run may send to
them checked, and testing one before a run."""

import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from evaluation.generation import local_model
from evaluation.generation.client import ModelCallFailed, chat_completion, excerpt, list_models
from evaluation.generation.selectors import (
    model_endpoint_get_for_manager,
    model_endpoints_manageable,
)
from evaluation.models import ModelEndpoint
from ftapp.errors import Forbidden, InvalidInput, NotFound


def _number(low: float, high: float):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "a number"
        if not math.isfinite(value) or not low <= value <= high:
            return f"a finite number from {low:g} to {high:g}"
        return None

    return check


def _whole(low: int, high: int):
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            return f"a whole number from {low} to {high}"
        return None

    return check


def _stop(value: Any) -> str | None:
    if isinstance(value, str):
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return None
    return "a text or a list of texts"


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else "a text"


# What each parameter must be for an OpenAI-compatible server to take it. A value the server
# cannot use, or one that cannot even be sent (NaN), would fail every request of a run.
PARAM_CHECKS = {
    "temperature": _number(0, 100),
    "top_p": _number(0, 1),
    "max_tokens": _whole(1, 2**31 - 1),
    "seed": _whole(-(2**63), 2**63 - 1 - 20),
    "stop": _stop,
    "system": _text,
}
PARAM_KEYS = set(PARAM_CHECKS)


def params_check(params: dict[str, Any]) -> dict[str, Any]:
    problems = [
        f"Unknown {key!r}; use {sorted(PARAM_KEYS)}." for key in sorted(set(params) - PARAM_KEYS)
    ]
    for key, check in PARAM_CHECKS.items():
        if key in params and (expected := check(params[key])):
            problems.append(f"{key} must be {expected}, not {params[key]!r}.")
    if problems:
        raise InvalidInput("Unusable parameters.", fields={"params": problems})
    return params


def model_endpoint_create(*, by: User, **fields: Any) -> ModelEndpoint:
    """Registers a model endpoint. The API key is named by an environment variable, never
    given: ``api_key_env``."""
    if not model_endpoints_manageable(user=by):
        raise Forbidden("Models are registered by project leads.")
    params_check(fields.get("params") or {})
    endpoint = ModelEndpoint(created_by=by, **fields)
    endpoint.full_clean()
    endpoint.save()
    return endpoint


EDITABLE = {
    "name",
    "base_url",
    "model",
    "params",
    "api_key_env",
    "max_concurrency",
    "timeout_seconds",
}


def model_endpoint_update(
    *, by: User, endpoint_id: int, retired: bool | None = None, **changes: Any
) -> ModelEndpoint:
    """Changes a model endpoint, or retires it (``retired``): a retired model is offered for no
    new run or round, and everything made with it stays. ``False`` brings it back."""
    endpoint = model_endpoint_get_for_manager(user=by, endpoint_id=endpoint_id)
    unknown = sorted(set(changes) - EDITABLE)
    if unknown:
        raise InvalidInput(
            "These fields cannot be changed.",
            fields={name: ["Cannot be changed."] for name in unknown},
        )
    if "params" in changes:
        params_check(changes["params"] or {})
    for name, value in changes.items():
        setattr(endpoint, name, value)
    if retired is not None and retired != (endpoint.retired_at is not None):
        endpoint.retired_at = timezone.now() if retired else None
    endpoint.full_clean()
    endpoint.save()
    return endpoint


def model_endpoint_register_local(*, by: User, base_url: str) -> tuple[ModelEndpoint, bool]:
    """Registers the local Gemma 3 270M base model served by ``manage.py serve_local_model``,
    once: run again, it only follows a changed URL. Returns the endpoint and whether it is
    new. It answers one request at a time, hence a concurrency of 1."""
    if not model_endpoints_manageable(user=by):
        raise Forbidden("Models are registered by project leads.")
    endpoint = ModelEndpoint.objects.filter(name=local_model.ENDPOINT_NAME).first()
    if endpoint is None:
        endpoint = model_endpoint_create(
            by=by,
            name=local_model.ENDPOINT_NAME,
            base_url=base_url,
            model=local_model.MODEL_ID,
            params=dict(local_model.ENDPOINT_PARAMS),
            max_concurrency=1,
        )
        return endpoint, True
    if endpoint.base_url != base_url:
        endpoint.base_url = base_url
        endpoint.full_clean()
        endpoint.save(update_fields=["base_url", "updated_at"])
    return endpoint, False


MODELS_SHOWN = 5


def _answer(failure: ModelCallFailed) -> str:
    """A failure as a page shows it: ours in full (a request not sent says why), the
    server's as its status and an excerpt."""
    if failure.attempts == 0:
        return str(failure)
    if failure.status is None:
        return excerpt(str(failure))
    return f"HTTP {failure.status}: {excerpt(failure.reply)}"


def model_endpoint_test(*, by: User, endpoint_id: int) -> dict[str, Any]:
    """Lists the server's models and sends one short request: what a lead needs to know
    before starting a run. Of the server's answers it keeps only statuses and short,
    printable excerpts: the page shows them, and the server is the registrant's to choose."""
    if not model_endpoints_manageable(user=by):
        raise Forbidden("Models are tested by project leads.")
    endpoint = ModelEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such model.")
    result: dict[str, Any] = {"endpoint": endpoint.name, "ok": False}
    try:
        models = list_models(
            base_url=endpoint.base_url, api_key_env=endpoint.api_key_env, timeout=10
        )
    except ModelCallFailed as failure:
        result["error"] = f"Listing models failed: {_answer(failure)}"
        return result
    result["models"] = [excerpt(m, 60) for m in models[:MODELS_SHOWN]]
    result["models_more"] = max(len(models) - MODELS_SHOWN, 0)
    try:
        completion = chat_completion(
            base_url=endpoint.base_url,
            model=endpoint.model,
            messages=[{"role": "user", "content": "Say hello in one word."}],
            params={"max_tokens": 8},
            api_key_env=endpoint.api_key_env,
            timeout=min(endpoint.timeout_seconds, 30),
            max_attempts=1,
        )
    except ModelCallFailed as failure:
        result["error"] = f"The test request failed: {_answer(failure)}"
        return result
    result.update(ok=True, sample=excerpt(completion.text), latency_ms=completion.latency_ms)
    return result


def _unanswered(endpoint: ModelEndpoint) -> str | None:
    """Why the endpoint's server does not answer, or None when it answers anything at all."""
    try:
        # Sent without the key, which the workers hold and the web process need not: a 401
        # is an answer too.
        list_models(base_url=endpoint.base_url, timeout=settings.MODEL_PROBE_TIMEOUT_SECONDS)
    except ModelCallFailed as failure:
        # An answer, even an error or no model list, means the server is there: its
        # generations may still succeed, and a failing one fails the run's items, not its
        # start.
        if failure.status is None:
            return f"{endpoint.name} does not answer at {endpoint.base_url}: {_answer(failure)}"
    return None


def model_endpoints_probe(*, endpoints: list[ModelEndpoint], field: str = "models") -> None:
    """Asks each endpoint's server for its model list, all at once, waiting at most
    ``MODEL_PROBE_TIMEOUT_SECONDS``: before a run or a round starts, so that a server that is
    down, misnamed or behind a refused TLS handshake refuses the start with its connection
    error (``InvalidInput`` about ``field``) instead of a run that fails every item. Call it
    outside a transaction: it waits on the network."""
    if not endpoints:
        return
    with ThreadPoolExecutor(max_workers=min(len(endpoints), 8)) as pool:
        problems = [p for p in pool.map(_unanswered, endpoints) if p]
    if problems:
        raise InvalidInput(
            "A model's server does not answer, so nothing was started.",
            fields={field: problems},
        )
