"""Community offices' verification-code batches as administrators handle them: issue a batch
(audited), list batches with how many codes were redeemed, revoked or expired, revoke the
unused codes of a batch or one code from a lost slip."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import ColumnElement, case, func, select, update
from sqlalchemy.orm import Session, selectinload

from portal.accounts.models import User
from portal.audit.services import record_audit
from portal.cases.queries import Page, clamp_page
from portal.db import utcnow
from portal.deliberation import participation as part
from portal.deliberation.models import VerificationCode, VerificationCodeBatch
from portal.errors import NotFound, ValidationError
from portal.jurisdiction.models import Area

BATCH_TARGET = "verification_code_batch"


@dataclass(frozen=True)
class BatchSummary:
    """A batch and what became of its codes (counted now; the codes themselves are hashes)."""

    batch: VerificationCodeBatch
    redeemed: int
    revoked: int  # revoked before use
    expired: int  # neither used nor revoked, past the expiry date

    @property
    def unused(self) -> int:
        """Codes that still work."""
        return self.batch.count - self.redeemed - self.revoked - self.expired


def issue_batch(
    session: Session,
    *,
    actor: User,
    area_code: str | None,
    count: int,
    level: int,
    valid_days: int,
    issued_by: str,
    request_token: str | None = None,
    ip: str | None = None,
) -> part.IssuedBatch:
    """Issue a batch for an area (or the whole jurisdiction) and audit it. Flushes."""
    area = None
    if area_code:
        area = session.scalar(select(Area).where(Area.code == area_code))
        if area is None:
            raise ValidationError(_("Choose an area from the list."), field="area_code")
    issued = part.issue_code_batch(
        session,
        count=count,
        issued_by=issued_by,
        area=area,
        level=level,
        valid_days=valid_days,
        issued_by_user=actor,
        request_token=request_token,
    )
    record_audit(
        session,
        actor=actor,
        action="verification.issue_codes",
        target_type=BATCH_TARGET,
        target_id=issued.batch.id,
        after={
            "area": area_code or None,
            "count": count,
            "level": level,
            "valid_days": valid_days,
            "issued_by": issued.batch.issued_by,
        },
        ip=ip,
    )
    return issued


def _summaries(session: Session, batches: list[VerificationCodeBatch]) -> list[BatchSummary]:
    if not batches:
        return []
    now = utcnow()
    unused = VerificationCode.used_at.is_(None)
    rows = session.execute(
        select(
            VerificationCode.batch_id,
            func.sum(case((VerificationCode.used_at.is_not(None), 1), else_=0)),
            func.sum(case((unused & VerificationCode.revoked.is_(True), 1), else_=0)),
            func.sum(
                case(
                    (
                        unused
                        & VerificationCode.revoked.is_(False)
                        & (VerificationCode.expires_at <= now),
                        1,
                    ),
                    else_=0,
                )
            ),
        )
        .where(VerificationCode.batch_id.in_([b.id for b in batches]))
        .group_by(VerificationCode.batch_id)
    ).all()
    counts: dict[int, tuple[int, int, int]] = {
        batch_id: (int(r or 0), int(v or 0), int(e or 0)) for batch_id, r, v, e in rows
    }
    return [BatchSummary(b, *counts.get(b.id, (0, 0, 0))) for b in batches]


def list_code_batches(
    session: Session, *, page: int | None, per_page: int | None
) -> Page[BatchSummary]:
    """Batches, newest first, a page at a time."""
    page, per_page = clamp_page(page, per_page)
    total = session.scalar(select(func.count()).select_from(VerificationCodeBatch)) or 0
    batches = session.scalars(
        select(VerificationCodeBatch)
        .options(
            selectinload(VerificationCodeBatch.area),
            selectinload(VerificationCodeBatch.issued_by_user),
        )
        .order_by(VerificationCodeBatch.created_at.desc(), VerificationCodeBatch.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=_summaries(session, list(batches)), page=page, per_page=per_page, total=total)


def get_code_batch(session: Session, batch_id: int) -> BatchSummary:
    batch = session.get(VerificationCodeBatch, batch_id)
    if batch is None:
        raise NotFound(_("There is no such batch of codes."))
    return _summaries(session, [batch])[0]


def _revoke_unused(session: Session, *where: ColumnElement[bool]) -> int:
    """Revoke the codes matching ``where`` that are neither used nor revoked; how many."""
    result = session.execute(
        update(VerificationCode)
        .where(*where, VerificationCode.used_at.is_(None), VerificationCode.revoked.is_(False))
        .values(revoked=True)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def revoke_unused_codes(
    session: Session, *, batch: VerificationCodeBatch, actor: User, ip: str | None = None
) -> int:
    """Revoke every code of ``batch`` that still works; how many. Audited. Flushes.

    A code being redeemed at this very moment is either used or revoked, never both: the
    redemption's claim requires ``revoked`` to be false (see ``redeem_verification_code``)."""
    revoked = _revoke_unused(
        session, VerificationCode.batch_id == batch.id, VerificationCode.expires_at > utcnow()
    )
    record_audit(
        session,
        actor=actor,
        action="verification.codes_revoked",
        target_type=BATCH_TARGET,
        target_id=batch.id,
        after={"revoked": revoked},
        ip=ip,
    )
    session.flush()
    return revoked


def revoke_code(session: Session, *, code: str, actor: User, ip: str | None = None) -> Any:
    """Revoke one unused code typed from its slip (a slip lost or handed to the wrong person).
    Returns the code's batch id (or None for a code issued before batches). Audited."""
    normalized = part.normalize_code(code)
    record = None
    if len(normalized) == part.CODE_LENGTH:
        record = session.scalar(
            select(VerificationCode).where(VerificationCode.code_hash == part.code_hash(normalized))
        )
    if record is None:
        raise ValidationError(_("There is no such code."), field="code")
    if record.used_at is not None:
        raise ValidationError(
            _("This code has already been used; it cannot be revoked."), field="code"
        )
    if _revoke_unused(session, VerificationCode.id == record.id) != 1:
        raise ValidationError(_("This code has already been used or revoked."), field="code")
    record_audit(
        session,
        actor=actor,
        action="verification.code_revoked",
        target_type=BATCH_TARGET,
        target_id=record.batch_id,
        after={"code_id": record.id},
        ip=ip,
    )
    session.flush()
    return record.batch_id
