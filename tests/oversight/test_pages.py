"""The public oversight pages and downloads, in Chinese and English, with no personal data."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest

from portal.db import utcnow
from portal.oversight import dp, services
from portal.oversight.services import Filters, Period

CANARY_NAME = "张三丰金丝雀"
CANARY_PHONE = "13912345678"
CANARY_ADDRESS = "金丝雀路88号"


@pytest.fixture
def history(session, world, add_case):  # type: ignore[no-untyped-def]
    """Five recent cases: handled on time, late, returned, reopened, waiting in triage; one
    carries a contact (the canary) that must never appear on a public page."""
    start = utcnow() - timedelta(days=3)
    add_case(
        area=world.east_community,
        category=world.roads,
        department=world.roads_dept,
        created=start,
        respond_due=24,
        due=120,
        status="closed",
        events=[
            ("submit", 0, "assigned"),
            ("accept", 2, "accepted"),
            ("contact", 3, None),
            ("resolve", 20, "resolved"),
            ("close", 30, "closed"),
        ],
        verdicts=[(1, "resolved", 5)],
        contact=(CANARY_NAME, CANARY_PHONE),
        text=f"路面有坑，住在{CANARY_ADDRESS[:3]}附近的居民反映。",
    )
    add_case(
        area=world.east,
        category=world.roads,
        department=world.roads_dept,
        created=start,
        respond_due=24,
        due=30,
        status="resolved",
        events=[("submit", 0, "assigned"), ("accept", 30, "accepted"), ("resolve", 60, "resolved")],
        verdicts=[(1, "not_resolved", 2)],
    )
    add_case(
        area=world.west,
        category=world.lights,
        department=world.lights_dept,
        created=start,
        respond_due=24,
        due=120,
        status="accepted",
        corrected=True,
        events=[
            ("submit", 0, "assigned"),
            ("return", 1, "triage"),
            ("dispatch", 2, "assigned"),
            ("accept", 3, "accepted"),
        ],
    )
    add_case(
        area=world.west,
        category=world.lights,
        department=world.lights_dept,
        created=start,
        respond_due=24,
        due=48,
        status="accepted",
        events=[
            ("submit", 0, "assigned"),
            ("accept", 1, "accepted"),
            ("resolve", 5, "resolved"),
            ("reopen", 8, "assigned"),
            ("accept", 9, "accepted"),
        ],
    )
    add_case(
        area=None,
        category=None,
        status="triage",
        predicted=False,
        created=start,
        events=[("submit", 0, "triage")],
    )
    return world


def test_dashboard_figures(session, history) -> None:  # type: ignore[no-untyped-def]
    board = services.dashboard(session, Period.last_days(7))
    assert board.total == 5
    assert board.status == {"triage": 1, "assigned": 0, "accepted": 2, "resolved": 1, "closed": 1}
    assert board.by_street == {"D-E": 2, "D-W": 2, "": 1}
    r = board.rates
    assert (r["return"].numerator, r["return"].denominator) == (1, 4)
    assert (r["reopen"].numerator, r["reopen"].denominator) == (1, 3)
    assert (r["resolution"].numerator, r["resolution"].denominator) == (1, 2)
    assert (r["response"].numerator, r["response"].denominator) == (1, 4)  # only one contacted
    assert (r["overdue"].numerator, r["overdue"].denominator) == (1, 3)  # due 48 h, 3 days ago
    east = services.dashboard(session, Period.last_days(7), Filters(street="D-E"))
    assert east.total == 2


def test_league_tables_rank_and_publish_formulas(client, history) -> None:  # type: ignore[no-untyped-def]
    month = utcnow().astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    if (utcnow() - timedelta(days=3)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m") != month:
        month = (utcnow() - timedelta(days=3)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    page = client.get(f"/dashboard/departments?month={month}&sort=reopen&lang=en")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index("道路管理所") < html.index("照明管理所")  # lights reopened 1 of 1
    assert "accepted and contacted" in html  # formulas beside figures
    assert "On-time rate: the share of cases resolved by their resolution deadline" in html
    zh = client.get(f"/dashboard/departments?month={month}&lang=zh_Hans_CN").get_data(as_text=True)
    assert "按期办结率：在办理时限内办结的案件所占比例" in zh and "resolution deadline" not in zh
    streets = client.get(f"/dashboard/streets?month={month}&format=csv")
    rows = list(csv.reader(io.StringIO(streets.get_data(as_text=True).lstrip("\ufeff"))))
    assert streets.mimetype == "text/csv" and rows[1][1] in {"东湖街道", "西山街道"}
    assert {r[1] for r in rows[1:]} == {"东湖街道", "西山街道"}
    assert client.get(f"/dashboard/streets?month={month}&sort=bogus").status_code == 422
    assert client.get("/dashboard/departments?month=2026-99").status_code == 422


def test_every_chart_has_a_figure_and_a_csv(client, history) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/dashboard?days=7&lang=zh_Hans_CN").get_data(as_text=True)
    assert 'lang="zh-Hans"' in html and "东湖街道" in html
    for name in ("cases_by_group", "cases_by_street", "status", "rates"):
        assert f"/dashboard/chart/{name}.json" in html and f"/dashboard/data/{name}.csv" in html
        figure = client.get(f"/dashboard/chart/{name}.json?days=7").get_json()
        assert figure["data"] and figure["layout"]["title"]["text"]
    by_group = client.get("/dashboard/chart/cases_by_group.json?days=7").get_json()
    assert {t["name"] for t in by_group["data"]} <= {"城乡建设", "Unknown", "未知"} | {
        t["name"] for t in by_group["data"]
    }
    assert sum(sum(t["y"]) for t in by_group["data"]) == 5
    table = client.get("/dashboard/data/cases_by_street.csv?days=7&bucket=week")
    rows = list(csv.reader(io.StringIO(table.get_data(as_text=True).lstrip("\ufeff"))))
    assert "东湖街道" in rows[0] and sum(int(v) for r in rows[1:] for v in r[1:]) == 5
    status = client.get("/dashboard/data/status.csv?days=7").get_data(as_text=True)
    assert status.count("\n") == 6
    svg = client.get("/dashboard/map.svg?days=7")
    assert svg.mimetype == "image/svg+xml" and svg.get_data(as_text=True).count("<polygon") == 2
    assert "东湖街道" in svg.get_data(as_text=True)
    js = client.get("/dashboard/plotly.min.js")
    assert js.status_code == 200 and b"plotly.js" in js.data[:200]
    assert "immutable" in js.headers["Cache-Control"]
    js.close()
    assert client.get("/dashboard/data/nothing.csv").status_code == 404
    assert client.get("/dashboard?days=0").status_code == 422
    assert client.get("/dashboard?group=NOPE").status_code == 422


def test_open_data_is_paginated_with_link_headers(client, history) -> None:  # type: ignore[no-untyped-def]
    first = client.get("/open-data/cases.json?per_page=2")
    body = first.get_json()
    assert body["total"] == 5 and body["pages"] == 3 and len(body["items"]) == 2
    assert 'rel="next"' in first.headers["Link"] and "page=2" in first.headers["Link"]
    assert 'rel="prev"' not in first.headers["Link"]
    item = body["items"][0]
    assert set(item) == {
        "tracking_number",
        "kind",
        "group",
        "group_code",
        "category",
        "category_code",
        "street",
        "status",
        "created_date",
        "accepted_date",
        "resolved_date",
        "overdue",
        "me_too_count",
        "text",
    }
    assert item["street"] == "东湖街道" and item["group"] == "城乡建设"
    last = client.get("/open-data/cases.csv?page=3&per_page=2")
    rows = list(csv.reader(io.StringIO(last.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "tracking_number" and len(rows) == 2
    assert 'rel="prev"' in last.headers["Link"] and 'rel="next"' not in last.headers["Link"]
    assert client.get("/open-data/cases.json?per_page=5000").status_code == 422
    assert client.get("/open-data/cases.json?page=x").status_code == 422
    doc = client.get("/open-data?lang=en").get_data(as_text=True)
    for field in ("tracking_number", "me_too_count", "resolved_date", "per_page", "Link"):
        assert field in doc


def test_statistics_page_states_the_noise(client, session, history) -> None:  # type: ignore[no-untyped-def]
    assert "Nothing has been released" in client.get("/open-data/statistics?lang=en").get_data(
        as_text=True
    )
    month = (utcnow() - timedelta(days=40)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    release, _ = dp.release_month(session, month=month, query="street_group")
    session.commit()
    html = client.get("/open-data/statistics?lang=en").get_data(as_text=True)
    k = dp.noise_interval(release.scale)
    assert f"within ±{k} of the true count" in html and "ε = 0.5" in html
    assert "never draws new noise" in html
    again = client.get(f"/open-data/statistics/{month}/street_group.csv").get_data(as_text=True)
    assert again == client.get(f"/open-data/statistics/{month}/street_group.csv").get_data(
        as_text=True
    )
    assert client.get("/open-data/statistics/2001-01/street_group.csv").status_code == 404


def test_transparency_page(client, app, session, history) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/transparency?lang=en").get_data(as_text=True)
    assert "Training messages" in html and "60 %" in html  # the triage threshold
    assert "1 of 4 cases the model read (25.0 %)" in html
    assert "No evaluation of this model has been published yet" in html
    # Routing accuracy by street: west 1 of 2 corrected (50 %) vs district 75 % → flagged.
    rows, district = services.fairness(session, Period.last_days(7))
    west = next(r for r in rows if r.street == "D-W")
    assert west.accuracy == 0.5 and west.accuracy_gap and district["accuracy"] == 0.75
    assert not next(r for r in rows if r.street == "D-E").accuracy_gap
    # A published evaluation is shown per group.
    from pathlib import Path

    evaluation = {
        "rows": 100,
        "folds": 5,
        "accuracy": 0.8,
        "macro_f1": 0.78,
        "per_class": {
            "城乡建设": {"precision": 0.9, "recall": 0.85, "f1-score": 0.87, "support": 40}
        },
    }
    path = Path(app.config["NLP_MODEL_DIR"]) / "evaluation.json"
    path.write_text(json.dumps(evaluation, ensure_ascii=False), encoding="utf-8")
    try:
        html = client.get("/transparency?lang=en").get_data(as_text=True)
    finally:
        path.unlink()
    assert "85.0 %" in html and "5-fold cross-validation on 100 messages" in html


@pytest.mark.parametrize("lang", ["zh_Hans_CN", "en"])
def test_no_personal_data_on_any_public_page(client, history, lang) -> None:  # type: ignore[no-untyped-def]
    month = (utcnow() - timedelta(days=3)).astimezone(dp.LOCAL_TZ).strftime("%Y-%m")
    urls = [
        "/dashboard?days=7",
        "/dashboard/departments?month=" + month,
        "/dashboard/streets?month=" + month,
        "/open-data",
        "/open-data/statistics",
        "/transparency",
        "/open-data/cases.json",
        "/open-data/cases.csv",
        "/dashboard/map.svg?days=7",
        "/dashboard/departments?format=csv&month=" + month,
        *(f"/dashboard/chart/{n}.json?days=7" for n in ("cases_by_group", "status", "rates")),
        *(
            f"/dashboard/data/{n}.csv?days=7"
            for n in ("cases_by_group", "cases_by_street", "status", "streets", "rates")
        ),
    ]
    for url in urls:
        response = client.get(url + ("&" if "?" in url else "?") + f"lang={lang}")
        assert response.status_code == 200, url
        body = response.get_data(as_text=True)
        for secret in (CANARY_NAME, CANARY_PHONE, CANARY_ADDRESS):
            assert secret not in body, (url, secret)


def test_everyone_sees_the_dashboard_link(client, world) -> None:  # type: ignore[no-untyped-def]
    html = client.get("/dashboard?lang=en").get_data(as_text=True)
    assert 'href="/dashboard"' in html
    assert 'href="/dashboard"' in client.get("/open-data?lang=zh_Hans_CN").get_data(as_text=True)


def test_periods() -> None:
    p = Period.last_days(7, now=datetime(2026, 11, 29, 12, tzinfo=UTC))
    assert len(p.local_days()) == 7 and p.local_days()[-1].isoformat() == "2026-11-29"
    with pytest.raises(Exception, match="days"):
        Period.last_days(1000)


def test_dashboard_links_to_hotspot_alerts_for_coordinators(app, client, world, make_user) -> None:  # type: ignore[no-untyped-def]
    from flask import Blueprint, url_for

    from tests.factories import DEFAULT_PASSWORD

    endpoint = next((e for e in app.view_functions if e.startswith("hotspots.")), None)
    if endpoint is None:  # the hotspots feature is not installed: stand in its blueprint
        hotspots = Blueprint("hotspots", __name__)
        hotspots.add_url_rule("/workbench/hotspots", "alerts", lambda: "alerts")
        app.register_blueprint(hotspots)
    with app.test_request_context("/"):
        alerts_url = url_for("hotspots.alerts")
    assert f'href="{alerts_url}"' not in client.get("/dashboard?lang=en").get_data(as_text=True)
    coordinator = make_user(role="coordinator")
    client.post("/login", data={"email": coordinator.email, "password": DEFAULT_PASSWORD})
    html = client.get("/dashboard?lang=en").get_data(as_text=True)
    assert f'href="{alerts_url}"' in html
