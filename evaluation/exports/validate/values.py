"""How the checks look at JSON values: types and short renderings for messages, digests
for remembering rows."""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _a_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    return "an array" if isinstance(value, list) else "an object"


def _show(value: Any, limit: int = 60) -> str:
    """A JSON rendering short and safe for a terminal: model text may hold escape sequences,
    which JSON escapes, and lone surrogates, which a terminal cannot encode."""
    text = json.dumps(value, ensure_ascii=False)
    text = text if len(text) <= limit else text[: limit - 3] + "..."
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _squash(text: str) -> str:
    return " ".join(text.split())


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _digest(*parts: Any) -> bytes:
    canonical = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).digest()
