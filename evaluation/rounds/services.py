"""Writes of rounds: start the next one."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max

from annotation.models import Judgment, Project, Prompt, Response
from annotation.selectors import project_get_for_lead
from annotation.services.projects import annotators_require, batch_create
from evaluation.exports.services.build import split_of
from evaluation.exports.services.files import JUDGMENTS_FILE, export_dir
from evaluation.generation.services.endpoints import model_endpoints_probe
from evaluation.generation.services.runs import generation_run_create
from evaluation.models import Export, ExportStatus, ModelEndpoint, Round, TaskCreation
from ftapp.errors import InvalidInput


def round_test_prompt_ids(*, export: Export) -> list[int]:
    """The prompts an export held out for testing: those its judgments came from whose
    normalized content falls in its test split (the same draw as the export's)."""
    path = export_dir(export) / JUDGMENTS_FILE
    if not path.exists():
        raise InvalidInput(
            "The export's files are gone.", fields={"export": ["Its files are not on disk."]}
        )
    judgment_ids = [int(line) for line in path.read_text().split()]
    prompt_ids: set[int] = set()
    for start in range(0, len(judgment_ids), 10_000):
        prompt_ids.update(
            Judgment.objects.filter(pk__in=judgment_ids[start : start + 10_000]).values_list(
                "task__prompt_id", flat=True
            )
        )
    prompts = Prompt.objects.filter(pk__in=prompt_ids).values_list("id", "content_hash")
    return sorted(
        pid
        for pid, content_hash in prompts
        if split_of(content_hash, seed=export.seed, test_fraction=export.test_fraction) == "test"
    )


def round_start(
    *,
    by: User,
    project_id: int,
    model_id: int,
    export_id: int,
    previous_model: str,
    name: str = "",
    annotators: list[str] | None = None,
    overlap: int | None = None,
    fresh_batch_id: int | None = None,
) -> Round:
    """Starts the next round: the fine-tuned ``model`` answers the export's held-out test
    prompts (and those of ``fresh_batch``, if given) that ``previous_model`` answered, and each
    new answer becomes a task against the previous model's answer (pairwise projects) or a
    rating task (rating projects), in a new batch assigned to ``annotators``. Once the choices
    are checked, the model's server is asked whether it answers (``model_endpoints_probe``):
    if it does not, nothing is created."""
    plan = _round_plan(
        by=by,
        project_id=project_id,
        model_id=model_id,
        export_id=export_id,
        previous_model=previous_model,
        annotators=annotators,
        fresh_batch_id=fresh_batch_id,
    )
    model_endpoints_probe(endpoints=[plan.model], field="model")
    with transaction.atomic():
        project = plan.project
        number = (project.rounds.aggregate(top=Max("number"))["top"] or 0) + 1
        batch = batch_create(
            project=project,
            by=by,
            name=f"Round {number}: {plan.model.name} against {previous_model}",
            tasks=[],
            annotators=plan.users,
            overlap=overlap,
        )
        run = generation_run_create(
            by=by,
            project_id=project.pk,
            endpoint_ids=[plan.model.pk],
            selection={"scope": "ids", "prompt_ids": plan.compared},
            create_tasks=TaskCreation.ON_FINISH,
            target_batch_id=batch.pk,
            pair_with=[previous_model],
        )
        return Round.objects.create(
            project=project,
            number=number,
            name=name or f"Round {number}",
            model=plan.model,
            previous_model=previous_model,
            export=plan.export,
            generation_run=run,
            batch=batch,
            prompt_ids=plan.compared,
            created_by=by,
        )


@dataclass(frozen=True)
class _RoundPlan:
    project: Project
    model: ModelEndpoint
    export: Export
    compared: list[int]
    users: list[User]


def _round_plan(
    *,
    by: User,
    project_id: int,
    model_id: int,
    export_id: int,
    previous_model: str,
    annotators: list[str] | None,
    fresh_batch_id: int | None,
) -> _RoundPlan:
    """What the round would be, every choice checked: reads only."""
    project = project_get_for_lead(user=by, project_id=project_id)
    errors: dict[str, list[str]] = {}
    model = ModelEndpoint.objects.filter(pk=model_id).first()
    if model is None:
        errors["model"] = ["Not a registered model."]
    elif model.retired_at is not None:
        errors["model"] = [f"{model.name} is retired, so not used for new rounds."]
    export = Export.objects.filter(pk=export_id, project=project).first()
    if export is None:
        errors["export"] = ["Not an export of this project."]
    elif export.status != ExportStatus.COMPLETED:
        errors["export"] = [f"The export is {export.status}, not completed."]
    if model is not None and model.name == previous_model:
        errors["previous_model"] = ["Compare the new model with another one."]
    if errors or model is None or export is None:
        raise InvalidInput("The round cannot start.", fields=errors)
    rows = {split: export.files.get(split, {}).get("rows", 0) for split in ("train", "test")}
    if not rows["test"] and fresh_batch_id is None:
        problem = (
            f"The export's test split has 0 rows (train {rows['train']}): there is no held-out "
            "prompt to compare the models on. Build an export with a test fraction above 0, "
            "or name a fresh batch."
        )
        raise InvalidInput("The round cannot start.", fields={"export": [problem]})
    prompt_ids = set(round_test_prompt_ids(export=export))
    if fresh_batch_id is not None:
        batch = project.batches.filter(pk=fresh_batch_id).first()
        if batch is None:
            raise InvalidInput("No such batch.", fields={"fresh_batch": ["Not a batch here."]})
        prompt_ids |= set(batch.tasks.values_list("prompt_id", flat=True))
    compared = sorted(
        set(
            Response.objects.filter(
                prompt_id__in=prompt_ids, model_name=previous_model
            ).values_list("prompt_id", flat=True)
        )
    )
    if not compared:
        raise InvalidInput(
            "Nothing to compare.",
            fields={
                "previous_model": [
                    f"{previous_model!r} answered none of the {len(prompt_ids)} held-out "
                    "prompts of this export."
                ]
            },
        )
    usernames = annotators or []
    users = list(get_user_model().objects.filter(username__in=usernames))
    unknown = sorted(set(usernames) - {u.username for u in users})
    if unknown:
        raise InvalidInput("Unknown users.", fields={"annotators": [f"No user {unknown}."]})
    annotators_require(project=project, users=users)
    return _RoundPlan(project, model, export, compared, users)
