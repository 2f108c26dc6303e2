"""Proposal use cases: create (also from a complaint), support, follow, withdraw, archive, route at
the threshold, answer, implement; listing near a place and the for/against overview.

Design: when the support threshold fires, the proposal is routed *as a case*: a Case of kind
``proposal`` is submitted through the ordinary intake (same routing rules, same SLA due dates, the
same department workbench queue, the same outbox). The proposal keeps a link to it (``case_id``).
The department answers on the proposal page (accepted / partly accepted / rejected, with reasons);
answering also accepts and resolves the linked case through the workbench services, so the case
queue, KPIs and the author's verdict request stay consistent; the workbench refuses to resolve or
close that case any other way while the answer is owed (``lifecycle.proposal_awaiting_answer``).

Services flush, never commit; the view, API or CLI edge commits once.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

import nlp
from portal import permissions
from portal.accounts.models import User
from portal.cases.models import Case, Notification
from portal.cases.status import ACCEPTED, ASSIGNED
from portal.db import utcnow
from portal.deliberation import lifecycle as lc
from portal.deliberation.models import (
    HIDDEN,
    VISIBLE,
    AreaParticipationRule,
    Proposal,
    ProposalFollower,
    Support,
)
from portal.deliberation.participation import require_participation
from portal.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from portal.jurisdiction.geometry import distance_m, valid_coordinates
from portal.jurisdiction.models import Area, Category
from portal.jurisdiction.services import get_category, get_setting, locate
from portal.system_messages import KEY as MESSAGE_KEY
from portal.system_messages import render_message, system_message

MIN_TITLE_CHARS = 4
MAX_TITLE_CHARS = 120
MIN_BODY_CHARS = 10
#: Title and body together must fit the intake's limit when the proposal is routed as a case.
MAX_BODY_CHARS = nlp.MAX_TEXT_CHARS - MAX_TITLE_CHARS - 1
MIN_ANSWER_CHARS = 10
MAX_ANSWER_CHARS = 4000
MAX_REASON_CHARS = 500
#: Statuses in which supports are still counted (withdrawing one is possible only while open).
SUPPORTABLE = frozenset({lc.OPEN, lc.THRESHOLD_REACHED, lc.UNDER_REVIEW})
NEAR_CANDIDATES = 2000
DEFAULT_RADIUS_M = 3000


# --- validation -----------------------------------------------------------------------------


def clean_text(value: str | None, *, field: str, minimum: int, maximum: int, what: str) -> str:
    text = (value or "").strip()
    if len(re.sub(r"\s+", "", nlp.normalize(text) if text else "")) < minimum:
        raise ValidationError(
            _("%(what)s is too short: write at least %(n)d characters.", what=what, n=minimum),
            field=field,
        )
    if len(text) > maximum:
        raise ValidationError(
            _(
                "%(what)s is too long: at most %(max)d characters, you wrote %(n)d.",
                what=what,
                max=maximum,
                n=len(text),
            ),
            field=field,
        )
    return text


def mask_text(text: str) -> str:
    return nlp.mask_pii(text).text


def _area(
    session: Session, area_code: str | None, lat: float | None, lon: float | None
) -> Area | None:
    if (lat is None) != (lon is None):
        raise ValidationError(_("Give both latitude and longitude, or neither."), field="location")
    if lat is not None and lon is not None:
        if not valid_coordinates(float(lat), float(lon)):
            raise ValidationError(_("These coordinates are not valid."), field="location")
        located = locate(session, float(lat), float(lon))
        if not located.inside:
            raise ValidationError(
                _("This place is outside our district."),
                field="location",
                code="outside_jurisdiction",
            )
        if not area_code:
            return located.area
    if area_code:
        area = session.scalar(select(Area).where(Area.code == area_code))
        if area is None:
            raise ValidationError(
                _("Unknown area: please choose one from the list."), field="area_code"
            )
        return area
    return None


def area_chain(area: Area | None) -> list[Area]:
    """The area and its ancestors, most specific first."""
    chain: list[Area] = []
    node = area
    while node is not None:
        chain.append(node)
        node = node.parent
    return chain


def participation_terms(session: Session, area: Area | None) -> tuple[int, int]:
    """(support threshold, window in days) for an area: the most specific area override, else
    the jurisdiction's settings."""
    threshold = int(get_setting(session, "proposal_support_threshold"))
    window = int(get_setting(session, "proposal_support_window_days"))
    chain = area_chain(area)
    if chain:
        rules = {
            r.area_id: r
            for r in session.scalars(
                select(AreaParticipationRule).where(
                    AreaParticipationRule.area_id.in_([a.id for a in chain])
                )
            )
        }
        found_threshold = found_window = False
        for node in chain:
            rule = rules.get(node.id)
            if rule is None:
                continue
            if rule.support_threshold is not None and not found_threshold:
                threshold, found_threshold = rule.support_threshold, True
            if rule.support_window_days is not None and not found_window:
                window, found_window = rule.support_window_days, True
    return max(1, threshold), max(1, window)


def set_area_participation_rule(
    session: Session, *, area: Area, support_threshold: int | None, support_window_days: int | None
) -> AreaParticipationRule:
    """Create or change an area's override (None keeps the jurisdiction's value). Flushes."""
    for name, value in (
        ("support_threshold", support_threshold),
        ("support_window_days", support_window_days),
    ):
        if value is not None and not 1 <= value <= 100_000:
            raise ValidationError(_("Use a whole number from 1 to 100000."), field=name)
    rule = session.scalar(
        select(AreaParticipationRule).where(AreaParticipationRule.area_id == area.id)
    )
    if rule is None:
        rule = AreaParticipationRule(area_id=area.id)
        session.add(rule)
    rule.support_threshold = support_threshold
    rule.support_window_days = support_window_days
    session.flush()
    return rule


# --- notifications (outbox) -----------------------------------------------------------------


def notify_followers(
    session: Session,
    proposal: Proposal,
    event: str,
    note: str | None = None,
    *,
    message: dict[str, Any] | None = None,
) -> int:
    """One outbox row per follower (author, supporters, followers). The bot's feed reads these
    like case notifications (kind ``status_changed``; the linked case's number once routed).

    ``note`` is a person's words; ``message`` what the system says (a
    :func:`~portal.system_messages.system_message`), put in each recipient's language when the
    feed is read. Without either, the note is the proposal's title."""
    case = proposal.case
    user_ids = list(
        session.scalars(
            select(ProposalFollower.user_id).where(ProposalFollower.proposal_id == proposal.id)
        )
    )
    payload = {
        "tracking_number": case.tracking_number if case is not None else None,
        "event": f"proposal_{event}",
        "status": proposal.status,
        "note": note or proposal.title,
        "proposal_id": proposal.id,
        "url": f"/proposals/{proposal.id}",
    }
    if message is not None:
        payload[MESSAGE_KEY] = message
    now = utcnow()
    for user_id in user_ids:
        session.add(
            Notification(
                user_id=user_id,
                case_id=case.id if case is not None else None,
                kind="status_changed",
                payload=payload,
                created_at=now,
            )
        )
    session.flush()
    return len(user_ids)


def _ensure_follower(session: Session, proposal: Proposal, user: User, reason: str) -> bool:
    """Subscribe ``user`` (idempotent under concurrency). True if newly subscribed."""
    try:
        with session.begin_nested():
            session.add(
                ProposalFollower(
                    proposal_id=proposal.id, user_id=user.id, reason=reason, created_at=utcnow()
                )
            )
    except IntegrityError:
        return False
    return True


# --- create ---------------------------------------------------------------------------------


def create_proposal(
    session: Session,
    *,
    author: User,
    title: str,
    body: str,
    category_code: str,
    area_code: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    source_case: Case | None = None,
) -> Proposal:
    """Publish a proposal, open for support until its window ends. Flushes."""
    require_participation(session, author, "create")
    title = clean_text(
        title, field="title", minimum=MIN_TITLE_CHARS, maximum=MAX_TITLE_CHARS, what=_("The title")
    )
    body = clean_text(
        body, field="body", minimum=MIN_BODY_CHARS, maximum=MAX_BODY_CHARS, what=_("The proposal")
    )
    if not category_code:
        raise ValidationError(_("Choose a category."), field="category_code")
    category = get_category(session, category_code)
    area = _area(session, area_code, lat, lon)
    threshold, window = participation_terms(session, area)
    now = utcnow()
    proposal = Proposal(
        title=mask_text(title)[:MAX_TITLE_CHARS],
        body_raw=body,
        body_masked=mask_text(body),
        category=category,
        area=area,
        lat=float(lat) if lat is not None else None,
        lon=float(lon) if lon is not None else None,
        author=author,
        source_case_id=source_case.id if source_case is not None else None,
        status=lc.OPEN,
        support_count=0,
        support_threshold=threshold,
        support_deadline=now + timedelta(days=window),
        created_at=now,
        updated_at=now,
    )
    session.add(proposal)
    session.flush()
    lc.record_proposal_event(session, proposal, "create", actor=author, to_status=lc.OPEN)
    _ensure_follower(session, proposal, author, "author")
    return proposal


def proposal_from_case(
    session: Session, *, case: Case, user: User, title: str | None = None
) -> Proposal:
    """A resident turns their own complaint into a proposal (text, category and place carried over)."""
    if not permissions.is_submitter(user, case):
        raise PermissionDenied(
            _("Only the resident who reported a case can turn it into a proposal.")
        )
    existing = session.scalar(select(Proposal.id).where(Proposal.source_case_id == case.id))
    if existing is not None:
        raise ValidationError(_("This case has already been turned into a proposal."), field=None)
    category = case.category or case.predicted_category
    if category is None:
        raise ValidationError(_("Choose a category."), field="category_code")
    return create_proposal(
        session,
        author=user,
        title=title or case.title,
        body=case.text_raw,
        category_code=category.code,
        area_code=case.area.code if case.area is not None else None,
        lat=case.lat,
        lon=case.lon,
        source_case=case,
    )


# --- look-up --------------------------------------------------------------------------------


def get_proposal(session: Session, proposal_id: int, *, viewer: User | None = None) -> Proposal:
    """The proposal (a hidden one too: its page says "hidden by moderator" in place of the text)."""
    del viewer
    proposal = session.get(Proposal, proposal_id) if 0 < proposal_id < 2**31 else None
    if proposal is None:
        raise NotFound(_("No such proposal."))
    return proposal


def _descendant_ids(session: Session, area: Area) -> list[int]:
    ids, frontier = [area.id], [area.id]
    while frontier:
        frontier = list(session.scalars(select(Area.id).where(Area.parent_id.in_(frontier))))
        ids.extend(frontier)
    return ids


def proposal_point(proposal: Proposal) -> tuple[float, float] | None:
    if proposal.lat is not None and proposal.lon is not None:
        return proposal.lat, proposal.lon
    area = proposal.area
    while area is not None:
        if area.centroid_lat is not None and area.centroid_lon is not None:
            return area.centroid_lat, area.centroid_lon
        area = area.parent
    return None


@dataclass(frozen=True)
class ProposalListItem:
    proposal: Proposal
    distance_m: float | None


@dataclass(frozen=True)
class ProposalPage:
    items: list[ProposalListItem]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return math.ceil(self.total / self.per_page) if self.total else 0


LIST_STATUSES = {
    "active": tuple(lc.ACTIVE_STATUSES),
    "open": (lc.OPEN,),
    "answered": (lc.ANSWERED, lc.IN_IMPLEMENTATION, lc.DONE),
    "closed": (lc.WITHDRAWN, lc.ARCHIVED),
    "all": lc.STATUSES,
}


def list_proposals(
    session: Session,
    *,
    status: str = "active",
    area_code: str | None = None,
    lat: float | None = None,
    lon: float | None = None,
    radius_m: float = DEFAULT_RADIUS_M,
    sort: str = "newest",
    page: int = 1,
    per_page: int = 20,
) -> ProposalPage:
    """Visible proposals, optionally within an area or near a point (nearest first), paginated."""
    if status not in LIST_STATUSES:
        raise ValidationError(_("Unknown status filter."), field="status")
    if sort not in ("newest", "supports", "nearest"):
        raise ValidationError(_("Unknown sort order."), field="sort")
    if (lat is None) != (lon is None):
        raise ValidationError(_("Give both latitude and longitude, or neither."), field="location")
    if lat is not None and lon is not None and not valid_coordinates(lat, lon):
        raise ValidationError(_("These coordinates are not valid."), field="location")
    if not 1 <= radius_m <= 100_000:
        raise ValidationError(_("The radius must be between 1 m and 100 km."), field="radius_m")
    page, per_page = max(1, page), min(max(1, per_page), 100)
    stmt = select(Proposal).where(
        Proposal.status.in_(LIST_STATUSES[status]), Proposal.moderation == VISIBLE
    )
    if area_code:
        area = session.scalar(select(Area).where(Area.code == area_code))
        if area is None:
            raise ValidationError(
                _("Unknown area: please choose one from the list."), field="area_code"
            )
        stmt = stmt.where(Proposal.area_id.in_(_descendant_ids(session, area)))
    order = Proposal.support_count.desc() if sort == "supports" else Proposal.created_at.desc()
    stmt = stmt.order_by(order, Proposal.id.desc())
    if lat is None or lon is None:
        total = (
            session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
        )
        rows = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
        return ProposalPage([ProposalListItem(p, None) for p in rows], page, per_page, total)
    near: list[ProposalListItem] = []
    for proposal in session.scalars(stmt.limit(NEAR_CANDIDATES)):
        point = proposal_point(proposal)
        if point is None:
            continue
        d = distance_m(lat, lon, point[0], point[1])
        if d <= radius_m:
            near.append(ProposalListItem(proposal, round(d, 1)))
    if sort == "nearest":
        near.sort(key=lambda item: (item.distance_m or 0.0, -item.proposal.id))
    start = (page - 1) * per_page
    return ProposalPage(near[start : start + per_page], page, per_page, len(near))


# --- supports -------------------------------------------------------------------------------


@dataclass(frozen=True)
class SupportResult:
    proposal: Proposal
    created: bool  # False: this resident already supported it (nothing changed)
    threshold_fired: bool


def has_supported(session: Session, proposal: Proposal, user: User | None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return (
        session.scalar(
            select(Support.id).where(Support.proposal_id == proposal.id, Support.user_id == user.id)
        )
        is not None
    )


def is_following(session: Session, proposal: Proposal, user: User | None) -> bool:
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    return (
        session.scalar(
            select(ProposalFollower.id).where(
                ProposalFollower.proposal_id == proposal.id, ProposalFollower.user_id == user.id
            )
        )
        is not None
    )


def _require_supportable(proposal: Proposal, now: datetime) -> None:
    if proposal.moderation == HIDDEN:
        raise NotFound(_("No such proposal."))
    if proposal.status not in SUPPORTABLE:
        raise InvalidTransition(
            _(
                "This proposal is %(status)s: it no longer collects support.",
                status=lc.status_label(proposal.status),
            ),
            code="not_supportable",
        )
    if proposal.status == lc.OPEN and proposal.support_deadline <= now:
        raise InvalidTransition(
            _("The support window of this proposal has ended."), code="window_ended"
        )


class _NotSupportable(Exception):
    """Raised inside the savepoint to undo the support row when the counter update finds the
    proposal no longer collecting support."""


def support_proposal(
    session: Session, *, proposal: Proposal, user: User, channel: str = "web"
) -> SupportResult:
    """Count the user's support once. Safe under concurrency:

    * the UNIQUE (proposal, user) constraint makes a repeated support a no-op (IntegrityError
      caught inside a savepoint);
    * the counter moves with one ``UPDATE … SET support_count = support_count + 1 … RETURNING``
      (on PostgreSQL the row lock serialises concurrent supporters until commit);
    * the threshold fires through the lifecycle's conditional ``UPDATE … WHERE status = 'open'``,
      so exactly one transaction performs it.
    """
    require_participation(session, user, "support")
    now = utcnow()
    _require_supportable(proposal, now)
    try:
        with session.begin_nested():
            session.add(
                Support(
                    proposal_id=proposal.id, user_id=user.id, channel=channel[:12], created_at=now
                )
            )
            session.flush()
            row = session.execute(
                update(Proposal)
                .where(
                    Proposal.id == proposal.id,
                    Proposal.status.in_(SUPPORTABLE),
                    (Proposal.status != lc.OPEN) | (Proposal.support_deadline > now),
                )
                .values(support_count=Proposal.support_count + 1)
                .returning(Proposal.support_count, Proposal.status)
                .execution_options(synchronize_session=False)
            ).first()
            if row is None:
                raise _NotSupportable
    except IntegrityError:
        return SupportResult(proposal, created=False, threshold_fired=False)
    except _NotSupportable:
        session.refresh(proposal)
        _require_supportable(proposal, utcnow())
        raise InvalidTransition(
            _("This proposal no longer collects support."), code="not_supportable"
        ) from None
    count, status = row
    session.refresh(proposal, ["support_count", "status"])
    _ensure_follower(session, proposal, user, "support")
    fired = False
    if status == lc.OPEN and count >= proposal.support_threshold:
        try:
            lc.transition_proposal(
                session,
                proposal,
                "reach_threshold",
                actor=None,
                message=system_message("proposal_threshold_reached", n=count),
            )
        except InvalidTransition:
            pass  # another supporter's transaction fired it first
        else:
            fired = True
            proposal.threshold_reached_at = now
            session.flush()
            route_proposal(session, proposal)
            notify_followers(session, proposal, "threshold_reached")
    return SupportResult(proposal, created=True, threshold_fired=fired)


def withdraw_support(session: Session, *, proposal: Proposal, user: User) -> Proposal:
    """Take one's support back, possible only while the proposal is open. Idempotent."""
    if proposal.status != lc.OPEN:
        raise InvalidTransition(
            _("Support can be withdrawn only while the proposal is open for support."),
            code="not_open",
        )
    try:
        with session.begin_nested():
            deleted = session.execute(
                delete(Support)
                .where(Support.proposal_id == proposal.id, Support.user_id == user.id)
                .execution_options(synchronize_session=False)
            )
            if deleted.rowcount == 1:  # type: ignore[attr-defined]
                moved = session.execute(
                    update(Proposal)
                    .where(Proposal.id == proposal.id, Proposal.status == lc.OPEN)
                    .values(support_count=Proposal.support_count - 1)
                    .execution_options(synchronize_session=False)
                )
                if moved.rowcount != 1:  # type: ignore[attr-defined]
                    raise _NotSupportable
    except _NotSupportable:
        raise InvalidTransition(
            _("Support can be withdrawn only while the proposal is open for support."),
            code="not_open",
        ) from None
    session.refresh(proposal, ["support_count", "status"])
    return proposal


def follow_proposal(session: Session, *, proposal: Proposal, user: User) -> bool:
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Please sign in first."), code="sign_in_required")
    if proposal.moderation == HIDDEN:
        raise NotFound(_("No such proposal."))
    return _ensure_follower(session, proposal, user, "follow")


def unfollow_proposal(session: Session, *, proposal: Proposal, user: User) -> None:
    session.execute(
        delete(ProposalFollower)
        .where(ProposalFollower.proposal_id == proposal.id, ProposalFollower.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    session.flush()


# --- routing at the threshold ---------------------------------------------------------------


def route_proposal(session: Session, proposal: Proposal) -> Case:
    """Submit the proposal as a case of kind ``proposal`` through the ordinary intake: the same
    routing rules, SLA due dates and department queue. Routed at once → ``under_review``;
    otherwise it waits in the dispatch centre's triage and moves on when dispatched."""
    from portal.cases.services import submit_case

    if proposal.case_id is not None:
        assert proposal.case is not None
        return proposal.case
    case = submit_case(
        session,
        text=f"{proposal.title}\n{proposal.body_raw}",
        channel="web",
        submitter=proposal.author,
        kind="proposal",
        category_code=proposal.category.code,
        area_code=proposal.area.code if proposal.area is not None else None,
        lat=proposal.lat,
        lon=proposal.lon,
        anonymous=True,
    )
    proposal.case = case
    session.flush()
    sync_review_status(session, proposal)
    return case


def sync_review_status(session: Session, proposal: Proposal) -> bool:
    """Move a routed proposal to ``under_review`` once its case has a department (at once, or
    when a coordinator dispatches it from triage). True if it moved."""
    case = proposal.case
    if proposal.status != lc.THRESHOLD_REACHED or case is None:
        return False
    if case.lead_department is None or case.status not in (ASSIGNED, ACCEPTED):
        return False
    lc.transition_proposal(
        session,
        proposal,
        "route",
        actor=None,
        message=system_message(
            "proposal_routed",
            department={
                "code": case.lead_department.code,
                "name": case.lead_department.name,
                "name_en": case.lead_department.name_en,
            },
            number=case.tracking_number,
        ),
    )
    return True


# --- withdraw and archive -------------------------------------------------------------------


def withdraw_proposal(session: Session, *, proposal: Proposal, user: User, reason: str) -> Proposal:
    if not permissions.is_proposal_author(user, proposal):
        raise PermissionDenied(_("Only the author can withdraw a proposal."))
    reason = clean_text(
        reason, field="reason", minimum=2, maximum=MAX_REASON_CHARS, what=_("The reason")
    )
    proposal.closed_reason = mask_text(reason)
    lc.transition_proposal(session, proposal, "withdraw", actor=user, note=proposal.closed_reason)
    notify_followers(session, proposal, "withdrawn", note=proposal.closed_reason)
    return proposal


def archive_message(proposal: Proposal) -> dict[str, Any]:
    """Why an expired proposal is archived, as stored: a system message (translated when read)."""
    return system_message(
        "proposal_archived",
        date=proposal.support_deadline.date().isoformat(),
        n=proposal.support_count,
        needed=proposal.support_threshold,
    )


def archive_reason(proposal: Proposal) -> str:
    """Why an expired proposal is archived, in the current language."""
    return render_message(archive_message(proposal)) or ""


def archive_expired_proposals(session: Session, *, now: datetime | None = None) -> list[Proposal]:
    """Archive open proposals whose window has ended below the threshold, saying why, publicly
    (on the archive event, as a message translated when read; ``closed_reason`` stays for the
    author's own words). Idempotent: a second run finds nothing to do. Flushes."""
    now = now or utcnow()
    expired = session.scalars(
        select(Proposal)
        .where(Proposal.status == lc.OPEN, Proposal.support_deadline <= now)
        .order_by(Proposal.id)
    ).all()
    archived = []
    for proposal in expired:
        if proposal.support_count >= proposal.support_threshold:
            continue  # the threshold fires on support; never archive a proposal that met it
        reason = archive_message(proposal)
        try:
            lc.transition_proposal(session, proposal, "archive", actor=None, message=reason)
        except InvalidTransition:
            continue
        notify_followers(session, proposal, "archived", message=reason)
        archived.append(proposal)
    return archived


def supporters_count(session: Session, proposal: Proposal) -> int:
    """Counted from the rows (the maintained counter must always equal it; tests check)."""
    return (
        session.scalar(
            select(func.count()).select_from(Support).where(Support.proposal_id == proposal.id)
        )
        or 0
    )


def category_choices(session: Session) -> Sequence[Category]:
    return session.scalars(
        select(Category)
        .where(Category.parent_id.is_not(None), Category.active.is_(True))
        .order_by(Category.code)
    ).all()
