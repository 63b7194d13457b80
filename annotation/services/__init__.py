from annotation.services.projects import (
    api_token_create,
    api_token_revoke,
    batch_create,
    guidelines_publish,
    membership_set,
    project_create,
    project_update,
    prompt_records_load,
    tasks_create_for_responses,
)
from annotation.services.queue import (
    AlreadyJudged,
    NotClaimed,
    SubmitResult,
    claim_next,
    judgment_submit,
    judgment_undo,
    task_skip,
)

__all__ = [
    "AlreadyJudged",
    "NotClaimed",
    "SubmitResult",
    "api_token_create",
    "api_token_revoke",
    "batch_create",
    "claim_next",
    "guidelines_publish",
    "judgment_submit",
    "judgment_undo",
    "membership_set",
    "project_create",
    "project_update",
    "prompt_records_load",
    "task_skip",
    "tasks_create_for_responses",
]
