"""Publishing a project's judge prompt, versioned like its guidelines."""

from django.contrib.auth.models import User
from django.db import transaction

from annotation.models import Project
from annotation.selectors import project_get_for_lead
from evaluation.judging.models import JudgePrompt
from evaluation.judging.protocol import judge_template_problems
from ftapp.errors import InvalidInput

TEXT_MAX = 20_000
CHANGE_NOTE_MAX = 2000


@transaction.atomic
def judge_prompt_publish(
    *, by: User, project_id: int, system: str, template: str, change_note: str = ""
) -> JudgePrompt:
    """Publishes a new version of the project's judge prompt, which becomes current; the
    current version itself when nothing differs from it. Leads only. The template may use
    only its kind's placeholders and must show what is judged (``judge_template_problems``)."""
    project = project_get_for_lead(user=by, project_id=project_id)
    # A browser's textarea sends CRLF; the API, as given.
    system = system.replace("\r\n", "\n").strip()
    template = template.replace("\r\n", "\n").strip()
    change_note = change_note.replace("\r\n", "\n").strip()
    problems: dict[str, list[str]] = {}
    if not template:
        problems["template"] = ["Write the message sent to the judge."]
    elif len(template) > TEXT_MAX:
        problems["template"] = [f"Keep it to {TEXT_MAX} characters."]
    elif template_problems := judge_template_problems(kind=project.kind, template=template):
        problems["template"] = template_problems
    if len(system) > TEXT_MAX:
        problems["system"] = [f"Keep it to {TEXT_MAX} characters."]
    if len(change_note) > CHANGE_NOTE_MAX:
        problems["change_note"] = [f"Keep it to {CHANGE_NOTE_MAX} characters."]
    if problems:
        raise InvalidInput("The judge prompt cannot be published.", fields=problems)
    locked = Project.objects.select_for_update().get(pk=project.pk)
    latest = locked.judge_prompts.order_by("-version").first()
    if latest is not None and (latest.system, latest.template) == (system, template):
        return latest
    return JudgePrompt.objects.create(
        project=locked,
        version=(latest.version + 1) if latest else 1,
        system=system,
        template=template,
        change_note=change_note if latest else "",
        created_by=by,
    )
