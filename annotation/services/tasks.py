"""Storing a model's new responses, creating the tasks they call for in rating and pairwise
projects, and putting those tasks into a batch."""

from collections.abc import Set as AbstractSet
from itertools import combinations
from typing import Any

from annotation.bulk import bulk_insert
from annotation.models import Batch, Pairing, Project, ProjectKind, Prompt, Response, Task
from annotation.selectors import project_check_lead
from ftapp.actors import Actor


def response_add(
    *,
    by: Actor,
    prompt: Prompt,
    model_name: str,
    text: str,
    model_endpoint_id: int | None = None,
    generation: dict[str, Any] | None = None,
) -> Response:
    """Stores a model's answer to a prompt; ``generation`` records how it was made. Leads only
    (the system stores what a run a lead started generated)."""
    project_check_lead(by=by, project=prompt.project)
    return Response.objects.create(
        prompt=prompt,
        model_name=model_name,
        model_endpoint_id=model_endpoint_id,
        text=text,
        generation=generation or {},
    )


def tasks_create_for_responses(
    *,
    project: Project,
    responses: list[Response],
    new_prompts: AbstractSet[int] = frozenset(),
    against_models: AbstractSet[str] = frozenset(),
) -> list[Task]:
    """The tasks these responses call for that do not exist yet: one per response in a rating
    project; in a pairwise project one per pair of one of them with another model's response
    to the same prompt (every pair, or only pairs with the baseline model first, per the
    project's pairing). ``new_prompts`` are prompts created along with these responses: they
    have no other responses and no tasks, so they are not looked up. ``against_models``, when
    given, keeps only the pairs of a new response with one of those models' (a round compares
    the new model with the previous one only)."""
    if not responses:
        return []
    prompt_ids = {r.prompt_id for r in responses}
    stored = prompt_ids - set(new_prompts)
    have = {
        frozenset(pk for pk in pair if pk is not None)
        for pair in Task.objects.filter(project=project, prompt_id__in=stored).values_list(
            "response_a_id", "response_b_id"
        )
    }
    if project.kind == ProjectKind.RATING:
        tasks = [
            Task(project=project, kind=project.kind, prompt_id=r.prompt_id, response_a=r)
            for r in responses
            if frozenset({r.pk}) not in have
        ]
        bulk_insert(Task, tasks)
        return tasks
    given = {r.pk for r in responses}
    by_prompt: dict[int, list[Response]] = {}
    siblings = Response.objects.filter(prompt_id__in=stored).only("id", "prompt_id", "model_name")
    for response in [*siblings.exclude(pk__in=given), *responses]:
        by_prompt.setdefault(response.prompt_id, []).append(response)
    for group in by_prompt.values():
        group.sort(key=lambda r: r.pk)
    tasks = []
    for prompt_id, group in by_prompt.items():
        for a, b in combinations(group, 2):
            if a.model_name == b.model_name or not ({a.pk, b.pk} & given):
                continue
            if frozenset({a.pk, b.pk}) in have:
                continue
            if against_models:
                new, other = (a, b) if a.pk in given else (b, a)
                if other.model_name not in against_models or other.pk in given:
                    continue
                a, b = other, new  # the model compared against first, as with a baseline
            elif project.pairing == Pairing.BASELINE:
                if project.baseline_model not in (a.model_name, b.model_name):
                    continue
                if b.model_name == project.baseline_model:
                    a, b = b, a
            tasks.append(
                Task(
                    project=project,
                    kind=project.kind,
                    prompt_id=prompt_id,
                    response_a=a,
                    response_b=b,
                )
            )
    bulk_insert(Task, tasks)
    return tasks


def tasks_add_to_batch(*, by: Actor, batch: Batch, task_ids: list[int]) -> int:
    """Puts tasks of the batch's project into the batch; how many it moved. Leads only (the
    system fills the batch a generation run was asked to fill)."""
    project_check_lead(by=by, project=batch.project)
    return Task.objects.filter(pk__in=task_ids, project_id=batch.project_id).update(batch=batch)
