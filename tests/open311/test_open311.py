"""Open311 GeoReport v2: JSON and XML, the spec's errors, POST over plain HTTP, and the
third-party ``georeport`` client (unmodified) against the portal on a loopback port."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from xml.etree import ElementTree as ET

import httpx
import pytest
from georeport import GeoReport
from sqlalchemy import select
from werkzeug.serving import make_server

from portal.api.services import create_api_key
from portal.cases.models import Case
from portal.cases.status import transition
from portal.db import utcnow

LAMP = "小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。"
NOISE = "楼下饭店每天深夜排风扇噪音很大，影响休息，希望环保部门来测一下。"


@contextmanager
def serve(app: Any) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/open311/v2"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture
def submit_key(session) -> str:  # type: ignore[no-untyped-def]
    created = create_api_key(session, name="city app", scopes=["cases:submit"])
    session.commit()
    return created.secret


@pytest.fixture
def cases(make_case, session) -> list[Case]:  # type: ignore[no-untyped-def]
    """Two public cases; the first resolved with a public reply."""
    lamp = make_case(
        text=LAMP, category_code="G01-02", lat=28.22213, lon=112.86047, address="临江路18号3栋"
    )
    noise = make_case(text=NOISE, category_code="G02-02")
    session.refresh(lamp)
    if lamp.status == "triage":
        transition(session, lamp, "dispatch", actor=None, actor_role="coordinator")
    transition(session, lamp, "accept", actor=None, actor_role="staff")
    transition(session, lamp, "resolve", actor=None, actor_role="staff", note="路灯已更换。")
    session.commit()
    return [lamp, noise]


def test_discovery_and_services(client, jurisdiction) -> None:  # type: ignore[no-untyped-def]
    discovery = client.get("/open311/v2/discovery.json").json
    assert discovery["endpoints"][0]["specification"] == "http://wiki.open311.org/GeoReport_v2"
    services = client.get("/open311/v2/services.json").json
    assert isinstance(services, list) and services
    lamp = next(s for s in services if s["service_code"] == "G01-02")
    assert lamp["group"] == "城乡建设" and lamp["type"] == "realtime" and lamp["metadata"] is False
    assert not any(s["service_code"] == "G01" for s in services)  # groups are not services
    xml = ET.fromstring(client.get("/open311/v2/services.xml").data)
    assert xml.tag == "services" and xml.find("service/service_code") is not None
    definition = client.get("/open311/v2/services/G01-02.json").json
    assert definition == {"service_code": "G01-02", "attributes": []}
    assert (
        ET.fromstring(client.get("/open311/v2/services/G01-02.xml").data).tag
        == "service_definition"
    )
    missing = client.get("/open311/v2/services/NOPE.json")
    assert missing.status_code == 404
    assert missing.json[0]["code"] == 404 and missing.json[0]["description"]


def test_requests_list_filters_and_pages(client, cases) -> None:  # type: ignore[no-untyped-def]
    lamp, noise = cases
    everything = client.get("/open311/v2/requests.json").json
    assert {r["service_request_id"] for r in everything} == {
        lamp.tracking_number,
        noise.tracking_number,
    }
    by_id = {r["service_request_id"]: r for r in everything}
    resolved = by_id[lamp.tracking_number]
    assert resolved["status"] == "closed" and resolved["status_notes"] == "路灯已更换。"
    assert resolved["service_code"] == "G01-02" and resolved["agency_responsible"]
    assert resolved["lat"] == 28.222 and resolved["long"] == 112.86  # coarsened
    assert "18号" not in str(resolved["address"])  # the exact address stays internal
    assert by_id[noise.tracking_number]["status"] == "open"
    assert by_id[noise.tracking_number]["expected_datetime"]

    def ids(query: str) -> set[str]:
        response = client.get("/open311/v2/requests.json?" + query)
        assert response.status_code == 200, response.json
        return {r["service_request_id"] for r in response.json}

    assert ids("status=open") == {noise.tracking_number}
    assert ids("status=open,closed") == {lamp.tracking_number, noise.tracking_number}
    assert ids("service_code=G02-02") == {noise.tracking_number}
    assert ids("service_code=G01") == {lamp.tracking_number}  # a group code matches its services
    assert ids(f"service_request_id={noise.tracking_number},NOPE") == {noise.tracking_number}
    future = (utcnow() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert ids(f"start_date={future}") == set()
    assert len(ids("page_size=1")) == 1 and ids("page_size=1") != ids("page_size=1&page=2")
    assert ids("page=3&page_size=1") == set()
    for bad in (
        "status=pending",
        "start_date=yesterday",
        "page_size=0",
        "page_size=5000",
        "start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z",
    ):
        response = client.get("/open311/v2/requests.json?" + bad)
        assert response.status_code == 400, bad
        assert response.json[0]["code"] == 400
    xml = ET.fromstring(client.get("/open311/v2/requests.xml").data)
    assert xml.tag == "service_requests" and len(xml.findall("request")) == 2


def test_single_request_and_tokens(client, cases) -> None:  # type: ignore[no-untyped-def]
    lamp, _ = cases
    one = client.get(f"/open311/v2/requests/{lamp.tracking_number}.json")
    assert one.status_code == 200 and isinstance(one.json, list) and len(one.json) == 1
    xml = ET.fromstring(client.get(f"/open311/v2/requests/{lamp.tracking_number}.xml").data)
    assert xml.find("request/service_request_id").text == lamp.tracking_number
    missing = client.get("/open311/v2/requests/LJ-NOPE.xml")
    assert missing.status_code == 404
    assert ET.fromstring(missing.data).find("error/code").text == "404"
    token = client.get("/open311/v2/tokens/123.json")
    assert token.status_code == 404 and token.json[0]["code"] == 404
    assert client.get("/open311/v2/requests").status_code == 404  # the format is required


def test_post_request_over_http(app, jurisdiction, submit_key, session) -> None:  # type: ignore[no-untyped-def]
    with serve(app) as base, httpx.Client(base_url=base, timeout=30) as http:
        denied = http.post(
            "/requests.json",
            data={"api_key": "wrong", "description": LAMP, "lat": "28.22", "long": "112.86"},
        )
        assert denied.status_code == 403 and denied.json()[0]["code"] == 403
        reader = create_api_key(session, name="reader", scopes=["cases:read"]).secret
        session.commit()
        no_scope = http.post(
            "/requests.json",
            data={"api_key": reader, "description": LAMP, "lat": "28.22", "long": "112.86"},
        )
        assert no_scope.status_code == 403
        created = http.post(
            "/requests.json",
            data={
                "api_key": submit_key,
                "service_code": "G01-02",
                "description": LAMP,
                "lat": "28.222",
                "long": "112.86",
                "first_name": "Li",
                "phone": "13912345678",
            },
        )
        assert created.status_code == 201, created.text
        [receipt] = created.json()
        assert receipt["service_request_id"] and receipt["service_notice"]
        # service_code omitted: the portal classifies the description (extension)
        classified = http.post(
            "/requests.xml",
            data={"api_key": submit_key, "description": NOISE, "address_string": "南湖社区"},
        )
        assert classified.status_code == 201, classified.text
        number = ET.fromstring(classified.content).find("request/service_request_id").text
        for data in (
            {"api_key": submit_key, "description": LAMP},  # no location
            {"api_key": submit_key, "lat": "28.2", "long": "112.8"},  # no description
            {"api_key": submit_key, "description": LAMP, "lat": "north", "long": "112.8"},
            {
                "api_key": submit_key,
                "description": LAMP,
                "lat": "28.2",
                "long": "112.8",
                "service_code": "NOPE",
            },
        ):
            response = http.post("/requests.json", data=data)
            assert response.status_code == 400, (data, response.text)
            assert response.json()[0]["code"] == 400
        too_big = http.post(
            "/requests.json", data={"api_key": submit_key, "description": "x" * 300_000}
        )
        assert too_big.status_code == 413 and too_big.json()[0]["code"] == 413
        looked_up = http.get(f"/requests/{receipt['service_request_id']}.json").json()[0]
        assert looked_up["service_code"] == "G01-02"
        assert "13912345678" not in str(looked_up)
    session.expire_all()
    case = session.scalar(select(Case).where(Case.tracking_number == number))
    assert case.channel == "open311" and case.submitter_id is None


@pytest.mark.parametrize("output_format", ["json", "xml"])
def test_georeport_client_works_unmodified(app, cases, output_format: str) -> None:  # type: ignore[no-untyped-def]
    lamp, noise = cases
    with serve(app) as base:
        client = GeoReport(base, output_format=output_format)
        services = client.get_service_list()
        assert any(s["service_code"] == "G01-02" for s in services)
        definition = client.get_service_definition("G01-02")
        assert definition["service_code"] == "G01-02"
        requests_ = client.get_service_requests(status="open")
        if isinstance(requests_, dict):  # xmltodict gives a dict for a single <request>
            requests_ = [requests_]
        assert [r["service_request_id"] for r in requests_] == [noise.tracking_number]
        one = client.get_service_request(lamp.tracking_number)
        if output_format == "xml" and isinstance(one, list):
            one = one[0]
        assert one["service_request_id"] == lamp.tracking_number
        assert one["status"] == "closed"
