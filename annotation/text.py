"""Text normalization shared by import de-duplication, export de-duplication and splits; and
the NUL check of text on its way to the database."""

import hashlib
import json
import unicodedata


def normalize_text(text: str) -> str:
    """Unicode NFKC, case-folded, whitespace collapsed: two prompts that differ only in
    spacing, case or compatibility characters count as the same prompt."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def conversation_hash(system: str, turns: list[dict[str, str]]) -> str:
    normalized = {
        "system": normalize_text(system),
        "turns": [[t["role"], normalize_text(t["content"])] for t in turns],
    }
    payload = json.dumps(normalized, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def contains_nul(value) -> bool:
    """Whether a NUL character is anywhere in ``value`` (a string, or JSON data: object keys
    too). PostgreSQL cannot store one in text or JSON."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(contains_nul(key) or contains_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(contains_nul(item) for item in value)
    return False
