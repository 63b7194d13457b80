"""Checks a JSON Lines dataset against the export formats of SPEC "Export formats (exact)", one
line at a time, so data from anywhere can be checked before it reaches a trainer.

Memory stays bounded: lines are streamed, only sha256 digests of earlier rows are kept (for
duplicates and contradictions), and at most ``max_issues`` errors and warnings are kept (all of
them are counted)."""

from evaluation.exports.validate.reading import (
    DEFAULT_MAX_CHARS,
    DEFAULT_MAX_ISSUES,
    FORMATS,
    KINDS,
    DatasetReadError,
    UnsupportedFormat,
    dataset_validate,
    dataset_validate_file,
)
from evaluation.exports.validate.report import Issue, ValidationReport

__all__ = [
    "DEFAULT_MAX_CHARS",
    "DEFAULT_MAX_ISSUES",
    "FORMATS",
    "KINDS",
    "DatasetReadError",
    "Issue",
    "UnsupportedFormat",
    "ValidationReport",
    "dataset_validate",
    "dataset_validate_file",
]
