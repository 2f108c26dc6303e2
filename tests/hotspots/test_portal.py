"""detect_hotspots over real cases, the coordinators' pages and acting on an alert."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from portal.audit.models import AuditEntry
from portal.cases.models import Case
from portal.db import utcnow
from portal.hotspots.models import HotspotAlert
from portal.hotspots.services import detect_hotspots
from portal.system_messages import event_note
from tests.hotspots.conftest import login


def test_detection_finds_the_surge_and_the_cluster_and_is_idempotent(
    app: Any, session: Any, drain_cases: list[Case]
) -> None:
    report = detect_hotspots(session)
    session.commit()
    by_kind = {a.kind: a for a in report.created}
    assert set(by_kind) == {"surge", "cluster"}
    ids = {c.id for c in drain_cases}
    cluster = by_kind["cluster"]
    assert set(cluster.case_ids) == ids and cluster.size == 8
    assert cluster.area.code == "LJ-JB" and cluster.category.code == "G01-09"
    assert "下水道" in cluster.terms
    surge = by_kind["surge"]
    assert set(surge.case_ids) == ids and surge.details["count"] == 8
    assert surge.area.code == "LJ-JB"  # communities roll up to their street

    # A coordinator dismisses the surge; running again creates and changes nothing.
    surge.status = "dismissed"
    session.commit()
    again = detect_hotspots(session)
    session.commit()
    assert again.created == [] and again.updated == []
    result = app.test_cli_runner().invoke(args=["hotspots", "detect"])  # what cron runs
    assert result.exit_code == 0 and "0 new alert(s), 0 updated" in result.output
    bad = app.test_cli_runner().invoke(args=["hotspots", "detect", "--now", "yesterday"])
    assert bad.exit_code == 2 and "not an ISO date-time" in bad.output
    assert session.scalar(select(func.count()).select_from(HotspotAlert)) == 2
    assert session.get(HotspotAlert, surge.id).status == "dismissed"


def test_only_coordinators_see_alerts(
    client: Any, session: Any, drain_cases: list[Case], make_user: Any
) -> None:
    detect_hotspots(session)
    session.commit()
    alert = session.scalars(select(HotspotAlert).where(HotspotAlert.kind == "cluster")).one()
    for role, department in (("resident", None), ("staff", "housing"), ("moderator", None)):
        login(client, make_user(role=role, department=department))
        assert client.get("/workbench/hotspots").status_code == 404
        assert client.get(f"/workbench/hotspots/{alert.id}").status_code == 404
        assert client.post(f"/workbench/hotspots/{alert.id}/task").status_code == 404
    login(client, make_user(role="coordinator"))
    page = client.get("/workbench/hotspots").get_data(as_text=True)
    assert f"/workbench/hotspots/{alert.id}" in page and "下水道" in page
    detail = client.get(f"/workbench/hotspots/{alert.id}").get_data(as_text=True)
    for case in drain_cases:
        assert f"/workbench/cases/{case.tracking_number}" in detail
    assert client.get("/workbench/hotspots/999999").status_code == 404
    assert client.get("/workbench/hotspots?status=bogus").status_code == 422


def test_a_coordinator_opens_a_proactive_task_from_an_alert(
    client: Any, session: Any, drain_cases: list[Case], make_user: Any
) -> None:
    detect_hotspots(session)
    session.commit()
    alert = session.scalars(select(HotspotAlert).where(HotspotAlert.kind == "cluster")).one()
    coordinator = make_user(role="coordinator")
    login(client, coordinator)
    before = session.scalar(select(func.count()).select_from(Case))
    response = client.post(f"/workbench/hotspots/{alert.id}/task", data={"note": "先去现场看看"})
    assert response.status_code == 302
    session.expire_all()
    alert = session.get(HotspotAlert, alert.id)
    task = alert.task_case
    assert alert.status == "actioned" and alert.actioned_by_id == coordinator.id
    assert response.headers["Location"].endswith(f"/workbench/cases/{task.tracking_number}")
    assert task.channel == "staff" and task.kind == "inquiry"
    assert task.category.code == "G01-09" and task.lead_department.code == "housing"
    assert "先去现场看看" in task.text_masked
    assert any(e.type == "note" and f"#{alert.id}" in (event_note(e) or "") for e in task.events)
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "hotspot.action")).one()
    assert audit.target_id == str(alert.id) and audit.actor_id == coordinator.id

    # Acting twice opens nothing more; the page says why.
    again = client.post(f"/workbench/hotspots/{alert.id}/task", follow_redirects=True)
    assert again.status_code == 200
    assert session.scalar(select(func.count()).select_from(Case)) == before + 1
    assert alert.updated_at <= utcnow()


def test_a_coordinator_opens_a_deliberation_thread_under_its_rules(
    client: Any, session: Any, drain_cases: list[Case], make_user: Any
) -> None:
    from portal.deliberation.models import Proposal

    detect_hotspots(session)
    session.commit()
    alert = session.scalars(select(HotspotAlert).where(HotspotAlert.kind == "cluster")).one()
    unverified = make_user(role="coordinator", verification_level=0)
    login(client, unverified)
    page = client.post(f"/workbench/hotspots/{alert.id}/proposal", follow_redirects=True)
    assert page.status_code == 200 and session.scalar(select(func.count(Proposal.id))) == 0
    session.expire_all()
    assert session.get(HotspotAlert, alert.id).status == "new"

    login(client, make_user(role="coordinator", verification_level=3))
    response = client.post(f"/workbench/hotspots/{alert.id}/proposal")
    assert response.status_code == 302
    session.expire_all()
    alert = session.get(HotspotAlert, alert.id)
    proposal = alert.proposal
    assert alert.status == "actioned" and proposal is not None
    assert response.headers["Location"].endswith(f"/proposals/{proposal.id}")
    assert proposal.category.code == "G01-09" and proposal.area.code == "LJ-JB"
    assert "下水道" in proposal.title
