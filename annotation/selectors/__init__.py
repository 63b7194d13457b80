"""Reads: what a user may see, and the figures pages and the API show."""

from annotation.selectors.access import (
    NotALead,
    NotAMember,
    api_token_list,
    batch_get_for_lead,
    membership_get,
    project_by_id_or_name,
    project_check_lead,
    project_get_for_lead,
    project_list_for_user,
    task_get_for_lead,
)
from annotation.selectors.claims import claim_held, claim_view
from annotation.selectors.progress import (
    annotator_progress,
    home_projects,
    project_dashboard,
    project_progress,
    projects_progress,
)
from annotation.selectors.projects import (
    batch_list,
    guidelines_current,
    guidelines_current_of,
    metadata_matching,
)
from annotation.selectors.review import conflicts

__all__ = [
    "NotALead",
    "NotAMember",
    "annotator_progress",
    "api_token_list",
    "batch_get_for_lead",
    "batch_list",
    "claim_held",
    "claim_view",
    "conflicts",
    "guidelines_current",
    "guidelines_current_of",
    "home_projects",
    "membership_get",
    "metadata_matching",
    "project_by_id_or_name",
    "project_check_lead",
    "project_dashboard",
    "project_get_for_lead",
    "project_list_for_user",
    "project_progress",
    "projects_progress",
    "task_get_for_lead",
]
