"""Where an export's files go and how they are written: JSON Lines hashed as they are
written, every text of a row redacted alike, and the ids of the judgments used."""

import hashlib
import json
from array import array
from collections import Counter
from pathlib import Path
from typing import Any

from django.conf import settings

from evaluation.models import Export

SPLITS = ("train", "test")
JUDGMENTS_FILE = "judgments_used.txt"
VERDICTS_FILE = "judge_verdicts_used.txt"


def export_dir(export: Export) -> Path:
    return Path(settings.EXPORTS_DIR) / str(export.pk)


def partial_dir(export: Export) -> Path:
    final = export_dir(export)
    return final.with_name(final.name + ".partial")


class JsonLinesWriter:
    """A JSON Lines file hashed as it is written."""

    encode = json.JSONEncoder(ensure_ascii=False).encode

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = path.open("wb")
        self.sha256 = hashlib.sha256()
        self.rows = 0
        self.bytes = 0

    def write(self, row: dict[str, Any]) -> None:
        line = (self.encode(row) + "\n").encode()
        self.file.write(line)
        self.sha256.update(line)
        self.rows += 1
        self.bytes += len(line)

    def close(self) -> dict[str, Any]:
        self.file.close()
        return {
            "name": self.path.name,
            "rows": self.rows,
            "bytes": self.bytes,
            "sha256": self.sha256.hexdigest(),
        }


class RedactedTexts:
    """Applies PII redaction to every text that goes into a row, remembering each text's
    result within a prompt group (a prompt repeats in many rows), and counts what was
    replaced in the rows as written."""

    def __init__(self, redact: bool) -> None:
        self.redactor = None
        if redact:
            from evaluation.exports.pii import Redactor

            self.redactor = Redactor()
        self.cache: dict[str, tuple[str, Counter]] = {}
        self.counts: Counter[str] = Counter()

    def __call__(self, text: str) -> str:
        if self.redactor is None or not text:
            return text
        hit = self.cache.get(text)
        if hit is None:
            before = Counter(self.redactor.counts)
            redacted = self.redactor.redact(text)
            hit = self.cache[text] = (redacted, self.redactor.counts - before)
        self.counts.update(hit[1])
        return hit[0]

    def next_group(self) -> None:
        self.cache.clear()


def write_ids(path: Path, ids: array) -> dict[str, Any]:
    """The ids of exactly the judgments (or judge verdicts) the rows came from, one a line,
    ascending."""
    digest = hashlib.sha256()
    with path.open("wb") as file:
        for judgment_id in sorted(ids):
            line = f"{judgment_id}\n".encode()
            file.write(line)
            digest.update(line)
    return {"name": path.name, "count": len(ids), "sha256": digest.hexdigest()}
