import argparse

from django.core.management.base import BaseCommand, CommandError

from evaluation.exports.validate import (
    DEFAULT_MAX_CHARS,
    FORMATS,
    KINDS,
    DatasetReadError,
    UnsupportedFormat,
    dataset_validate_file,
)

# Exit statuses: 1 for a dataset with errors, 2 when it could not be checked at all (like
# argparse's usage errors), so a pipeline can tell bad data from a bad call.
INVALID, CANNOT_CHECK = 1, 2


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


class Command(BaseCommand):
    help = (
        "Checks a JSON Lines dataset (plain or gzip) against ftapp's export formats before "
        "training: prints FILE:LINE: error|warning: message, then a summary; exits 1 on errors."
    )
    # A pure file check: it must run where only the code is, with no database configured.
    requires_system_checks = []

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("file", help="a .jsonl file, or .jsonl.gz")
        parser.add_argument("--kind", required=True, choices=KINDS)
        parser.add_argument(
            "--format", default="trl", choices=FORMATS, help="ignored for judgments"
        )
        parser.add_argument(
            "--max-chars",
            type=_positive_int,
            default=DEFAULT_MAX_CHARS,
            help="warn about texts longer than this many characters (default %(default)s)",
        )

    def handle(
        self, *args: object, file: str, kind: str, format: str, max_chars: int, **options: object
    ) -> None:
        try:
            report = dataset_validate_file(file, kind, format, max_chars=max_chars)
        except (UnsupportedFormat, DatasetReadError) as exc:
            raise CommandError(str(exc), returncode=CANNOT_CHECK) from exc
        issues = sorted(
            [(issue, "error") for issue in report.errors]
            + [(issue, "warning") for issue in report.warnings],
            key=lambda pair: pair[0].line,
        )
        for issue, severity in issues:
            self.stdout.write(f"{file}:{issue.line}: {severity}: {issue.message}")
        summary = ", ".join(
            [
                _count(report.rows, "row"),
                _count(report.error_count, "error") + _listed(report.errors, report.error_count),
                _count(report.warning_count, "warning")
                + _listed(report.warnings, report.warning_count),
            ]
        )
        if not report.ok:
            raise CommandError(f"{file}: {summary}", returncode=INVALID)
        self.stdout.write(f"{file}: {summary}")


def _listed(kept: list, total: int) -> str:
    return f" (first {len(kept):,} listed)" if len(kept) < total else ""
