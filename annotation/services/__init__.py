from annotation.services.claims import claim_next
from annotation.services.import_records import ImportReport
from annotation.services.imports import prompts_import
from annotation.services.judgment_changes import judgment_change
from annotation.services.judgments import (
    AlreadyJudged,
    NotClaimed,
    SubmitResult,
    Undone,
    judgment_submit,
    judgment_undo,
    task_skip,
)
from annotation.services.overlap import task_overlap_reconsider
from annotation.services.preferences import shortcuts_set
from annotation.services.projects import (
    api_token_create,
    api_token_revoke,
    batch_create,
    guidelines_acknowledge,
    guidelines_publish,
    membership_remove,
    membership_set,
    membership_set_role,
    project_create,
    project_update,
    prompt_records_load,
)
from annotation.services.tasks import tasks_create_for_responses
from annotation.services.workspace import (
    repeat_answer,
    repeat_skip,
    workspace_next,
    workspace_undo,
)

__all__ = [
    "AlreadyJudged",
    "ImportReport",
    "NotClaimed",
    "SubmitResult",
    "Undone",
    "api_token_create",
    "api_token_revoke",
    "batch_create",
    "claim_next",
    "guidelines_acknowledge",
    "guidelines_publish",
    "judgment_change",
    "judgment_submit",
    "judgment_undo",
    "membership_remove",
    "membership_set",
    "membership_set_role",
    "project_create",
    "project_update",
    "prompt_records_load",
    "prompts_import",
    "repeat_answer",
    "repeat_skip",
    "shortcuts_set",
    "task_overlap_reconsider",
    "task_skip",
    "tasks_create_for_responses",
    "workspace_next",
    "workspace_undo",
]
