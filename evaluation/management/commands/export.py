import shutil
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from annotation.selectors import project_by_id_or_name
from evaluation.exports.services.build import export_build
from evaluation.exports.services.files import export_dir
from evaluation.exports.services.jobs import export_start
from evaluation.models import ExportStatus
from ftapp import json_input
from ftapp.actors import SYSTEM
from ftapp.errors import DomainError


class Command(BaseCommand):
    help = (
        "Builds a dataset export of a project in this process (no worker needed) and copies "
        "its files (train.jsonl, test.jsonl, card.json, card.md, judgments_used.txt) to DIR. "
        "The export is recorded like one started from the page or the API."
    )

    def add_arguments(self, parser):
        parser.add_argument("project", help="project id or exact name")
        parser.add_argument("--kind", required=True, choices=["sft", "dpo", "kto", "judgments"])
        parser.add_argument("--format", default="trl", choices=["trl", "openai"])
        parser.add_argument("-o", "--output", required=True, type=Path, help="directory")
        parser.add_argument("--test-fraction", type=float, default=0.1)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument(
            "--filters",
            default="{}",
            help='selection rules and filters as JSON, e.g. \'{"margin": 2, "redact_pii": true}\'',
        )

    def handle(self, *args, project: str, kind: str, format: str, output: Path, **options):
        target = project_by_id_or_name(project)
        if target is None:
            raise CommandError(f"No project {project!r}.")
        try:
            filters = json_input.loads(options["filters"])
        except ValueError as error:
            raise CommandError(f"--filters is not JSON: {error}") from None
        if not isinstance(filters, dict):
            raise CommandError("--filters must be a JSON object.")
        try:
            export = export_start(
                by=SYSTEM,
                project=target,
                kind=kind,
                format=format,
                filters=filters,
                test_fraction=options["test_fraction"],
                seed=options["seed"],
            )
        except DomainError as error:
            raise CommandError(str(error)) from None
        export = export_build(export_id=export.pk)
        if export.status != ExportStatus.COMPLETED:  # cancelled meanwhile, from a page
            raise CommandError(f"Export {export.pk} is {export.status}. {export.error}".strip())
        output.mkdir(parents=True, exist_ok=True)
        for path in sorted(export_dir(export).iterdir()):
            shutil.copyfile(path, output / path.name)
        for info in export.files.values():
            self.stdout.write(
                f"{output / info['name']}: {info['rows']} rows, sha256 {info['sha256']}"
            )
        self.stdout.write(self.style.SUCCESS(f"Export {export.pk} written to {output}."))
