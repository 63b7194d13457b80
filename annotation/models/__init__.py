from annotation.models.data import Prompt, Response
from annotation.models.preferences import AnnotatorPreference
from annotation.models.project import (
    REPEAT_SHARE_MAX,
    ConflictRule,
    Guidelines,
    GuidelinesAcknowledgment,
    Membership,
    Pairing,
    Project,
    ProjectKind,
    Role,
)
from annotation.models.repeats import Repeat, RepeatStatus
from annotation.models.tokens import ApiToken
from annotation.models.work import (
    ADAPTIVE_OVERLAP_CAP,
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
    "ADAPTIVE_OVERLAP_CAP",
    "REPEAT_SHARE_MAX",
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
    "Repeat",
    "RepeatStatus",
    "Response",
    "Role",
    "Task",
]
