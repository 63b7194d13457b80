"""The validation report: the issues found, kept up to a limit, and how a check records one."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Issue:
    line: int
    message: str


@dataclass
class ValidationReport:
    """``rows`` counts the non-blank lines read, valid or not; ``errors`` and ``warnings`` keep
    the first issues only, ``error_count`` and ``warning_count`` count them all."""

    rows: int = 0
    errors: list[Issue] = field(default_factory=list)
    warnings: list[Issue] = field(default_factory=list)
    error_count: int = 0
    warning_count: int = 0

    @property
    def ok(self) -> bool:
        return self.error_count == 0


class Checks:
    """What every check reads and writes. At most ``max_issues`` errors and warnings are kept,
    all of them are counted."""

    kind: str
    max_chars: int
    max_issues: int
    report: ValidationReport
    line: int

    def error(self, path: str, message: str) -> None:
        self.report.error_count += 1
        if len(self.report.errors) < self.max_issues:
            self.report.errors.append(Issue(self.line, f"{path}: {message}" if path else message))

    def warning(self, path: str, message: str) -> None:
        self.report.warning_count += 1
        if len(self.report.warnings) < self.max_issues:
            self.report.warnings.append(Issue(self.line, f"{path}: {message}" if path else message))
