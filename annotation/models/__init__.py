from annotation.models.data import Prompt, Response
from annotation.models.preferences import AnnotatorPreference
from annotation.models.project import (
    ConflictRule,
    Guidelines,
    GuidelinesAcknowledgment,
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
    JudgmentRevision,
    Task,
)

__all__ = [
    "Adjudication",
    "AnnotatorPreference",
    "ApiToken",
    "Batch",
    "BatchAssignment",
    "BatchStatus",
    "Choice",
    "Claim",
    "ClaimStatus",
    "ConflictRule",
    "Guidelines",
    "GuidelinesAcknowledgment",
    "Judgment",
    "JudgmentRevision",
    "Membership",
    "Pairing",
    "Project",
    "ProjectKind",
    "Prompt",
    "Response",
    "Role",
    "Task",
]
