"""The deliberation part of the ``/api/v1`` OpenAPI document (merged by ``portal.api.openapi``).

Keep in step with :mod:`portal.deliberation.api`; schemathesis checks the two agree.
"""

from __future__ import annotations

from typing import Any

from portal.deliberation.lifecycle import STATUSES
from portal.deliberation.models import ANSWER_OUTCOMES, STANCES
from portal.deliberation.services import LIST_STATUSES, MAX_BODY_CHARS, MAX_TITLE_CHARS
from portal.deliberation.threads import MAX_COMMENT_CHARS

NULLABLE_STRING = {"type": ["string", "null"]}
COMMON = ("400", "401", "403", "429")


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


def _query(name: str, schema: dict[str, Any], description: str | None = None) -> dict[str, Any]:
    param = {"name": name, "in": "query", "required": False, "schema": schema}
    if description:
        param["description"] = description
    return param


PROPOSAL_ID = {
    "name": "proposal_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
}
PAGE = [
    _query("page", {"type": "integer", "minimum": 1, "maximum": 1000000}),
    _query("per_page", {"type": "integer", "minimum": 1, "maximum": 100}),
]


def deliberation_schemas() -> dict[str, Any]:
    ref = {"oneOf": [_ref("Ref"), {"type": "null"}]}
    summary_properties = {
        "id": {"type": "integer"},
        "title": {**NULLABLE_STRING, "description": "null while held or hidden by moderation"},
        "status": {"type": "string", "enum": list(STATUSES)},
        "status_label": {"type": "string"},
        "category": ref,
        "area": ref,
        "support_count": {"type": "integer", "minimum": 0},
        "support_threshold": {"type": "integer", "minimum": 1},
        "support_deadline": {"type": "string", "format": "date-time"},
        "created_at": {"type": "string", "format": "date-time"},
        "distance_m": {"type": ["number", "null"]},
        "url": {"type": "string"},
    }
    summary_required = [
        "id",
        "title",
        "status",
        "status_label",
        "support_count",
        "support_threshold",
        "url",
    ]
    comment = {
        "type": "object",
        "required": ["id", "depth", "stance", "body", "likes", "created_at", "edited", "replies"],
        "properties": {
            "id": {"type": "integer"},
            "parent_id": {"type": ["integer", "null"]},
            "depth": {"type": "integer", "minimum": 1, "maximum": 3},
            "stance": {"type": "string", "enum": list(STANCES)},
            "author": NULLABLE_STRING,
            "body": {**NULLABLE_STRING, "description": "Raw text: escape before display"},
            "placeholder": {
                **NULLABLE_STRING,
                "description": "Shown instead of a deleted or hidden comment",
            },
            "likes": {"type": "integer", "minimum": 0},
            "created_at": {"type": "string", "format": "date-time"},
            "edited": {"type": "boolean"},
            "held_for_review": {"type": "boolean"},
            "replies": {"type": "array", "items": _ref("ProposalComment")},
        },
    }
    return {
        "ProposalSummary": {
            "type": "object",
            "required": summary_required,
            "properties": summary_properties,
        },
        "ProposalPage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total", "pages"],
            "properties": {
                "items": {"type": "array", "items": _ref("ProposalSummary")},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "pages": {"type": "integer"},
            },
        },
        "Proposal": {
            "type": "object",
            "required": [
                *summary_required,
                "body",
                "overview",
                "timeline",
                "supported",
                "following",
            ],
            "properties": {
                **summary_properties,
                "body": {
                    **NULLABLE_STRING,
                    "description": "Masked text; null while hidden by moderation",
                },
                "hidden": {"type": "boolean"},
                "tracking_number": {
                    **NULLABLE_STRING,
                    "description": "The case it became at the threshold",
                },
                "department": ref,
                "answer": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["outcome", "text", "reasons"],
                            "properties": {
                                "outcome": {"type": "string", "enum": list(ANSWER_OUTCOMES)},
                                "outcome_label": {"type": "string"},
                                "text": NULLABLE_STRING,
                                "reasons": NULLABLE_STRING,
                                "answered_at": NULLABLE_STRING,
                            },
                        },
                        {"type": "null"},
                    ]
                },
                "progress": {"type": "integer", "minimum": 0, "maximum": 100},
                "milestones": {"type": "array", "items": {"type": "object"}},
                "closed_reason": NULLABLE_STRING,
                "closed_reason_message": {
                    "type": ["object", "null"],
                    "description": "An archived proposal's reason as a code and its arguments "
                    "(closed_reason is its text in the requested language)",
                },
                "overview": {
                    "type": "object",
                    "required": ["counts", "terms"],
                    "properties": {
                        "counts": {
                            "type": "object",
                            "properties": {s: {"type": "integer", "minimum": 0} for s in STANCES},
                        },
                        "terms": {
                            "type": "object",
                            "properties": {
                                side: {"type": "array", "items": {"type": "string"}}
                                for side in ("for", "against")
                            },
                        },
                    },
                },
                "timeline": {"type": "array", "items": {"type": "object"}},
                "supported": {"type": "boolean"},
                "following": {"type": "boolean"},
            },
        },
        "ProposalCreate": {
            "type": "object",
            "required": ["title", "body", "category_code"],
            "properties": {
                "title": {"type": "string", "minLength": 1, "maxLength": MAX_TITLE_CHARS},
                "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY_CHARS},
                "category_code": {"type": "string", "maxLength": 20},
                "area_code": {"type": "string", "maxLength": 40},
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
            },
        },
        "ProposalComment": comment,
        "ProposalCommentPage": {
            "type": "object",
            "required": ["items", "page", "per_page", "total", "pages"],
            "properties": {
                "items": {"type": "array", "items": _ref("ProposalComment")},
                "page": {"type": "integer"},
                "per_page": {"type": "integer"},
                "total": {"type": "integer"},
                "pages": {"type": "integer"},
            },
        },
        "CommentCreate": {
            "type": "object",
            "required": ["body"],
            "properties": {
                "body": {"type": "string", "minLength": 1, "maxLength": MAX_COMMENT_CHARS},
                "stance": {"type": "string", "enum": list(STANCES)},
                "parent_id": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            },
        },
        "VerificationRequest": {
            "type": "object",
            "required": ["code"],
            "properties": {"code": {"type": "string", "minLength": 1, "maxLength": 40}},
        },
        "VerificationResult": {
            "type": "object",
            "required": ["verification_level", "label"],
            "properties": {"verification_level": {"type": "integer"}, "label": {"type": "string"}},
        },
        "PhoneConfirmationRequest": {
            "type": "object",
            "required": ["phone_number", "contact_user_id"],
            "properties": {
                "phone_number": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 40,
                    "description": "The number on the contact card the resident shared",
                },
                "contact_user_id": {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": 2**63 - 1,
                    "description": "The channel's user id of the card's owner: it must be the "
                    "resident's own id (the X-Shuzhi-Resident header's), or the call is refused "
                    "with not_own_contact",
                },
            },
        },
        "PhoneConfirmationResult": {
            "type": "object",
            "required": ["verification_level", "label", "phone_confirmed", "changed"],
            "properties": {
                "verification_level": {"type": "integer"},
                "label": {"type": "string"},
                "phone_confirmed": {"type": "boolean", "const": True},
                "changed": {
                    "type": "boolean",
                    "description": "False when this number was already confirmed (a repeat)",
                },
            },
        },
    }


def deliberation_paths() -> dict[str, Any]:
    resident = [_param("Resident"), _param("ResidentName")]
    resident_required = [_param("ResidentRequired"), _param("ResidentName")]
    writes = _errors(*COMMON, "404", "409", "413", "415", "422")
    return {
        "/proposals": {
            "get": {
                "operationId": "listProposals",
                "summary": "Proposals near a point (nearest first) or in an area, paginated",
                "parameters": [
                    _query("lat", {"type": "number", "minimum": -90, "maximum": 90}),
                    _query("lon", {"type": "number", "minimum": -180, "maximum": 180}),
                    _query("radius_m", {"type": "integer", "minimum": 1, "maximum": 100000}),
                    _query(
                        "area",
                        {"type": "string", "maxLength": 40},
                        "Area code (street or community)",
                    ),
                    _query("status", {"type": "string", "enum": list(LIST_STATUSES)}),
                    _query("sort", {"type": "string", "enum": ["newest", "supports", "nearest"]}),
                    *PAGE,
                ],
                "responses": {
                    "200": _json(_ref("ProposalPage"), "A page of proposals"),
                    **_errors(*COMMON, "422"),
                },
            },
            "post": {
                "operationId": "createProposal",
                "summary": "The resident publishes a proposal (needs the configured verification level)",
                "parameters": resident_required,
                "requestBody": _body("ProposalCreate"),
                "responses": {"201": _json(_ref("Proposal"), "The new proposal"), **writes},
            },
        },
        "/proposals/{proposal_id}": {
            "get": {
                "operationId": "getProposal",
                "summary": "A proposal with its for/against overview, answer and history",
                "parameters": [PROPOSAL_ID, *resident],
                "responses": {
                    "200": _json(_ref("Proposal"), "The proposal"),
                    **_errors(*COMMON, "404", "422"),
                },
            }
        },
        "/proposals/{proposal_id}/support": {
            "post": {
                "operationId": "supportProposal",
                "summary": "Support once (repeating changes nothing); may fire the threshold",
                "parameters": [PROPOSAL_ID, *resident_required],
                "responses": {"200": _json(_ref("Proposal"), "The proposal"), **writes},
            },
            "delete": {
                "operationId": "withdrawSupport",
                "summary": "Withdraw one's support while the proposal is open",
                "parameters": [PROPOSAL_ID, *resident_required],
                "responses": {"200": _json(_ref("Proposal"), "The proposal"), **writes},
            },
        },
        "/proposals/{proposal_id}/follow": {
            "post": {
                "operationId": "followProposal",
                "summary": "Be told about every step of the proposal",
                "parameters": [PROPOSAL_ID, *resident_required],
                "responses": {"200": _json(_ref("Proposal"), "The proposal"), **writes},
            }
        },
        "/proposals/{proposal_id}/comments": {
            "get": {
                "operationId": "listProposalComments",
                "summary": "The discussion thread (top-level comments paginated, replies nested)",
                "parameters": [
                    PROPOSAL_ID,
                    *resident,
                    _query("sort", {"type": "string", "enum": ["newest", "liked"]}),
                    *PAGE,
                ],
                "responses": {
                    "200": _json(_ref("ProposalCommentPage"), "A page of the thread"),
                    **_errors(*COMMON, "404", "422"),
                },
            },
            "post": {
                "operationId": "commentOnProposal",
                "summary": "Comment with a stance, or reply (depth ≤ 3)",
                "parameters": [PROPOSAL_ID, *resident_required],
                "requestBody": _body("CommentCreate"),
                "responses": {"201": _json(_ref("ProposalComment"), "The comment"), **writes},
            },
        },
        "/me/verification": {
            "post": {
                "operationId": "verifyResident",
                "summary": "Enter the one-time code from the community office (resident verified)",
                "parameters": resident_required,
                "requestBody": _body("VerificationRequest"),
                "responses": {
                    "200": _json(_ref("VerificationResult"), "The resident's level now"),
                    **_errors(*COMMON, "413", "415", "422"),
                },
            }
        },
        "/me/phone": {
            "post": {
                "operationId": "confirmResidentPhone",
                "summary": "Record the phone number a channel vouches for (level 1, idempotent)",
                "description": "For a channel that verifies phone numbers (Telegram: a contact "
                "card whose user id is the sender's own). Raises the resident to level 1 "
                "(phone confirmed) if below; never lowers. A card of someone else is refused "
                "(422 not_own_contact); a number that confirms another account, 409.",
                "parameters": resident_required,
                "requestBody": _body("PhoneConfirmationRequest"),
                "responses": {
                    "200": _json(_ref("PhoneConfirmationResult"), "The resident's level now"),
                    **_errors(*COMMON, "409", "413", "415", "422"),
                },
            }
        },
    }
