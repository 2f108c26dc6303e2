"""Privacy use cases: the audited need-to-know reveal, a resident's data export and account
erasure. Retention lives in :mod:`portal.privacy.retention`, key rotation in
:mod:`portal.privacy.keys`. Services flush; the edge commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash

import nlp
from portal import permissions
from portal.accounts.models import ChannelIdentity, Role, User
from portal.api.models import LinkCode
from portal.audit.services import record_audit
from portal.cases.models import Case, CaseFollower, Notification
from portal.cases.services import CONSENT_PURPOSE, PRIVACY_NOTICE_VERSION
from portal.db import utcnow
from portal.deliberation.models import (
    Comment,
    ConfirmedPhone,
    Proposal,
    ProposalFollower,
    Support,
)
from portal.errors import NotFound, PermissionDenied, ValidationError
from portal.workbench.models import Verdict

__all__ = [
    "CONSENT_PURPOSE",
    "ERASED_DISPLAY_NAME",
    "PRIVACY_NOTICE_VERSION",
    "ErasureReport",
    "RevealedDetails",
    "erase_account",
    "export_personal_data",
    "reveal_case_details",
    "round_coordinate",
]

MIN_REASON_CHARS = 4
MAX_REASON_CHARS = 500
#: What an erased account is called from then on (stored, so not translated).
ERASED_DISPLAY_NAME = "—"
#: Decimal places kept of an anonymised coordinate (3 ≈ 110 m: the block, not the door).
COORDINATE_DECIMALS = 3
#: The typed confirmation the erasure form asks for.
ERASE_CONFIRMATION = "DELETE"


def round_coordinate(value: float | None) -> float | None:
    return None if value is None else round(value, COORDINATE_DECIMALS)


# --- need-to-know reveal ----------------------------------------------------------------------


@dataclass(frozen=True)
class RevealedDetails:
    """What a reveal shows: the resident's own words, where exactly, and how to reach them."""

    tracking_number: str
    text_raw: str
    address: str | None
    lat: float | None
    lon: float | None
    contact_name: str | None
    contact_phone: str | None
    consent_purpose: str | None
    consent_notice_version: str | None
    consented_at: datetime | None
    audit_entry_id: int


def reveal_case_details(
    session: Session, *, case: Case, user: User | None, reason: str, ip: str | None = None
) -> RevealedDetails:
    """Show a case's sensitive fields to someone with a need to know, recording who, when and why
    (``contact_revealed`` in the audit trail, in the caller's transaction: no entry, no reveal).

    Raises NotFound for anyone without a share of the case (never hint that it exists)."""
    if not permissions.can_reveal_personal_data(user, case):
        raise NotFound(_("No such case."))
    reason = " ".join((reason or "").split())
    if len(reason) < MIN_REASON_CHARS:
        raise ValidationError(
            _("Say why you need the resident's details (for example: to arrange a visit)."),
            field="reason",
        )
    if len(reason) > MAX_REASON_CHARS:
        raise ValidationError(
            _("Keep the reason under %(n)d characters.", n=MAX_REASON_CHARS), field="reason"
        )
    contact = case.contact
    fields = ["text_raw", "address_text", "lat", "lon"]
    if contact is not None:
        fields += ["contact.name", "contact.phone"]
    entry = record_audit(
        session,
        actor=user,
        action="contact_revealed",
        target_type="case",
        target_id=case.tracking_number,
        after={"fields": fields, "role": user.role if user else None},
        reason=reason,
        ip=ip,
    )
    return RevealedDetails(
        tracking_number=case.tracking_number,
        text_raw=case.text_raw,
        address=case.address_text,
        lat=case.lat,
        lon=case.lon,
        contact_name=contact.name if contact else None,
        contact_phone=contact.phone if contact else None,
        consent_purpose=contact.consent_purpose if contact else None,
        consent_notice_version=contact.consent_notice_version if contact else None,
        consented_at=contact.consented_at if contact else None,
        audit_entry_id=entry.id,
    )


# --- the resident's own data ------------------------------------------------------------------


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def export_personal_data(session: Session, *, user: User, ip: str | None = None) -> dict[str, Any]:
    """Everything Shuzhi holds about ``user``, as JSON-ready data (PIPL art. 45); audited."""
    if user is None or not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Sign in to download your data."))
    cases = session.scalars(
        select(Case).where(Case.submitter_id == user.id).order_by(Case.id)
    ).all()
    case_items = []
    for case in cases:
        contact = case.contact
        case_items.append(
            {
                "tracking_number": case.tracking_number,
                "kind": case.kind,
                "status": case.status,
                "channel": case.channel,
                "created_at": _iso(case.created_at),
                "closed_at": _iso(case.closed_at),
                "text": case.text_raw,
                "public_text": case.text_masked,
                "address": case.address_text,
                "lat": case.lat,
                "lon": case.lon,
                "anonymous": case.anonymous,
                "contact": None
                if contact is None
                else {
                    "name": contact.name,
                    "phone": contact.phone,
                    "consent_purpose": contact.consent_purpose,
                    "consent_notice_version": contact.consent_notice_version,
                    "consented_at": _iso(contact.consented_at),
                },
            }
        )
    followed = session.execute(
        select(Case.tracking_number, CaseFollower.reason, CaseFollower.created_at)
        .join(CaseFollower, CaseFollower.case_id == Case.id)
        .where(CaseFollower.user_id == user.id)
        .order_by(CaseFollower.id)
    ).all()
    verdicts = session.execute(
        select(Verdict, Case.tracking_number)
        .join(Case, Case.id == Verdict.case_id)
        .where(Verdict.user_id == user.id)
        .order_by(Verdict.id)
    ).all()
    proposals = session.scalars(
        select(Proposal).where(Proposal.author_id == user.id).order_by(Proposal.id)
    ).all()
    comments = session.scalars(
        select(Comment).where(Comment.author_id == user.id).order_by(Comment.id)
    ).all()
    supports = session.scalars(
        select(Support).where(Support.user_id == user.id).order_by(Support.id)
    ).all()
    identities = session.scalars(
        select(ChannelIdentity)
        .where(ChannelIdentity.user_id == user.id)
        .order_by(ChannelIdentity.id)
    ).all()
    phone = session.scalar(select(ConfirmedPhone).where(ConfirmedPhone.user_id == user.id))
    data = {
        "format": "shuzhi-personal-data/1",
        "generated_at": utcnow().isoformat(),
        "privacy_notice_version": PRIVACY_NOTICE_VERSION,
        "account": {
            "id": user.id,
            "email": user.email,
            "display_name": user.display_name,
            "role": user.role,
            "locale": user.locale,
            "verification_level": user.verification_level,
            "created_at": _iso(user.created_at),
            "last_login_at": _iso(user.last_login_at),
        },
        "identities": [
            {"channel": i.channel, "external_id": i.external_id, "created_at": _iso(i.created_at)}
            for i in identities
        ],
        "confirmed_phone": None
        if phone is None
        else {
            "phone": phone.phone,
            "channel": phone.channel,
            "confirmed_at": _iso(phone.confirmed_at),
        },
        "cases": case_items,
        "followed_cases": [
            {"tracking_number": tn, "reason": reason, "since": _iso(at)}
            for tn, reason, at in followed
        ],
        "verdicts": [
            {
                "tracking_number": tn,
                "round": v.round,
                "outcome": v.outcome,
                "resolved": v.resolved,
                "satisfaction": v.satisfaction,
                "comment": v.comment,
                "created_at": _iso(v.created_at),
            }
            for v, tn in verdicts
        ],
        "proposals": [
            {
                "id": p.id,
                "title": p.title,
                "text": p.body_raw,
                "status": p.status,
                "created_at": _iso(p.created_at),
            }
            for p in proposals
        ],
        "comments": [
            {
                "id": c.id,
                "proposal_id": c.proposal_id,
                "case_id": c.case_id,
                "stance": c.stance,
                "body": c.body,
                "created_at": _iso(c.created_at),
                "deleted_at": _iso(c.deleted_at),
            }
            for c in comments
        ],
        "supports": [
            {"proposal_id": s.proposal_id, "channel": s.channel, "created_at": _iso(s.created_at)}
            for s in supports
        ],
    }
    record_audit(
        session,
        actor=user,
        action="personal_data_exported",
        target_type="user",
        target_id=user.id,
        after={"cases": len(case_items), "identities": len(identities)},
        ip=ip,
    )
    return data


@dataclass(frozen=True)
class ErasureReport:
    cases: int
    contacts: int
    identities: int
    proposals: int
    verdict_comments: int
    #: The resident's comments on case and proposal threads, their text masked.
    comments: int


def check_erasure_request(user: User, *, password: str | None, confirmation: str) -> None:
    """Residents erase their own account; the password (if the account has one) and a typed
    confirmation guard against a stolen session or a slip of the finger."""
    if not user.has_role(Role.RESIDENT):
        raise PermissionDenied(
            _(
                "Staff accounts are closed by an administrator, so that their actions stay accountable."
            )
        )
    if (confirmation or "").strip().upper() != ERASE_CONFIRMATION:
        raise ValidationError(
            _("Type %(word)s to confirm.", word=ERASE_CONFIRMATION), field="confirmation"
        )
    if user.password_hash and not check_password_hash(user.password_hash, password or ""):
        raise ValidationError(_("The password is not correct."), field="password")


def erase_account(
    session: Session, *, user: User, actor: User | str | None = None, ip: str | None = None
) -> ErasureReport:
    """Erase or anonymise a resident's personal data everywhere, in one transaction (PIPL art. 47).

    Kept: the (masked) public texts of cases and proposals, ratings, counts and the timeline, so
    that statistics and other residents' "me too" stay true; the account row stays as an inactive
    tombstone without name, e-mail, password or identities. The resident's comments on case and
    proposal threads (hidden and deleted ones included) keep their place in the thread, stance and
    likes, so replies still make sense, with their text replaced by its ``nlp.mask_pii`` text;
    like cases and proposals they stay linked to the tombstone, which shows as
    :data:`ERASED_DISPLAY_NAME`. Audited as ``account_erased``.
    """
    cases = session.scalars(select(Case).where(Case.submitter_id == user.id)).all()
    contacts = 0
    for case in cases:
        if case.contact is not None:
            session.delete(case.contact)
            case.contact = None
            contacts += 1
        case.text_raw = case.text_masked
        case.address_text = None
        case.lat, case.lon = round_coordinate(case.lat), round_coordinate(case.lon)
        case.anonymous = True
    proposals = session.scalars(select(Proposal).where(Proposal.author_id == user.id)).all()
    for proposal in proposals:
        proposal.body_raw = proposal.body_masked
        proposal.lat, proposal.lon = round_coordinate(proposal.lat), round_coordinate(proposal.lon)
    verdicts = session.scalars(
        select(Verdict).where(Verdict.user_id == user.id, Verdict.comment.is_not(None))
    ).all()
    for verdict in verdicts:
        verdict.comment = None
    comments = session.scalars(select(Comment).where(Comment.author_id == user.id)).all()
    for comment in comments:
        if comment.body:
            comment.body = nlp.mask_pii(comment.body).text
    identities = session.execute(
        delete(ChannelIdentity).where(ChannelIdentity.user_id == user.id)
    ).rowcount
    session.execute(delete(ConfirmedPhone).where(ConfirmedPhone.user_id == user.id))
    session.execute(delete(LinkCode).where(LinkCode.user_id == user.id))
    session.execute(delete(Notification).where(Notification.user_id == user.id))
    session.execute(delete(CaseFollower).where(CaseFollower.user_id == user.id))
    session.execute(delete(ProposalFollower).where(ProposalFollower.user_id == user.id))
    user.email = None
    user.display_name = ERASED_DISPLAY_NAME
    user.password_hash = None
    user.active = False
    user.verification_level = 0
    user.last_login_at = None
    user.last_failed_login_at = None
    report = ErasureReport(
        cases=len(cases),
        contacts=contacts,
        identities=int(identities or 0),
        proposals=len(proposals),
        verdict_comments=len(verdicts),
        comments=len(comments),
    )
    record_audit(
        session,
        actor=actor if actor is not None else user,
        action="account_erased",
        target_type="user",
        target_id=user.id,
        after=report.__dict__,
        ip=ip,
    )
    session.flush()
    return report
