from annotation.models.data import Prompt, Response
from annotation.models.project import (
    ConflictRule,
    Guidelines,
    Membership,
    Pairing,
    Project,
    ProjectKind,
    Role,
)
from annotation.models.tokens import ApiToken
from annotation.models.work import (
    Adjudication,
    Batch,
    BatchAssignment,
    BatchStatus,
    Choice,
    Claim,
    ClaimStatus,
    Judgment,
    Task,
)

__all__ = [
    "Adjudication",
    "ApiToken",
    "Batch",
    "BatchAssignment",
    "BatchStatus",
    "Choice",
    "Claim",
    "ClaimStatus",
    "ConflictRule",
    "Guidelines",
    "Judgment",
    "Membership",
    "Pairing",
    "Project",
    "ProjectKind",
    "Prompt",
    "Response",
    "Role",
    "Task",
]
