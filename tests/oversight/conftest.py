"""A tiny hand-made jurisdiction (two streets, one group with two categories, two departments)
and a factory for cases with hand-built event histories."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from portal.cases.models import Case, CaseContact, CaseEvent
from portal.jurisdiction.models import Area, Category, Department
from portal.workbench.models import LabelledExample, Verdict

#: Mid-month in Beijing, so local and UTC months agree for every timestamp in the tests.
T0 = datetime(2026, 10, 10, 2, 0, tzinfo=UTC)


@dataclass
class World:
    district: Area
    east: Area
    west: Area
    east_community: Area
    group: Category
    roads: Category
    lights: Category
    roads_dept: Department
    lights_dept: Department


@pytest.fixture
def world(session) -> World:  # type: ignore[no-untyped-def]
    district = Area(
        code="D", name="示范区", level="district", centroid_lat=28.2, centroid_lon=112.9
    )
    east = Area(
        code="D-E",
        name="东湖街道",
        level="street",
        parent=district,
        centroid_lat=28.2,
        centroid_lon=112.95,
        boundary=[[112.9, 28.1], [113.0, 28.1], [113.0, 28.3], [112.9, 28.3]],
    )
    west = Area(
        code="D-W",
        name="西山街道",
        level="street",
        parent=district,
        centroid_lat=28.2,
        centroid_lon=112.85,
        boundary=[[112.8, 28.1], [112.9, 28.1], [112.9, 28.3], [112.8, 28.3]],
    )
    east_community = Area(code="D-E-1", name="湖滨社区", level="community", parent=east)
    group = Category(code="CITY", name="城乡建设", name_en="Urban")
    roads = Category(code="ROAD", name="道路维修", name_en="Roads", parent=group)
    lights = Category(code="LIGHT", name="路灯照明", name_en="Street lights", parent=group)
    roads_dept = Department(code="roads", name="道路管理所")
    lights_dept = Department(code="lights", name="照明管理所")
    session.add_all(
        [district, east, west, east_community, group, roads, lights, roads_dept, lights_dept]
    )
    session.commit()
    return World(
        district, east, west, east_community, group, roads, lights, roads_dept, lights_dept
    )


_numbers = iter(range(1, 10_000))


@pytest.fixture
def add_case(session):  # type: ignore[no-untyped-def]
    """``add_case(area=, category=, department=, created=, events=[(type, at, to_status)],
    due=, respond_due=, status=, verdicts=[(round, outcome, score)])`` → a committed Case whose
    history is exactly the given events (times are hours after ``created``)."""

    def add(
        *,
        area: Area | None,
        category: Category | None,
        department: Department | None = None,
        created: datetime = T0,
        events: list[tuple[str, float, str | None]] = (),  # type: ignore[assignment]
        due: float | None = None,
        respond_due: float | None = None,
        status: str = "assigned",
        verdicts: list[tuple[int, str, int | None]] = (),  # type: ignore[assignment]
        predicted: bool = True,
        text: str = "路面有坑，请修一下。",
        contact: tuple[str, str] | None = None,
        corrected: bool = False,
    ) -> Case:
        n = next(_numbers)
        h = lambda hours: created + timedelta(hours=hours)  # noqa: E731
        stamps: dict[str, Any] = {}
        for _type, at, to_status in events:
            if to_status and f"{to_status}_at" in {
                "assigned_at",
                "accepted_at",
                "resolved_at",
                "closed_at",
            }:
                stamps.setdefault(f"{to_status}_at", h(at))
        case = Case(
            tracking_number=f"T-{n:05d}",
            status=status,
            text_raw=text,
            text_masked=text,
            title=text[:20],
            category=category,
            predicted_category=category if predicted else None,
            area=area,
            lead_department=department,
            created_at=created,
            due_at=h(due) if due is not None else None,
            respond_due_at=h(respond_due) if respond_due is not None else None,
            **stamps,
        )
        session.add(case)
        session.flush()
        for type_, at, to_status in events:
            session.add(
                CaseEvent(
                    case_id=case.id,
                    type=type_,
                    to_status=to_status,
                    department_id=department.id if department else None,
                    created_at=h(at),
                )
            )
        for round_, outcome, score in verdicts:
            session.add(
                Verdict(
                    case_id=case.id,
                    round=round_,
                    outcome=outcome,
                    satisfaction=score,
                    created_at=h(500),
                )
            )
        if contact:
            session.add(CaseContact(case_id=case.id, name=contact[0], phone=contact[1]))
        if corrected:
            session.add(LabelledExample(case_id=case.id, text=text, source="triage_correction"))
        session.commit()
        return case

    return add
