"""Settings are read once per interpreter, so a test of what the environment sets runs Python
afresh, with only the environment and var/ directory it gives."""

import os
import subprocess
import sys
from pathlib import Path

from tests.workers import ROOT


def run(args: list[str], var_dir: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG", "HTTPS", "ALLOWED_HOSTS"}
        and k != "DJANGO_ALLOW_ASYNC_UNSAFE"  # set by the browser tests for their own process
    }
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**clean, "FTAPP_VAR_DIR": str(var_dir), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def show(var_dir: Path, expression: str, **env: str) -> subprocess.CompletedProcess:
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return run(["-c", code], var_dir, DJANGO_SETTINGS_MODULE="ftapp.settings", **env)
