"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests, the app)."""

from __future__ import annotations

from portal.accounts.models import ChannelIdentity, Role, User
from portal.api.models import ApiKey, IdempotencyRecord, LinkCode
from portal.audit.models import AuditChainHead, AuditEntry
from portal.cases.models import (
    Attachment,
    Case,
    CaseContact,
    CaseEvent,
    CaseFollower,
    CaseTask,
    Notification,
    TrackingCounter,
)
from portal.db import Base
from portal.deliberation.models import (
    AreaParticipationRule,
    Comment,
    CommentLike,
    ContentReport,
    ParticipationBlock,
    Proposal,
    ProposalEvent,
    ProposalFollower,
    ProposalMilestone,
    Support,
    VerificationCode,
)
from portal.hotspots.models import HotspotAlert
from portal.jurisdiction.models import (
    Area,
    Category,
    Department,
    RoutingRule,
    Setting,
    SlaProfile,
)
from portal.oversight.models import DpRelease
from portal.privacy.models import ProposalRetentionMark, RetentionMark
from portal.workbench.models import LabelledExample, ResponseTemplate, TransferRequest, Verdict

__all__ = [
    "ApiKey",
    "Area",
    "AreaParticipationRule",
    "Attachment",
    "AuditChainHead",
    "AuditEntry",
    "Base",
    "Case",
    "CaseContact",
    "CaseEvent",
    "CaseFollower",
    "CaseTask",
    "Category",
    "ChannelIdentity",
    "Comment",
    "CommentLike",
    "ContentReport",
    "Department",
    "DpRelease",
    "HotspotAlert",
    "IdempotencyRecord",
    "LabelledExample",
    "LinkCode",
    "Notification",
    "ParticipationBlock",
    "Proposal",
    "ProposalEvent",
    "ProposalFollower",
    "ProposalMilestone",
    "ProposalRetentionMark",
    "ResponseTemplate",
    "RetentionMark",
    "Role",
    "RoutingRule",
    "Setting",
    "SlaProfile",
    "Support",
    "TrackingCounter",
    "TransferRequest",
    "User",
    "Verdict",
    "VerificationCode",
]
