"""Read-only queries behind the public pages: filtered case lists, counts, a resident's cases.

Only public columns are filtered or searched on (the masked text, never the raw text), so a search
cannot reveal which case holds a given phone number or name.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, exists, func, or_, select
from sqlalchemy.orm import Session, aliased, selectinload

from portal.accounts.models import User
from portal.cases.models import Case, CaseFollower
from portal.cases.status import CLOSED, OPEN_STATUSES, RESOLVED
from portal.db import utcnow
from portal.jurisdiction.models import Area, Category, Department
from portal.permissions import NON_PUBLIC_GROUPS

T = TypeVar("T")
SelectT = TypeVar("SelectT", bound=Select[Any])

DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
TRACKING_NUMBER_SHAPE = re.compile(r"^[A-Za-z]{1,6}-[0-9A-Za-z-]{3,20}$")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, math.ceil(self.total / self.per_page))

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclass(frozen=True)
class CaseFilters:
    q: str = ""
    group: str = ""
    category: str = ""
    status: str = ""
    department: str = ""
    street: str = ""
    overdue: bool = False


def clamp_page(page: int | None, per_page: int | None) -> tuple[int, int]:
    page = page if page and page > 0 else 1
    per_page = per_page if per_page and per_page > 0 else DEFAULT_PER_PAGE
    return page, min(per_page, MAX_PER_PAGE)


def paginate(session: Session, stmt: Select[tuple[Case]], page: int, per_page: int) -> Page[Case]:
    page, per_page = clamp_page(page, per_page)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=items, page=page, per_page=per_page, total=total)


def _with_public_relations(stmt: Select[tuple[Case]]) -> Select[tuple[Case]]:
    return stmt.options(
        selectinload(Case.category).selectinload(Category.parent),
        selectinload(Case.lead_department),
        selectinload(Case.area).selectinload(Area.parent),
    )


def public_cases_only(stmt: SelectT) -> SelectT:
    """Leave out cases of non-public groups (see ``portal.permissions.is_public_case``)."""
    parent = aliased(Category)
    hidden = (
        select(Category.id)
        .outerjoin(parent, Category.parent_id == parent.id)
        .where(or_(Category.code.in_(NON_PUBLIC_GROUPS), parent.code.in_(NON_PUBLIC_GROUPS)))
    )
    return stmt.where(or_(Case.category_id.is_(None), Case.category_id.not_in(hidden)))


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def search_cases(
    session: Session, filters: CaseFilters, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Case]:
    """The public list: newest first, filtered by catalogue, status, department, street, overdue."""
    stmt = public_cases_only(select(Case))
    if filters.category:
        stmt = stmt.join(Category, Case.category_id == Category.id).where(
            Category.code == filters.category
        )
    elif filters.group:
        group = aliased(Category)
        stmt = (
            stmt.join(Category, Case.category_id == Category.id)
            .outerjoin(group, Category.parent_id == group.id)
            .where(or_(group.code == filters.group, Category.code == filters.group))
        )
    if filters.status:
        stmt = stmt.where(Case.status == filters.status)
    if filters.department:
        stmt = stmt.join(Department, Case.lead_department_id == Department.id).where(
            Department.code == filters.department
        )
    if filters.street:
        parent = aliased(Area)
        stmt = (
            stmt.join(Area, Case.area_id == Area.id)
            .outerjoin(parent, Area.parent_id == parent.id)
            .where(or_(Area.code == filters.street, parent.code == filters.street))
        )
    if filters.overdue:
        stmt = stmt.where(Case.status.in_(OPEN_STATUSES), Case.due_at < utcnow())
    query = filters.q.strip()
    if query:
        pattern = _like_pattern(query)
        conditions = [
            Case.text_masked.ilike(pattern, escape="\\"),
            Case.title.ilike(pattern, escape="\\"),
        ]
        if TRACKING_NUMBER_SHAPE.match(query):
            conditions.append(Case.tracking_number == query.upper())
        stmt = stmt.where(or_(*conditions))
    stmt = _with_public_relations(stmt.order_by(Case.created_at.desc(), Case.id.desc()))
    return paginate(session, stmt, page, per_page)


def recent_cases(session: Session, limit: int = 8) -> Sequence[Case]:
    stmt = public_cases_only(select(Case).order_by(Case.created_at.desc(), Case.id.desc()))
    return session.scalars(_with_public_relations(stmt).limit(limit)).all()


@dataclass(frozen=True)
class CaseCounts:
    total: int
    open: int
    done: int
    overdue: int


def case_counts(session: Session) -> CaseCounts:
    """Totals over the public cases (the same ones the public list shows)."""
    now = utcnow()
    row = session.execute(
        public_cases_only(
            select(
                func.count(Case.id),
                func.count(Case.id).filter(Case.status.in_(OPEN_STATUSES)),
                func.count(Case.id).filter(Case.status.in_((RESOLVED, CLOSED))),
                func.count(Case.id).filter(Case.status.in_(OPEN_STATUSES), Case.due_at < now),
            )
        )
    ).one()
    return CaseCounts(total=row[0], open=row[1], done=row[2], overdue=row[3])


def cases_of_resident(
    session: Session, user: User, *, page: int = 1, per_page: int = DEFAULT_PER_PAGE
) -> Page[Case]:
    """Cases the resident submitted or follows ("me too"), newest first."""
    follows = exists().where(CaseFollower.case_id == Case.id, CaseFollower.user_id == user.id)
    stmt = _with_public_relations(
        select(Case)
        .where(or_(Case.submitter_id == user.id, follows))
        .order_by(Case.created_at.desc(), Case.id.desc())
    )
    return paginate(session, stmt, page, per_page)


def is_following(session: Session, case: Case, user: User) -> bool:
    return (
        session.scalar(
            select(CaseFollower.id).where(
                CaseFollower.case_id == case.id, CaseFollower.user_id == user.id
            )
        )
        is not None
    )


def catalogue_groups(session: Session) -> Sequence[Category]:
    """Active groups with their categories loaded, in code order."""
    return session.scalars(
        select(Category)
        .where(Category.parent_id.is_(None), Category.active.is_(True))
        .options(selectinload(Category.children))
        .order_by(Category.code)
    ).all()


@dataclass(frozen=True)
class CatalogueEntry:
    code: str
    name: str
    name_en: str | None


@dataclass(frozen=True)
class CatalogueGroup:
    group: CatalogueEntry
    categories: list[CatalogueEntry]


def catalogue_options(session: Session) -> list[CatalogueGroup]:
    """The active catalogue as plain rows in one query (the intake form needs it per request)."""
    rows = session.execute(
        select(Category.id, Category.parent_id, Category.code, Category.name, Category.name_en)
        .where(Category.active.is_(True))
        .order_by(Category.code)
    ).all()
    groups: dict[int, CatalogueGroup] = {}
    for row in rows:
        if row.parent_id is None:
            groups[row.id] = CatalogueGroup(CatalogueEntry(row.code, row.name, row.name_en), [])
    for row in rows:
        if row.parent_id is not None and row.parent_id in groups:
            groups[row.parent_id].categories.append(CatalogueEntry(row.code, row.name, row.name_en))
    return list(groups.values())


def departments(session: Session) -> Sequence[Department]:
    return session.scalars(
        select(Department).where(Department.active.is_(True)).order_by(Department.code)
    ).all()


def streets(session: Session) -> Sequence[Area]:
    return session.scalars(select(Area).where(Area.level == "street").order_by(Area.code)).all()
