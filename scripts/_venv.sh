# Sourced by scripts/demo and scripts/test: creates .venv on first use and (re)installs the
# project whenever pyproject.toml changes. Needs Python 3.11 or newer.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-}"
if [ -z "$PYTHON" ]; then
  for candidate in python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
      PYTHON="$candidate"; break
    fi
  done
fi
[ -n "$PYTHON" ] || { echo "ftapp needs Python 3.11 or newer on PATH (or set PYTHON=...)." >&2; exit 2; }
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
extras="${FTAPP_EXTRAS:-}"
stamp=".venv/.ftapp-installed${extras:+-$extras}"
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  # llama.cpp (the `local` extra) is compiled by pip: build it for any x86-64, not this CPU,
  # so the wheel pip caches runs everywhere.
  export CMAKE_ARGS="${CMAKE_ARGS:--DGGML_NATIVE=OFF -DLLAVA_BUILD=OFF}"
  echo "Installing ftapp${extras:+[$extras]} into .venv ..." >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".${extras:+[$extras]}"
  echo "$want" > "$stamp"
fi
