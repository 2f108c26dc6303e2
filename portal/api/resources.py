"""JSON representations of portal objects for ``/api/v1`` (public fields only).

Case views come from ``portal.cases.services.public_case_view`` (the single source of what is
public) and are only reshaped here to the documented API fields.
"""

from __future__ import annotations

from typing import Any

from flask import current_app

from portal.api.services import PendingNotification
from portal.cases import services as case_services
from portal.cases.models import KINDS, Case
from portal.jurisdiction.models import Category, Department
from portal.system_messages import message_of, payload_note

__all__ = ["KINDS", "case_resource", "category_ref", "notification_resource", "preview_resource"]


def category_ref(category: Category | None) -> dict[str, Any] | None:
    if category is None:
        return None
    return {"code": category.code, "name": category.name}


def department_ref(department: Department | None) -> dict[str, Any] | None:
    if department is None:
        return None
    return {"code": department.code, "name": department.name}


def case_url(tracking_number: str) -> str:
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    return f"{base}/cases/{tracking_number}"


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def case_resource(case: Case) -> dict[str, Any]:
    """The public case view with ISO timestamps, absolute URLs and ``url`` to the public page."""
    view = dict(case_services.public_case_view(case))
    base = str(current_app.config["PUBLIC_BASE_URL"]).rstrip("/")
    for field in ("created_at", "updated_at", "due_at"):
        if field in view:
            view[field] = _iso(view[field])
    view["status_label"] = str(view["status_label"])
    if "kind_label" in view:
        view["kind_label"] = str(view["kind_label"])
    view["timeline"] = [
        {
            "type": item["type"],
            "at": _iso(item["at"]),
            "note": item.get("note"),
            "message": item.get("message"),
            "status": item.get("to_status"),
            "label": str(item.get("label") or item["type"]),
        }
        for item in view["timeline"]
    ]
    view["photos"] = [
        {**photo, "url": base + photo["url"] if photo["url"].startswith("/") else photo["url"]}
        for photo in view.get("photos", [])
    ]
    view["url"] = case_url(view["tracking_number"])
    return view


def preview_resource(preview: Any) -> dict[str, Any]:
    prediction = preview.analysis.prediction
    group = category_ref(preview.group) or {"code": prediction.group, "name": prediction.group}
    return {
        "kind": prediction.kind,
        "group": group,
        "category": category_ref(preview.category),
        "department": department_ref(preview.department),
        "urgency": prediction.urgency,
        "priority": preview.priority,
        "confidence": round(float(prediction.confidence), 4),
        "explanation": [str(e) for e in prediction.explanation],
        "masked_text": preview.analysis.masked_text,
        "similar": [
            {
                "tracking_number": s.case.tracking_number,
                "title": s.case.title,
                "status": s.case.status,
                "score": round(float(s.score), 4),
                "distance_m": None if s.distance_m is None else round(float(s.distance_m), 1),
                "url": case_url(s.case.tracking_number),
            }
            for s in preview.similar
        ],
    }


def notification_resource(pending: PendingNotification, channel: str) -> dict[str, Any]:
    from portal.cases.status import PUBLIC_STATUS

    note = pending.notification
    payload = note.payload or {}
    status = payload.get("status") or pending.case_status
    tracking_number = payload.get("tracking_number") or pending.tracking_number
    return {
        "id": note.id,
        "recipient": f"{channel}:{pending.external_id}",
        "kind": note.kind,
        "event": payload.get("event"),
        "tracking_number": tracking_number,
        "status": status,
        "status_label": _in_locale(pending.locale, status_label, status) if status else None,
        "locale": pending.locale,
        "public_status": PUBLIC_STATUS.get(status) if status else None,
        "note": _in_locale(pending.locale, payload_note, payload),
        "message": message_of(payload),
        "created_at": _iso(note.created_at),
        "url": case_url(tracking_number) if tracking_number else None,
    }


def _in_locale(locale: str, label: Any, value: Any) -> str | None:
    """A label or note in the recipient's language (the bot's request has no resident)."""
    from flask_babel import force_locale

    with force_locale(locale or "zh_Hans_CN"):
        text = label(value)
        return None if text is None else str(text)


def status_label(status: str) -> str:
    return str(case_services.status_label(status))
