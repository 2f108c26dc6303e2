"""Imports every model module so ``Base.metadata`` is complete (Alembic, tests, the app)."""

from __future__ import annotations

from portal.accounts.models import ChannelIdentity, Role, User
from portal.api.models import ApiKey, IdempotencyRecord, LinkCode
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
from portal.jurisdiction.models import (
    Area,
    Category,
    Department,
    RoutingRule,
    Setting,
    SlaProfile,
)
from portal.workbench.models import LabelledExample, ResponseTemplate, TransferRequest, Verdict

__all__ = [
    "ApiKey",
    "Area",
    "Attachment",
    "Base",
    "Case",
    "CaseContact",
    "CaseEvent",
    "CaseFollower",
    "CaseTask",
    "Category",
    "ChannelIdentity",
    "Department",
    "IdempotencyRecord",
    "LabelledExample",
    "LinkCode",
    "Notification",
    "ResponseTemplate",
    "Role",
    "RoutingRule",
    "Setting",
    "SlaProfile",
    "TrackingCounter",
    "TransferRequest",
    "User",
    "Verdict",
]
