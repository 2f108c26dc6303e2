"""The OpenAPI 3.1 description of ``/api/v1``, kept beside the views it describes.

schemathesis runs the whole document against the app (tests/api/test_openapi_conformance.py), so
a change to a view's input or output must be made here too.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import nlp
from portal.api.services import SCOPES
from portal.cases.models import KINDS
from portal.deliberation.openapi import deliberation_paths, deliberation_schemas

ERROR_STATUSES = {
    "400": "Malformed request (e.g. the body is not valid JSON)",
    "401": "Missing, unknown or revoked API key",
    "403": "The key lacks a scope, or the call needs a resident the key may act for",
    "404": "No such case or resource",
    "409": "Conflict (e.g. the same Idempotency-Key is still being processed)",
    "413": "The request body is too large",
    "415": "The body is not application/json",
    "422": "Invalid data; ``code`` and ``message`` say which field and why",
    "429": "Rate limit exceeded; see Retry-After",
}

NULLABLE_STRING = {"type": ["string", "null"]}
#: A note the system wrote, as stored: its code and arguments (``note`` is its text in the
#: requested language, or the recipient's for notifications). Null for a person's words.
SYSTEM_MESSAGE = {
    "oneOf": [
        {
            "type": "object",
            "required": ["code", "args"],
            "properties": {"code": {"type": "string"}, "args": {"type": "object"}},
        },
        {"type": "null"},
    ],
    "description": "The system message behind ``note`` (code and arguments), if any",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _errors(*statuses: str) -> dict[str, Any]:
    return {status: {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema_name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(schema_name)}}}


def _param(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/parameters/{name}"}


COMMON = ("400", "401", "403", "429")


def _schemas() -> dict[str, Any]:
    ref = {
        "type": "object",
        "required": ["code", "name"],
        "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
    }
    nullable_ref = {"oneOf": [_ref("Ref"), {"type": "null"}]}
    text = {"type": "string", "minLength": 1, "maxLength": nlp.MAX_TEXT_CHARS, "pattern": r"\S"}
    lat = {"type": "number", "minimum": -90, "maximum": 90}
    lon = {"type": "number", "minimum": -180, "maximum": 180}
    case_view = {
        "type": "object",
        "required": [
            "tracking_number",
            "kind",
            "status",
            "status_label",
            "group",
            "category",
            "department",
            "area",
            "title",
            "text",
            "created_at",
            "due_at",
            "overdue",
            "me_too_count",
            "timeline",
            "latest_reply",
            "url",
        ],
        "properties": {
            "tracking_number": {"type": "string"},
            "kind": {"type": "string", "enum": list(KINDS)},
            "status": {
                "type": "string",
                "enum": ["triage", "assigned", "accepted", "resolved", "closed"],
            },
            "status_label": {"type": "string"},
            "group": nullable_ref,
            "category": nullable_ref,
            "department": nullable_ref,
            "area": {
                "oneOf": [
                    {
                        "type": "object",
                        "required": ["code", "name", "street", "community"],
                        "properties": {
                            "code": {"type": "string"},
                            "name": {"type": "string"},
                            "street": NULLABLE_STRING,
                            "community": NULLABLE_STRING,
                        },
                    },
                    {"type": "null"},
                ]
            },
            "kind_label": {"type": "string"},
            "public_status": {"type": "string", "enum": ["open", "closed"]},
            "priority": {"type": "string"},
            "channel": {"type": "string"},
            "submitter": {"type": ["string", "null"], "description": "Shown only if not anonymous"},
            "updated_at": {"type": ["string", "null"], "format": "date-time"},
            "title": {"type": "string"},
            "text": {"type": "string", "description": "The masked text (personal data removed)"},
            "created_at": {"type": "string", "format": "date-time"},
            "due_at": {"type": ["string", "null"], "format": "date-time"},
            "overdue": {"type": "boolean"},
            "me_too_count": {"type": "integer", "minimum": 0},
            "timeline": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["type", "at", "note", "status"],
                    "properties": {
                        "type": {"type": "string"},
                        "at": {"type": "string", "format": "date-time"},
                        "note": NULLABLE_STRING,
                        "message": SYSTEM_MESSAGE,
                        "status": NULLABLE_STRING,
                        "label": {"type": "string"},
                    },
                },
            },
            "latest_reply": NULLABLE_STRING,
            "photos": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "url", "content_type"],
                    "properties": {
                        "id": {"type": "integer"},
                        "url": {"type": "string"},
                        "content_type": {"type": "string"},
                    },
                },
            },
            "url": {"type": "string", "format": "uri"},
        },
    }
    return {
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string"},
                "field": {"type": "string", "description": "The offending input, when known"},
            },
        },
        "Ref": ref,
        "Catalogue": {
            "type": "object",
            "required": ["groups"],
            "properties": {
                "groups": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["code", "name", "name_en", "categories"],
                        "properties": {
                            "code": {"type": "string"},
                            "name": {"type": "string"},
                            "name_en": NULLABLE_STRING,
                            "categories": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "required": ["code", "name", "name_en"],
                                    "properties": {
                                        "code": {"type": "string"},
                                        "name": {"type": "string"},
                                        "name_en": NULLABLE_STRING,
                                    },
                                },
                            },
                        },
                    },
                }
            },
        },
        "PreviewRequest": {
            "type": "object",
            "required": ["text"],
            "properties": {"text": text, "lat": lat, "lon": lon},
        },
        "Preview": {
            "type": "object",
            "required": [
                "kind",
                "group",
                "category",
                "department",
                "urgency",
                "priority",
                "confidence",
                "explanation",
                "masked_text",
                "similar",
            ],
            "properties": {
                "kind": {"type": "string"},
                "group": _ref("Ref"),
                "category": nullable_ref,
                "department": nullable_ref,
                "urgency": {"type": "string"},
                "priority": {"type": "string"},
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                "explanation": {"type": "array", "items": {"type": "string"}},
                "masked_text": {"type": "string"},
                "similar": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": [
                            "tracking_number",
                            "title",
                            "status",
                            "score",
                            "distance_m",
                            "url",
                        ],
                        "properties": {
                            "tracking_number": {"type": "string"},
                            "title": {"type": "string"},
                            "status": {"type": "string"},
                            "score": {"type": "number"},
                            "distance_m": {"type": ["number", "null"]},
                            "url": {"type": "string"},
                        },
                    },
                },
            },
        },
        "Photo": {
            "type": "object",
            "required": ["filename", "content_type", "data_base64"],
            "properties": {
                "filename": {"type": "string", "maxLength": 200},
                "content_type": {
                    "type": "string",
                    "enum": ["image/jpeg", "image/png", "image/webp"],
                },
                "data_base64": {"type": "string", "contentEncoding": "base64", "minLength": 4},
            },
        },
        "CaseSubmission": {
            "type": "object",
            "required": ["text"],
            "description": "With ``follow_tracking_number`` the resident follows that case instead "
            '("me too"; needs X-Shuzhi-Resident) and the other fields are ignored.',
            "properties": {
                "text": text,
                "kind": {"type": "string", "enum": list(KINDS)},
                "category_code": {"type": "string", "maxLength": 20},
                "address": {"type": "string", "maxLength": 200},
                "lat": lat,
                "lon": lon,
                "photos": {"type": "array", "maxItems": 3, "items": _ref("Photo")},
                "contact_name": {"type": "string", "maxLength": 100},
                "contact_phone": {"type": "string", "maxLength": 40},
                "consent": {"type": "boolean"},
                "anonymous": {"type": "boolean"},
                "follow_tracking_number": {"type": "string", "maxLength": 24},
            },
        },
        "Case": case_view,
        "CasePage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total", "pages"],
            "properties": {
                "items": {"type": "array", "items": _ref("Case")},
                "page": {"type": "integer", "minimum": 1},
                "per_page": {"type": "integer", "minimum": 1},
                "total": {"type": "integer", "minimum": 0},
                "pages": {"type": "integer", "minimum": 0},
            },
        },
        "VerdictRequest": {
            "type": "object",
            "required": ["resolved", "satisfaction"],
            "properties": {
                "resolved": {"type": "boolean"},
                "satisfaction": {"type": "integer", "minimum": 1, "maximum": 5},
                "comment": {"type": "string", "maxLength": 2000},
            },
        },
        "LinkRequest": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 40}},
        },
        "LinkResult": {
            "type": "object",
            "required": ["linked", "display_name"],
            "properties": {"linked": {"type": "boolean"}, "display_name": {"type": "string"}},
        },
        "Notification": {
            "type": "object",
            "required": [
                "id",
                "recipient",
                "kind",
                "tracking_number",
                "status",
                "status_label",
                "note",
                "created_at",
                "url",
            ],
            "properties": {
                "id": {"type": "integer"},
                "recipient": {"type": "string", "examples": ["telegram:12345"]},
                "kind": {
                    "type": "string",
                    "examples": ["status_changed", "reply", "verdict_request"],
                },
                "event": NULLABLE_STRING,
                "tracking_number": NULLABLE_STRING,
                "status": NULLABLE_STRING,
                "status_label": NULLABLE_STRING,
                "public_status": {"type": ["string", "null"], "enum": ["open", "closed", None]},
                "locale": {"type": "string", "description": "The recipient's language"},
                "note": {
                    "type": ["string", "null"],
                    "description": "In the recipient's language when the system wrote it",
                },
                "message": SYSTEM_MESSAGE,
                "created_at": {"type": "string", "format": "date-time"},
                "url": NULLABLE_STRING,
            },
        },
        "NotificationPage": {
            "type": "object",
            "required": ["items", "next_cursor"],
            "properties": {
                "items": {"type": "array", "items": _ref("Notification")},
                "next_cursor": {"type": "string", "description": "Pass as ``after`` next time"},
            },
        },
        "AckRequest": {
            "type": "object",
            "required": ["ids"],
            "properties": {
                "ids": {
                    "type": "array",
                    "maxItems": 500,
                    "items": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
                }
            },
        },
        "AckResult": {
            "type": "object",
            "required": ["acked"],
            "properties": {"acked": {"type": "integer", "minimum": 0}},
        },
        **_personal_data_schemas(),
    }


def _record(properties: dict[str, Any]) -> dict[str, Any]:
    """An object with exactly these (all present) keys."""
    return {"type": "object", "required": list(properties), "properties": properties}


def _personal_data_schemas() -> dict[str, Any]:
    """``/me/data`` (access) and ``/me/data/erase`` (erasure): ``portal.privacy.services``."""
    when = {"type": ["string", "null"], "format": "date-time"}
    string = {"type": "string"}
    integer = {"type": "integer"}
    nullable_integer = {"type": ["integer", "null"]}
    number = {"type": ["number", "null"]}
    count = {"type": "integer", "minimum": 0}
    contact = _record(
        {
            "name": NULLABLE_STRING,
            "phone": NULLABLE_STRING,
            "consent_purpose": NULLABLE_STRING,
            "consent_notice_version": NULLABLE_STRING,
            "consented_at": when,
        }
    )
    return {
        "PersonalData": {
            "type": "object",
            "description": "Everything the portal holds about the resident (PIPL art. 45), "
            "including the raw texts and contact details that the public never sees.",
            "required": [
                "format",
                "generated_at",
                "privacy_notice_version",
                "account",
                "identities",
                "confirmed_phone",
                "cases",
                "followed_cases",
                "verdicts",
                "proposals",
                "comments",
                "supports",
            ],
            "properties": {
                "format": {"type": "string", "const": "shuzhi-personal-data/1"},
                "generated_at": {"type": "string", "format": "date-time"},
                "privacy_notice_version": string,
                "account": _record(
                    {
                        "id": integer,
                        "email": NULLABLE_STRING,
                        "display_name": NULLABLE_STRING,
                        "role": string,
                        "locale": NULLABLE_STRING,
                        "verification_level": nullable_integer,
                        "created_at": when,
                        "last_login_at": when,
                    }
                ),
                "identities": {
                    "type": "array",
                    "items": _record(
                        {"channel": string, "external_id": string, "created_at": when}
                    ),
                },
                "confirmed_phone": {
                    "oneOf": [
                        _record({"phone": string, "channel": string, "confirmed_at": when}),
                        {"type": "null"},
                    ],
                    "description": "The number a channel confirmed for the account (level 1)",
                },
                "cases": {
                    "type": "array",
                    "items": _record(
                        {
                            "tracking_number": string,
                            "kind": string,
                            "status": string,
                            "channel": NULLABLE_STRING,
                            "created_at": when,
                            "closed_at": when,
                            "text": NULLABLE_STRING,
                            "public_text": NULLABLE_STRING,
                            "address": NULLABLE_STRING,
                            "lat": number,
                            "lon": number,
                            "anonymous": {"type": ["boolean", "null"]},
                            "contact": {"oneOf": [contact, {"type": "null"}]},
                        }
                    ),
                },
                "followed_cases": {
                    "type": "array",
                    "items": _record(
                        {"tracking_number": string, "reason": NULLABLE_STRING, "since": when}
                    ),
                },
                "verdicts": {
                    "type": "array",
                    "items": _record(
                        {
                            "tracking_number": string,
                            "round": integer,
                            "outcome": string,
                            "resolved": {"type": ["boolean", "null"]},
                            "satisfaction": nullable_integer,
                            "comment": NULLABLE_STRING,
                            "created_at": when,
                        }
                    ),
                },
                "proposals": {
                    "type": "array",
                    "items": _record(
                        {
                            "id": integer,
                            "title": string,
                            "text": NULLABLE_STRING,
                            "status": string,
                            "created_at": when,
                        }
                    ),
                },
                "comments": {
                    "type": "array",
                    "items": _record(
                        {
                            "id": integer,
                            "proposal_id": nullable_integer,
                            "case_id": nullable_integer,
                            "stance": string,
                            "body": NULLABLE_STRING,
                            "created_at": when,
                            "deleted_at": when,
                        }
                    ),
                },
                "supports": {
                    "type": "array",
                    "items": _record(
                        {"proposal_id": integer, "channel": NULLABLE_STRING, "created_at": when}
                    ),
                },
            },
        },
        "ErasureRequest": {
            "type": "object",
            "required": ["confirm"],
            "properties": {
                "confirm": {
                    "type": "string",
                    "description": "DELETE (any case, surrounding spaces ignored) to confirm; "
                    "anything else → 422",
                    "examples": ["DELETE"],
                }
            },
        },
        "ErasureResult": _record(
            {
                "erased": {"type": "boolean", "const": True},
                "cases": count,
                "contacts": count,
                "identities": count,
                "proposals": count,
                "verdict_comments": count,
                "comments": count,
            }
        ),
    }


@cache
def openapi_document() -> dict[str, Any]:
    responses = {
        f"Error{status}": {
            "description": description,
            "content": {"application/json": {"schema": _ref("Error")}},
            **(
                {
                    "headers": {
                        "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds"}
                    }
                }
                if status == "429"
                else {}
            ),
        }
        for status, description in ERROR_STATUSES.items()
    }
    parameters = {
        "Resident": {
            "name": "X-Shuzhi-Resident",
            "in": "header",
            "required": False,
            "description": "The resident a channel key acts for, e.g. telegram:12345 (needs the "
            "channel:telegram scope). Created on first sight.",
            "schema": {"type": "string", "pattern": "^telegram:[0-9]{1,20}$"},
        },
        "ResidentRequired": {
            "name": "X-Shuzhi-Resident",
            "in": "header",
            "required": True,
            "description": "The resident a channel key acts for, e.g. telegram:12345.",
            "schema": {"type": "string", "pattern": "^telegram:[0-9]{1,20}$"},
        },
        "ResidentName": {
            "name": "X-Shuzhi-Resident-Name",
            "in": "header",
            "required": False,
            "description": "Display name for a resident seen for the first time (percent-encoded UTF-8).",
            "schema": {"type": "string", "maxLength": 240},
        },
        "TrackingNumber": {
            "name": "tracking_number",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": 24},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": "Retrying with the same key and body replays the first response (header "
            "Idempotent-Replayed: true); another body → 422; while the first is running → 409.",
            "schema": {"type": "string", "pattern": "^[\\x21-\\x7e]{1,255}$"},
        },
        "Channel": {
            "name": "channel",
            "in": "query",
            "required": True,
            "schema": {"type": "string", "enum": ["telegram"]},
        },
        "ChannelOptional": {
            "name": "channel",
            "in": "query",
            "required": False,
            "description": "Defaults to the key's channel when it has exactly one.",
            "schema": {"type": "string", "enum": ["telegram"]},
        },
    }
    resident = [_param("Resident"), _param("ResidentName")]
    resident_required = [_param("ResidentRequired"), _param("ResidentName")]
    paths: dict[str, Any] = {
        "/catalogue": {
            "get": {
                "operationId": "getCatalogue",
                "summary": "Category groups and categories (Open311 service codes)",
                "responses": {"200": _json(_ref("Catalogue"), "The catalogue"), **_errors(*COMMON)},
            }
        },
        "/preview": {
            "post": {
                "operationId": "previewCase",
                "summary": "Classify a text without saving it; similar open cases",
                "requestBody": _body("PreviewRequest"),
                "responses": {
                    "200": _json(_ref("Preview"), "What the portal would do with this text"),
                    **_errors(*COMMON, "413", "415", "422"),
                },
            }
        },
        "/cases": {
            "post": {
                "operationId": "submitCase",
                "summary": "Submit a case, or follow an existing one",
                "parameters": [_param("IdempotencyKey"), *resident],
                "requestBody": _body("CaseSubmission"),
                "responses": {
                    "201": _json(_ref("Case"), "The new case's public view"),
                    "200": _json(_ref("Case"), "The followed case (follow_tracking_number)"),
                    **_errors(*COMMON, "404", "409", "413", "415", "422"),
                },
            }
        },
        "/cases/{tracking_number}": {
            "get": {
                "operationId": "getCase",
                "summary": "A case's public view",
                "parameters": [_param("TrackingNumber")],
                "responses": {"200": _json(_ref("Case"), "The case"), **_errors(*COMMON, "404")},
            }
        },
        "/cases/{tracking_number}/follow": {
            "post": {
                "operationId": "followCase",
                "summary": 'The resident follows the case ("me too")',
                "parameters": [_param("TrackingNumber"), *resident_required],
                "responses": {
                    "200": _json(_ref("Case"), "The case"),
                    **_errors(*COMMON, "404", "422"),
                },
            }
        },
        "/cases/{tracking_number}/verdict": {
            "post": {
                "operationId": "postVerdict",
                "summary": "The submitter's verdict on a resolved case (resolved? satisfaction)",
                "parameters": [_param("TrackingNumber"), *resident_required],
                "requestBody": _body("VerdictRequest"),
                "responses": {
                    "200": _json(_ref("Case"), "The case after the verdict"),
                    **_errors(*COMMON, "404", "409", "413", "415", "422"),
                },
            }
        },
        "/me/cases": {
            "get": {
                "operationId": "listMyCases",
                "summary": "Cases the resident submitted or follows, newest first",
                "parameters": [
                    *resident_required,
                    {
                        "name": "page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 1000000},
                    },
                    {
                        "name": "per_page",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                    },
                ],
                "responses": {
                    "200": _json(_ref("CasePage"), "A page of cases"),
                    **_errors(*COMMON, "422"),
                },
            }
        },
        "/me/link": {
            "post": {
                "operationId": "linkAccount",
                "summary": "Link the channel identity to a portal account with a one-time code",
                "parameters": resident_required,
                "requestBody": _body("LinkRequest"),
                "responses": {
                    "200": _json(_ref("LinkResult"), "Linked"),
                    **_errors(*COMMON, "409", "413", "415", "422"),
                },
            }
        },
        "/me/data": {
            "get": {
                "operationId": "exportMyData",
                "summary": "Everything the portal holds about the resident (right of access); "
                "audited",
                "parameters": resident_required,
                "responses": {
                    "200": _json(_ref("PersonalData"), "The resident's personal data"),
                    **_errors(*COMMON, "422"),
                },
            }
        },
        "/me/data/erase": {
            "post": {
                "operationId": "eraseMyAccount",
                "summary": "Erase the resident's account and personal data (right to erasure); "
                "public masked texts, ratings and counts stay. An account with a portal password "
                "is refused (403 use_portal): it is erased on the portal's My data page.",
                "parameters": resident_required,
                "requestBody": _body("ErasureRequest"),
                "responses": {
                    "200": _json(_ref("ErasureResult"), "Erased; what was removed"),
                    **_errors(*COMMON, "413", "415", "422"),
                },
            }
        },
        "/notifications": {
            "get": {
                "operationId": "listNotifications",
                "summary": "Pending (unacknowledged) notifications for a channel's residents, by id",
                "parameters": [
                    _param("Channel"),
                    {
                        "name": "after",
                        "in": "query",
                        "description": "Cursor: the last id seen (next_cursor)",
                        "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": {
                    "200": _json(_ref("NotificationPage"), "Pending notifications"),
                    **_errors(*COMMON, "422"),
                },
            }
        },
        "/notifications/ack": {
            "post": {
                "operationId": "ackNotifications",
                "summary": "Acknowledge delivered notifications (idempotent)",
                "parameters": [_param("ChannelOptional")],
                "requestBody": _body("AckRequest"),
                "responses": {
                    "200": _json(_ref("AckResult"), "How many of the ids belong to the channel"),
                    **_errors(*COMMON, "413", "415", "422"),
                },
            }
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenApi",
                "summary": "This document",
                "security": [],
                "responses": {"200": _json({"type": "object"}, "OpenAPI 3.1 document")},
            }
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Shuzhi API",
            "version": "1.0.0",
            "description": "Submit and follow community cases; the Telegram bot's only interface to "
            "the portal. Scopes: " + "; ".join(f"{k}: {v}" for k, v in SCOPES.items()) + ". "
            "Errors are {code, message}.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {**paths, **deliberation_paths()},
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {**_schemas(), **deliberation_schemas()},
            "responses": responses,
            "parameters": parameters,
        },
    }
