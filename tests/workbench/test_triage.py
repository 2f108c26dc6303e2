"""Triage: the queue's order, confirming and correcting, split responsibility, closing, and the
labelled examples (with their CSV export for ``python -m nlp train``)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nlp.corpus import read_examples
from portal.cases.models import Case, CaseEvent
from portal.errors import ValidationError
from portal.system_messages import event_note
from portal.workbench import queues, services, triage
from portal.workbench.models import LabelledExample
from tests.workbench.conftest import HOUSING_CATEGORY, LEAD, OTHER, People


def test_queue_lists_the_most_urgent_first_then_the_oldest(
    session: Any, make_triage_case: Any
) -> None:
    first = make_triage_case("第一件：关于党组织关系转接的咨询，请给予答复。")
    second = make_triage_case("第二件：关于社区团组织活动场地的咨询，请给予答复。")
    third = make_triage_case("第三件：关于民族宗教政策的咨询，请给予答复。")
    third.priority = "urgent"
    session.commit()
    page = queues.triage_queue(session)
    assert [c.tracking_number for c in page.items] == [
        third.tracking_number,
        first.tracking_number,
        second.tracking_number,
    ]
    assert queues.triage_queue(session, page=2, per_page=2).items[0].id == second.id


def test_confirming_the_reading_routes_by_the_rules_and_stores_no_example(
    session: Any, make_triage_case: Any, people: People
) -> None:
    case = make_triage_case()
    case.predicted_category = case.category = _category(session, HOUSING_CATEGORY)
    session.commit()
    triage.dispatch_case(
        session, case=case, actor=people.coordinator, category_code=HOUSING_CATEGORY
    )
    session.commit()
    assert case.status == "assigned"
    assert case.lead_department.code == LEAD
    assert case.sla_profile.code == "general"
    assert case.respond_due_at is not None and case.due_at > case.respond_due_at
    assert [(t.department.code, t.role, t.status) for t in case.tasks] == [(LEAD, "lead", "open")]
    event = case.events[-1]
    assert (event.type, event.from_status, event.to_status) == ("dispatch", "triage", "assigned")
    assert event.data["corrected"] is False and event.data["due_at"] == case.due_at.isoformat()
    assert session.scalars(select(LabelledExample)).all() == []


def test_correcting_category_and_department_stores_a_labelled_example(
    session: Any, make_triage_case: Any, people: People
) -> None:
    case = make_triage_case()
    predicted = case.predicted_category
    triage.dispatch_case(
        session,
        case=case,
        actor=people.coordinator,
        category_code="G02-02",
        department_code=OTHER,
        co_department_codes=[LEAD, OTHER],
        priority="urgent",
    )
    session.commit()
    assert case.lead_department.code == OTHER and case.priority == "urgent"
    assert sorted((t.department.code, t.role) for t in case.tasks) == [
        (OTHER, "lead"),
        (LEAD, "co"),
    ]
    example = session.scalars(select(LabelledExample)).one()
    assert example.source == "triage_correction"
    assert example.text == case.text_masked
    assert example.predicted_category_code == (predicted.code if predicted else None)
    assert (example.corrected_group_code, example.corrected_category_code) == ("G02", "G02-02")
    assert example.corrected_department_code == OTHER
    assert example.created_by_id == people.coordinator.id


def test_a_category_without_a_rule_needs_a_department(
    session: Any, make_triage_case: Any, people: People
) -> None:
    case = make_triage_case()
    with pytest.raises(ValidationError) as error:
        triage.dispatch_case(session, case=case, actor=people.coordinator, category_code="G14-01")
    assert error.value.field == "department"
    session.rollback()
    with pytest.raises(ValidationError) as error:
        triage.dispatch_case(session, case=case, actor=people.coordinator, category_code="nope")
    assert error.value.field == "category"
    session.rollback()
    triage.dispatch_case(
        session, case=case, actor=people.coordinator, category_code="G14-01", department_code=OTHER
    )
    session.commit()
    assert case.status == "assigned" and case.lead_department.code == OTHER


def test_close_as_duplicate_needs_the_original(
    session: Any, make_triage_case: Any, assigned_case: Case, people: People
) -> None:
    case = make_triage_case()
    with pytest.raises(ValidationError) as error:
        triage.close_invalid(
            session, case=case, actor=people.coordinator, reason="duplicate", duplicate_of="LJ-0"
        )
    assert error.value.field == "duplicate_of"
    session.rollback()
    with pytest.raises(ValidationError):
        triage.close_invalid(session, case=case, actor=people.coordinator, reason="invalid")
    session.rollback()
    triage.close_invalid(
        session,
        case=case,
        actor=people.coordinator,
        reason="duplicate",
        duplicate_of=assigned_case.tracking_number,
    )
    session.commit()
    event = case.events[-1]
    assert case.status == "closed" and event.type == "close"
    number = assigned_case.tracking_number
    assert event.data == {
        "reason": "duplicate",
        "duplicate_of": number,
        "message": {"code": "case_duplicate", "args": {"number": number}},
    }
    assert event.note is None and number in event_note(event)  # the system's words, translated


def test_return_then_dispatch_completes_the_not_ours_example(
    session: Any, assigned_case: Case, people: People, app: Any, tmp_path: Path
) -> None:
    case = assigned_case
    with pytest.raises(ValidationError) as error:
        services.return_case(session, case=case, actor=people.staff, reason="  ")
    assert error.value.field == "reason"
    session.rollback()
    services.return_case(
        session, case=case, actor=people.staff, reason="这是市政设施问题，不归我局。"
    )
    session.commit()
    assert case.status == "triage" and case.triage_reason == "returned"
    assert case.lead_department_id is None
    assert [(t.department.code, t.status) for t in case.tasks] == [(LEAD, "withdrawn")]
    example = session.scalars(select(LabelledExample)).one()
    assert example.source == "returned_not_ours"
    assert (example.predicted_category_code, example.predicted_department_code) == (
        HOUSING_CATEGORY,
        LEAD,
    )
    assert example.corrected_category_code is None and example.reason.startswith("这是市政")
    # the department that returned it sees it no more; the dispatch centre has it in triage
    assert case.id not in {
        c.id
        for c in queues.department_queue(session, department_id=people.staff.department_id).items
    }
    assert case.id in {c.id for c in queues.triage_queue(session).items}

    triage.dispatch_case(session, case=case, actor=people.coordinator, category_code="G01-02")
    session.commit()
    session.refresh(example)
    assert example.corrected_category_code == "G01-02"
    assert example.corrected_department_code == case.lead_department.code == "urban_mgmt"
    assert session.scalars(select(LabelledExample)).all() == [example]  # completed, not added

    rows = triage.labelled_examples_for_training(session)
    assert rows == [
        {
            "text": case.text_masked,
            "group": "城乡建设",
            "category": "城市建设和市政管理",
            "kind": case.kind,
            "urgency": example.urgency,
        }
    ]
    result = app.test_cli_runner().invoke(args=["export-labelled-examples"])
    assert result.exit_code == 0, result.output
    exported = list(csv.DictReader(io.StringIO(result.output)))
    assert exported == rows
    # the file is what `python -m nlp train --data FILE --label-col group` reads
    out = tmp_path / "examples.csv"
    result = app.test_cli_runner().invoke(
        args=["export-labelled-examples", "--with-seed", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    examples = read_examples(out, label_col="group")
    assert len(examples) > 100 and examples[-1].text == case.text_masked
    assert (examples[-1].group, examples[-1].category) == ("城乡建设", "城市建设和市政管理")


def test_returning_records_the_reason_internally(
    session: Any, assigned_case: Case, people: People
) -> None:
    services.return_case(
        session, case=assigned_case, actor=people.head, reason="不属于本部门职责。"
    )
    session.commit()
    event = session.scalars(select(CaseEvent).where(CaseEvent.type == "return")).one()
    assert event.note is None and event.data["reason"] == "不属于本部门职责。"
    assert event.department.code == LEAD


def _category(session: Any, code: str) -> Any:
    from portal.jurisdiction.models import Category

    return session.scalar(select(Category).where(Category.code == code))
