"""GeoReport v2 shapes of services and service requests, in JSON and in the spec's XML.

Service requests are built from ``public_case_view`` (the one definition of what is public). The
exact point of a case is internal, so ``lat``/``long`` are rounded to three decimals (about 100 m)
and ``address`` names the street and community, never the resident's address.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET

from flask import Response, current_app
from flask_babel import gettext as _

from portal.cases.models import Case
from portal.cases.services import public_case_view
from portal.cases.status import PUBLIC_STATUS
from portal.jurisdiction.models import Category

COORDINATE_DECIMALS = 3
#: XML element name of the items of each list (GeoReport v2 roots and nested lists).
LIST_ITEMS = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "endpoints": "endpoint",
    "formats": "format",
    "attributes": "attribute",
    "values": "value",
}


def w3c(value: datetime | None) -> str | None:
    return value.isoformat(timespec="seconds") if value is not None else None


def service(category: Category) -> dict[str, Any]:
    group = category.group
    return {
        "service_code": category.code,
        "service_name": category.name,
        "description": category.description or f"{group.name} · {category.name}",
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(category.keywords or []),
        "group": group.name,
    }


def service_definition(category: Category) -> dict[str, Any]:
    return {"service_code": category.code, "attributes": []}


def service_notice(case: Case) -> str:
    if case.due_at is not None:
        return _(
            "Tracking number %(n)s. Expected answer by %(d)s (UTC).",
            n=case.tracking_number,
            d=case.due_at.strftime("%Y-%m-%d %H:%M"),
        )
    return _("Tracking number %(n)s. A coordinator will route it shortly.", n=case.tracking_number)


def _coarse(value: float | None) -> float | None:
    return round(value, COORDINATE_DECIMALS) if value is not None else None


def service_request(case: Case) -> dict[str, Any]:
    view = public_case_view(case)
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    category = view.get("category") or view.get("group") or {}
    area = view.get("area") or {}
    address = " ".join(p for p in (area.get("street"), area.get("community")) if p) or area.get(
        "name"
    )
    lat, lon = _coarse(case.lat), _coarse(case.lon)
    if lat is None and case.area is not None:
        lat, lon = _coarse(case.area.centroid_lat), _coarse(case.area.centroid_lon)
    photos = view.get("photos") or []
    return {
        "service_request_id": view["tracking_number"],
        "status": view.get("public_status") or PUBLIC_STATUS.get(case.status, "open"),
        "status_notes": view.get("latest_reply"),
        "service_name": category.get("name"),
        "service_code": category.get("code"),
        "description": view["text"],
        "agency_responsible": (view.get("department") or {}).get("name"),
        "service_notice": str(view.get("status_label") or ""),
        "requested_datetime": w3c(view["created_at"]),
        "updated_datetime": w3c(view.get("updated_at")),
        "expected_datetime": w3c(view.get("due_at")),
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        "media_url": (base + photos[0]["url"]) if photos else None,
    }


def _to_xml(parent: ET.Element, name: str, value: Any) -> None:
    element = ET.SubElement(parent, name)
    _fill(element, name, value)


def _fill(element: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _to_xml(element, key, item)
    elif isinstance(value, list):
        for item in value:
            _to_xml(element, LIST_ITEMS.get(name, "item"), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)


def to_xml(body: Any, root: str) -> bytes:
    element = ET.Element(root)
    _fill(element, root, body)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def render(body: Any, fmt: str, *, root: str) -> Response:
    """``body`` as JSON (arrays stay arrays) or as XML under ``root`` (lists use ``LIST_ITEMS``)."""
    if fmt == "xml":
        return Response(
            to_xml(body, root), mimetype="text/xml", content_type="text/xml; charset=utf-8"
        )
    return Response(
        json.dumps(body, ensure_ascii=False), content_type="application/json; charset=utf-8"
    )
