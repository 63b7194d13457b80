"""Text normalization shared by import de-duplication, export de-duplication and splits."""

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
