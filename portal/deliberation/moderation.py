"""Moderation: reports by residents, the moderators' queue, hide / restore / block — all audited.

An item reported by ``moderation_report_threshold`` different people (default 3) is held
(hidden pending review); a comment with a prohibited word is held when posted. Moderators decide:
hide (others see "hidden by moderator"), restore, or block the author from participating.
Every decision is written to the audit chain (``portal.audit.services.record_audit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal import permissions
from portal.accounts.models import User
from portal.audit.services import record_audit
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import (
    HELD,
    HIDDEN,
    VISIBLE,
    Comment,
    ContentReport,
    ParticipationBlock,
    Proposal,
)
from portal.errors import NotFound, PermissionDenied, ValidationError
from portal.jurisdiction.services import get_setting
from portal.system_messages import system_message

TARGET_TYPES = {"comment": Comment, "proposal": Proposal}
MIN_REASON_CHARS = 2
MAX_REASON_CHARS = 500
MAX_BLOCK_DAYS = 3650


def _reason(reason: str | None) -> str:
    text = (reason or "").strip()
    if len(text) < MIN_REASON_CHARS:
        raise ValidationError(
            _("Please give a reason (at least %(n)d characters).", n=MIN_REASON_CHARS),
            field="reason",
        )
    if len(text) > MAX_REASON_CHARS:
        raise ValidationError(
            _("The reason is too long (at most %(n)d characters).", n=MAX_REASON_CHARS),
            field="reason",
        )
    return text


def _target(session: Session, target_type: str, target_id: int) -> Comment | Proposal:
    model = TARGET_TYPES.get(target_type)
    item = session.get(model, target_id) if model is not None and 0 < target_id < 2**31 else None
    if item is None:
        raise NotFound(_("Nothing to moderate here."))
    return item


def report_content(
    session: Session, *, reporter: User, target_type: str, target_id: int, reason: str
) -> bool:
    """Report an item once per person; True if the report is new. The threshold-th report holds
    the item (a conditional UPDATE, so concurrent reports hold it once)."""
    if not getattr(reporter, "is_authenticated", False):
        raise PermissionDenied(_("Please sign in first."), code="sign_in_required")
    text = _reason(reason)
    item = _target(session, target_type, target_id)
    if getattr(item, "author_id", None) == reporter.id:
        raise ValidationError(_("You cannot report your own contribution."), field=None)
    try:
        with session.begin_nested():
            session.add(
                ContentReport(
                    target_type=target_type,
                    target_id=target_id,
                    reporter_id=reporter.id,
                    reason=text,
                    created_at=utcnow(),
                )
            )
            session.flush()
    except IntegrityError:
        return False
    model = type(item)
    session.execute(
        update(model)
        .where(model.id == target_id)
        .values(report_count=model.report_count + 1)
        .execution_options(synchronize_session=False)
    )
    threshold = int(get_setting(session, "moderation_report_threshold"))
    session.execute(
        update(model)
        .where(model.id == target_id, model.moderation == VISIBLE, model.report_count >= threshold)
        .values(moderation=HELD, moderation_reason="reports")
        .execution_options(synchronize_session=False)
    )
    session.refresh(item, ["report_count", "moderation", "moderation_reason"])
    return True


@dataclass(frozen=True)
class QueueItem:
    target_type: str
    item: Comment | Proposal
    reports: list[ContentReport]


@dataclass(frozen=True)
class ModerationQueue:
    items: list[QueueItem]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0


def moderation_queue(session: Session, *, page: int = 1, per_page: int = 20) -> ModerationQueue:
    """Held items, then visible items with open reports; oldest first, paginated."""
    page, per_page = max(1, page), min(max(1, per_page), 100)
    open_reports = select(ContentReport.target_type, ContentReport.target_id).where(
        ContentReport.resolved_at.is_(None)
    )
    reported = {(t, i) for t, i in session.execute(open_reports)}
    entries: list[tuple[str, Comment | Proposal]] = []
    for target_type, model in TARGET_TYPES.items():
        ids = [i for t, i in reported if t == target_type]
        rows = session.scalars(
            select(model).where(
                or_(model.moderation == HELD, (model.id.in_(ids)) & (model.moderation == VISIBLE))
            )
        ).all()
        entries.extend((target_type, row) for row in rows)
    entries.sort(key=lambda e: (e[1].moderation != HELD, e[1].created_at))
    total = len(entries)
    chosen = entries[(page - 1) * per_page : page * per_page]
    items = []
    for target_type, row in chosen:
        reports = session.scalars(
            select(ContentReport)
            .where(ContentReport.target_type == target_type, ContentReport.target_id == row.id)
            .order_by(ContentReport.id)
        ).all()
        items.append(QueueItem(target_type, row, list(reports)))
    return ModerationQueue(items, page, per_page, total)


def pending_count(session: Session) -> int:
    return sum(
        session.scalar(select(func.count()).select_from(model).where(model.moderation == HELD)) or 0
        for model in TARGET_TYPES.values()
    )


def _require_moderator(user: User) -> None:
    if not permissions.can_moderate(user):
        raise PermissionDenied(_("Only moderators can do this."))


def _resolve_reports(session: Session, target_type: str, target_id: int) -> None:
    session.execute(
        update(ContentReport)
        .where(
            ContentReport.target_type == target_type,
            ContentReport.target_id == target_id,
            ContentReport.resolved_at.is_(None),
        )
        .values(resolved_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def _decide(
    session: Session,
    *,
    moderator: User,
    target_type: str,
    target_id: int,
    reason: str,
    to: str,
    action: str,
    ip: str | None,
) -> Comment | Proposal:
    _require_moderator(moderator)
    text = _reason(reason)
    item = _target(session, target_type, target_id)
    before = {"moderation": item.moderation}
    item.moderation = to
    item.moderation_reason = text
    if to == VISIBLE:
        item.report_count = 0  # reports were reviewed; new ones start counting afresh
    _resolve_reports(session, target_type, target_id)
    session.flush()
    if isinstance(item, Proposal):
        lc.record_proposal_event(
            session,
            item,
            "moderation",
            actor=moderator,
            message=system_message("proposal_hidden" if to == HIDDEN else "proposal_restored"),
        )
    record_audit(
        session,
        actor=moderator,
        action=action,
        target_type=target_type,
        target_id=target_id,
        before=before,
        after={"moderation": to},
        reason=text,
        ip=ip,
    )
    return item


def hide_content(
    session: Session,
    *,
    moderator: User,
    target_type: str,
    target_id: int,
    reason: str,
    ip: str | None = None,
) -> Comment | Proposal:
    return _decide(
        session,
        moderator=moderator,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        to=HIDDEN,
        action="moderation.hide",
        ip=ip,
    )


def restore_content(
    session: Session,
    *,
    moderator: User,
    target_type: str,
    target_id: int,
    reason: str,
    ip: str | None = None,
) -> Comment | Proposal:
    return _decide(
        session,
        moderator=moderator,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
        to=VISIBLE,
        action="moderation.restore",
        ip=ip,
    )


def block_author(
    session: Session,
    *,
    moderator: User,
    user_id: int,
    days: int,
    reason: str,
    ip: str | None = None,
) -> ParticipationBlock:
    """Bar a person from creating, supporting and commenting for ``days`` (they can still read,
    report problems and follow their cases)."""
    _require_moderator(moderator)
    text = _reason(reason)
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_BLOCK_DAYS:
        raise ValidationError(_("Block for 1 to %(n)d days.", n=MAX_BLOCK_DAYS), field="days")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(_("No such person."))
    if user.id == moderator.id or permissions.can_moderate(user):
        raise ValidationError(_("Moderators cannot be blocked here."), field=None)
    until = utcnow() + timedelta(days=days)
    block = session.scalar(select(ParticipationBlock).where(ParticipationBlock.user_id == user.id))
    before = {"blocked_until": block.blocked_until if block is not None else None}
    if block is None:
        block = ParticipationBlock(
            user_id=user.id, blocked_until=until, reason=text, blocked_by_id=moderator.id
        )
        session.add(block)
    else:
        block.blocked_until, block.reason, block.blocked_by_id = until, text, moderator.id
    session.flush()
    record_audit(
        session,
        actor=moderator,
        action="moderation.block",
        target_type="user",
        target_id=user.id,
        before=before,
        after={"blocked_until": until},
        reason=text,
        ip=ip,
    )
    return block
