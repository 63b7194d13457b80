"""The lead's pages: the live dashboard, import, batches, members, conflicts and adjudication,
gold tasks, guidelines. Thin: selectors to read, services to write."""

from annotation.views.lead.batches import batch_detail, batch_new
from annotation.views.lead.data import data, data_bulk
from annotation.views.lead.guidelines import guidelines_edit
from annotation.views.lead.imports import import_prompts
from annotation.views.lead.project import (
    dashboard,
    member_exclusion,
    member_remove,
    member_role,
    members,
    project_new,
    project_settings,
)
from annotation.views.lead.review import conflict_list, task_review

__all__ = [
    "batch_detail",
    "batch_new",
    "conflict_list",
    "dashboard",
    "data",
    "data_bulk",
    "guidelines_edit",
    "import_prompts",
    "member_exclusion",
    "member_remove",
    "member_role",
    "members",
    "project_new",
    "project_settings",
    "task_review",
]
