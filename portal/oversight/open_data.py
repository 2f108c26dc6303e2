"""Open data: the public fields of every case, paginated, as CSV or JSON (documented field table)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cases.models import Case
from portal.db import utcnow
from portal.errors import ValidationError
from portal.jurisdiction.models import Area, Category
from portal.oversight.dp import LOCAL_TZ

MAX_PER_PAGE = 1000


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    description: Any


#: The export's columns, in order; the /open-data page documents them from this list.
FIELDS: tuple[Field, ...] = (
    Field("tracking_number", "string", _l("Public tracking number of the case")),
    Field("kind", "string", _l("complaint, inquiry, proposal or praise")),
    Field("group", "string", _l("Category group (name)")),
    Field("group_code", "string", _l("Category group code")),
    Field("category", "string", _l("Category (name); empty while in triage")),
    Field("category_code", "string", _l("Category code (Open311 service_code)")),
    Field("street", "string", _l("Street (街道) the case belongs to; never the exact address")),
    Field("status", "string", _l("triage, assigned, accepted, resolved or closed")),
    Field("created_date", "date", _l("Day the case was submitted (Beijing time)")),
    Field("accepted_date", "date", _l("Day a department accepted it, if it has")),
    Field("resolved_date", "date", _l("Day it was resolved, if it has been")),
    Field("overdue", "boolean", _l("Open and past its resolution deadline now")),
    Field("me_too_count", "integer", _l("Residents who reported the same problem")),
    Field("text", "string", _l("The resident's message with personal data masked")),
)


def _day(value: Any) -> str | None:
    return value.astimezone(LOCAL_TZ).date().isoformat() if value is not None else None


def export_page(session: Session, *, page: int, per_page: int) -> tuple[list[dict[str, Any]], int]:
    """One page of public case rows (oldest first, stable order) and the total number of cases."""
    if page < 1:
        raise ValidationError("page must be 1 or more", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValidationError(f"per_page must be between 1 and {MAX_PER_PAGE}", field="per_page")
    total = session.scalar(select(func.count()).select_from(Case)) or 0
    areas = {a.id: a for a in session.scalars(select(Area))}
    categories = {c.id: c for c in session.scalars(select(Category))}
    now = utcnow()
    cases = session.scalars(
        select(Case).order_by(Case.id).limit(per_page).offset((page - 1) * per_page)
    ).all()
    rows = []
    for case in cases:
        category = categories.get(case.category_id) if case.category_id else None
        group = category.group if category is not None else None
        area = areas.get(case.area_id) if case.area_id else None
        street = area.street() if area is not None else None
        rows.append(
            {
                "tracking_number": case.tracking_number,
                "kind": case.kind,
                "group": group.name if group else None,
                "group_code": group.code if group else None,
                "category": category.name if category and not category.is_group else None,
                "category_code": category.code if category and not category.is_group else None,
                "street": street.name if street else None,
                "status": case.status,
                "created_date": _day(case.created_at),
                "accepted_date": _day(case.accepted_at),
                "resolved_date": _day(case.resolved_at),
                "overdue": case.is_overdue(now),
                "me_too_count": case.me_too_count,
                "text": case.text_masked,
            }
        )
    return rows, total
