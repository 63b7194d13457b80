"""``manage.py serve_local_model``: llama.cpp's OpenAI-compatible server with Gemma 3 270M
(the base model: poor answers, for trying the flow) on 127.0.0.1, from the ``local`` extra."""

import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from evaluation.generation import local_model


class Command(BaseCommand):
    help = (
        "Serves the local Gemma 3 270M base model (poor answers, for trying the flow) with "
        "llama.cpp's OpenAI-compatible server. Needs the `local` extra."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=local_model.DEFAULT_HOST)
        parser.add_argument("--port", type=int, default=local_model.DEFAULT_PORT)
        parser.add_argument(
            "--model-path",
            type=Path,
            default=None,
            help="Where to put the GGUF file (default: var/models/gemma-3-270m-q4_k_m.gguf).",
        )
        parser.add_argument("--n-ctx", type=int, default=2048, help="Context size in tokens.")

    def handle(self, *args, host: str, port: int, model_path: Path | None, n_ctx: int, **opts):
        problem = local_model.unavailable_reason()
        if problem:
            raise CommandError(problem)
        try:
            path = local_model.model_file(model_path)
        except (local_model.LocalModelUnavailable, OSError, ValueError) as exc:
            raise CommandError(f"Could not prepare the model file: {exc}") from None
        command = local_model.server_command(
            model_path=path, host=host, port=port, n_ctx=n_ctx, verbose=opts["verbosity"] > 1
        )
        base_url = f"http://{host}:{port}/v1"
        self.stdout.write(
            f"Serving {local_model.MODEL_ID} ({local_model.LABEL}) at {base_url}\n"
            f"from {path}. One request at a time: register it with max_concurrency 1; "
            f"`manage.py demo` registers it when it answers at {settings.LOCAL_MODEL_URL}.\n"
            "Ctrl-C stops it."
        )
        sys.stdout.flush()
        sys.stderr.flush()
        # The command becomes the server, so a signal to this process reaches the server
        # itself and stopping it leaves nothing behind.
        os.execve(command[0], command, local_model.server_env())  # noqa: S606 - our own command line, no shell
