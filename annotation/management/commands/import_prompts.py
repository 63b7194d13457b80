from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.selectors import project_by_id_or_name
from annotation.services import prompts_import
from ftapp.actors import SYSTEM


class Command(BaseCommand):
    help = (
        "Imports prompts (and responses) from a JSON Lines, JSON or CSV file, optionally "
        "gzipped, into a project: all or nothing, every error with its line number."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("file", type=Path)
        parser.add_argument("--dry-run", action="store_true", help="validate only")

    def handle(self, *args, project: str, file: Path, dry_run: bool, **options):
        target = project_by_id_or_name(project)
        if target is None:
            raise CommandError(f"No project {project!r}.")
        if not file.is_file():
            raise CommandError(f"No file {file}.")
        with file.open("rb") as stream:
            report = prompts_import(
                by=SYSTEM, project=target, stream=stream, name=file.name, commit=not dry_run
            )
        for issue in report.errors:
            self.stderr.write(f"{file}:{issue.line}: error: {issue.message}")
        for issue in report.warnings:
            self.stdout.write(f"{file}:{issue.line}: warning: {issue.message}")
        hidden = report.error_count - len(report.errors)
        if hidden:
            self.stderr.write(f"... and {hidden} more errors")
        if not report.ok:
            raise CommandError(f"{report.error_count} error(s); nothing was imported.")
        verb = "would import" if dry_run else "imported"
        self.stdout.write(
            self.style.SUCCESS(
                f"{report.records} records {verb}: {report.prompts} new prompts, "
                f"{report.prompts_updated} updated, {report.responses} responses, "
                f"{report.tasks} tasks ({report.warning_count} warnings)."
            )
        )
