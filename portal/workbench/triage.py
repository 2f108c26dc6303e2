"""Triage by the dispatch centre: confirm or correct the engine, route, close invalid cases; the
corrections become labelled examples that ``python -m nlp train`` can use."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal import permissions
from portal.accounts.models import User
from portal.cases.models import Case
from portal.cases.status import TRIAGE
from portal.db import utcnow
from portal.errors import ValidationError
from portal.jurisdiction.models import Category, Department, SlaProfile
from portal.system_messages import KEY as MESSAGE_KEY
from portal.system_messages import system_message
from portal.workbench.handling import (
    CLOSE_REASONS,
    MIN_REASON_CHARS,
    PRIORITIES,
    StaffEvents,
    apply_due_dates,
    clean_text,
    concurrent_change_guard,
    get_category,
    get_department,
    mask_public_text,
    open_co_task,
    require,
    require_no_pending_answer,
    require_status,
    set_lead,
    task_for,
)
from portal.workbench.models import LabelledExample

# --- triage (coordinators) ----------------------------------------------------------------------


@dataclass(frozen=True)
class RoutingSuggestion:
    """What the rules say for a category in the case's area (for the triage form)."""

    department: Department | None
    co_departments: tuple[Department, ...]
    sla_profile: SlaProfile | None
    priority: str


def suggest_routing(
    session: Session, case: Case, category: Category | None, *, priority: str | None = None
) -> RoutingSuggestion:
    """The rules' answer for ``category`` in the case's area (``priority`` overrides urgency)."""
    if category is None:
        return RoutingSuggestion(None, (), None, case.priority)
    from portal.routing.services import route_case

    decision = route_case(session, case, category=category, area=case.area, urgency=priority)
    return RoutingSuggestion(
        department=decision.department,
        co_departments=tuple(decision.co_departments or ()),
        sla_profile=decision.sla_profile,
        priority=priority or decision.priority,
    )


def dispatch_case(
    session: Session,
    *,
    case: Case,
    actor: User,
    category_code: str,
    department_code: str | None = None,
    co_department_codes: Sequence[str] = (),
    priority: str | None = None,
    note: str | None = None,
) -> Case:
    """Confirm or correct the engine's reading and route the case (triage → assigned).

    Without ``department_code`` the routing rules choose; a department the rules would not have
    chosen, or a category other than the predicted one, is a correction and is stored as a
    :class:`LabelledExample` (or completes the "not ours" example of a returned case).
    """
    require(permissions.can_take_workbench_action(actor, case, "dispatch"))
    require_status(case, TRIAGE)
    category = get_category(session, category_code)
    if priority is not None and priority not in PRIORITIES:
        raise ValidationError(_("Choose a valid priority."), field="priority")
    note = clean_text(note, field="note", required=False)
    suggestion = suggest_routing(session, case, category, priority=priority)
    if department_code:
        department = get_department(session, department_code)
    elif suggestion.department is not None:
        department = suggestion.department
    else:
        raise ValidationError(
            _("No routing rule covers this category here: choose a department."),
            field="department",
        )
    co_departments = (
        [get_department(session, code, field="co_departments") for code in co_department_codes]
        if department_code or co_department_codes
        else list(suggestion.co_departments)
    )
    co_departments = [d for d in dict.fromkeys(co_departments) if d.id != department.id]
    predicted = suggest_routing(session, case, case.predicted_category)
    now = utcnow()

    case.priority = suggestion.priority
    case.category = category
    case.sla_profile = suggestion.sla_profile
    case.triage_reason = None
    deadlines = apply_due_dates(session, case, suggestion.sla_profile, now)
    set_lead(session, case, department, now)
    for co_department in co_departments:
        existing = task_for(case, co_department.id)
        if (
            existing is not None
            and existing.role == "co"
            and existing.status in {"open", "accepted"}
        ):
            continue
        open_co_task(session, case, co_department, now, None)

    corrected = category.id != case.predicted_category_id or (
        predicted.department is not None and predicted.department.id != department.id
    )
    _store_correction(
        session,
        case=case,
        actor=actor,
        category=category,
        department=department,
        predicted=predicted,
        corrected=corrected,
        now=now,
    )
    events = StaffEvents(session, case, actor)
    with concurrent_change_guard():
        events.transition(
            "dispatch",
            department_id=department.id,
            data={
                "category_code": category.code,
                "department_code": department.code,
                "co_department_codes": [d.code for d in co_departments],
                "corrected": corrected,
                **deadlines,
            },
        )
        if note:
            events.record("note", note=note, public=False, department_id=department.id)
    return case


def _store_correction(
    session: Session,
    *,
    case: Case,
    actor: User,
    category: Category,
    department: Department,
    predicted: RoutingSuggestion,
    corrected: bool,
    now: datetime,
) -> None:
    pending = session.scalar(
        select(LabelledExample)
        .where(
            LabelledExample.case_id == case.id,
            LabelledExample.source == "returned_not_ours",
            LabelledExample.corrected_category_code.is_(None),
        )
        .order_by(LabelledExample.id.desc())
    )
    if pending is not None:
        pending.corrected_group_code = category.group.code
        pending.corrected_category_code = category.code
        pending.corrected_department_code = department.code
        pending.corrected_at = now
        return
    if not corrected:
        return
    session.add(
        labelled_example(
            case,
            category=case.predicted_category,
            department=predicted.department,
            corrected_group_code=category.group.code,
            corrected_category_code=category.code,
            corrected_department_code=department.code,
            source="triage_correction",
            created_by_id=actor.id,
            created_at=now,
            corrected_at=now,
        )
    )


def close_invalid(
    session: Session,
    *,
    case: Case,
    actor: User,
    reason: str,
    note: str | None = None,
    duplicate_of: str | None = None,
) -> Case:
    """Close a case in triage as invalid, a duplicate (of ``duplicate_of``) or out of scope.
    Not a case carrying a proposal's formal answer: that one must reach a department."""
    require(permissions.can_take_workbench_action(actor, case, "close_invalid"))
    require_status(case, TRIAGE)
    require_no_pending_answer(session, case, action="close")
    if reason not in CLOSE_REASONS:
        raise ValidationError(_("Choose why the case is closed."), field="reason")
    note = clean_text(note, field="note", required=reason != "duplicate", minimum=MIN_REASON_CHARS)
    data: dict[str, Any] = {"reason": reason}
    if reason == "duplicate":
        original = session.scalar(
            select(Case).where(Case.tracking_number == (duplicate_of or "").strip())
        )
        if original is None or original.id == case.id:
            raise ValidationError(
                _("Give the tracking number of the case this one duplicates."), field="duplicate_of"
            )
        data["duplicate_of"] = original.tracking_number
        if not note:  # the clerk's own words, else the system's, in each reader's language
            data[MESSAGE_KEY] = system_message("case_duplicate", number=original.tracking_number)
    with concurrent_change_guard():
        StaffEvents(session, case, actor).transition(
            "close", note=mask_public_text(note) if note else None, data=data
        )
    return case


# --- labelled examples --------------------------------------------------------------------------


def labelled_example(
    case: Case, *, category: Category | None, department: Department | None, **labels: Any
) -> LabelledExample:
    """An example of ``case``'s masked text as it was read: ``category`` and ``department`` are
    its predicted labels; ``labels`` the other columns (source, corrected codes, reason...)."""
    return LabelledExample(
        case_id=case.id,
        text=case.text_masked,
        kind=case.kind,
        urgency=case.predicted_urgency or case.priority,
        predicted_group_code=category.group.code if category else None,
        predicted_category_code=category.code if category else None,
        predicted_department_code=department.code if department else None,
        **labels,
    )


def labelled_examples_for_training(session: Session) -> list[dict[str, str]]:
    """Corrected examples as rows of the seed corpus format (text, group, category, kind, urgency),
    with group and category names as the classifier is trained on them."""
    rows = session.scalars(
        select(LabelledExample)
        .where(LabelledExample.corrected_category_code.is_not(None))
        .order_by(LabelledExample.id)
    ).all()
    codes = {r.corrected_category_code for r in rows} | {r.corrected_group_code for r in rows}
    names = dict(
        session.execute(select(Category.code, Category.name).where(Category.code.in_(codes))).all()
    )
    out = []
    for row in rows:
        group = names.get(row.corrected_group_code or "")
        category = names.get(row.corrected_category_code or "")
        if not group or not category or row.corrected_group_code == row.corrected_category_code:
            continue  # a group-level correction carries no category label
        out.append(
            {
                "text": row.text,
                "group": group,
                "category": category,
                "kind": row.kind or "complaint",
                "urgency": row.urgency or "normal",
            }
        )
    return out
