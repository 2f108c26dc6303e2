"""The one registry of data sensitivity: every column of every table, graded.

Levels and the rules that follow from them (checked by ``tests/privacy/test_registry.py``):

- ``public`` — may be shown anywhere (public pages, ``/api/v1`` public views, Open311, exports).
  Free text at this level is the NLP-masked text.
- ``internal`` — staff, coordinators and admins only; never on public pages or in open data.
- ``sensitive`` — personal data on a need-to-know basis: stored encrypted at rest
  (:class:`portal.privacy.crypto.EncryptedText` with ``aad="table.column"``), shown only behind an
  audited reveal (:func:`portal.privacy.services.reveal_case_details`), erased by retention and
  by account deletion.
- ``secret`` — keys and credentials: never stored; only a one-way derivative may be (columns named
  ``…hash``). Keys live outside the database (``SHUZHI_DATA_KEYS``) and the log redaction filter
  (:mod:`portal.privacy.redaction`) strips secret patterns, phone and ID numbers from every log
  record.

A new table or column fails the registry test until it is graded here: that is the point.
"""

from __future__ import annotations

from typing import Literal

Level = Literal["public", "internal", "sensitive", "secret"]
LEVELS: tuple[Level, ...] = ("public", "internal", "sensitive", "secret")

#: table → level → space-separated column names. Every column of every table appears once.
_SPEC: dict[str, dict[Level, str]] = {
    # --- people and credentials -----------------------------------------------------------------
    "users": {
        "internal": "id email display_name role department_id locale verification_level active "
        "created_at last_login_at failed_login_count last_failed_login_at",
        "secret": "password_hash",
    },
    "channel_identities": {
        "internal": "id user_id channel external_id_hash created_at",
        "sensitive": "external_id",
    },
    "api_keys": {
        "internal": "id name prefix scopes created_by_id created_at revoked_at last_used_at",
        "secret": "hash",
    },
    "link_codes": {
        "internal": "id user_id created_at expires_at used_at",
        "secret": "code_hash",
    },
    "verification_codes": {
        "internal": "id batch_id area_id issued_by level created_at expires_at used_at "
        "used_by_id revoked",
        "secret": "code_hash",
    },
    "verification_code_batches": {
        # request_token only de-duplicates a re-sent issuing form; it grants nothing.
        "internal": "id area_id level count issued_by issued_by_user_id request_token "
        "created_at expires_at",
    },
    "confirmed_phones": {
        "internal": "id user_id phone_hash channel confirmed_at",
        "sensitive": "phone",
    },
    "idempotency_records": {
        # response_body holds the public case view returned to the client, nothing more.
        "internal": "id api_key_id key fingerprint status response_status response_body "
        "created_at completed_at",
    },
    # --- cases ---------------------------------------------------------------------------------
    "cases": {
        "public": "id tracking_number kind status priority channel text_masked title category_id "
        "area_id lead_department_id me_too_count created_at updated_at due_at resolved_at "
        "closed_at",
        "internal": "lat lon sla_profile_id submitter_id anonymous predicted_category_id "
        "predicted_kind predicted_urgency prediction_confidence prediction_explanation "
        "model_version triage_reason respond_due_at assigned_at accepted_at contacted_at version",
        "sensitive": "text_raw address_text",
    },
    "case_contacts": {
        "internal": "id case_id phone_hash consent_purpose consent_notice_version consented_at",
        "sensitive": "name phone",
    },
    # ``note`` is masked before storage; only rows flagged ``public`` reach public pages.
    "case_events": {
        "public": "id case_id type actor_role from_status to_status public created_at",
        "internal": "actor_id department_id note data",
    },
    "case_tasks": {
        "public": "id case_id department_id role status created_at accepted_at done_at",
        "internal": "note",
    },
    "case_followers": {"internal": "id case_id user_id reason created_at"},
    "attachments": {
        "public": "id case_id storage_name content_type size public created_at",
        "internal": "event_id uploaded_by_id sha256",
    },
    "notifications": {
        "internal": "id user_id case_id event_id kind payload created_at acked_at",
    },
    "tracking_counters": {"internal": "period last_value"},
    "verdicts": {
        "public": "id case_id round outcome resolved satisfaction channel case_resolved_at "
        "created_at",
        "internal": "comment user_id",
    },
    "transfer_requests": {
        "internal": "id case_id from_department_id to_department_id reason status "
        "requested_by_id decided_by_id decision_note created_at decided_at",
    },
    "labelled_examples": {
        "internal": "id case_id text kind urgency predicted_group_code predicted_category_code "
        "predicted_department_code corrected_group_code corrected_category_code "
        "corrected_department_code source reason created_by_id created_at corrected_at",
    },
    "response_templates": {
        "internal": "id category_id title body active created_at updated_at",
    },
    "retention_marks": {"internal": "id case_id data_class applied_at run_id"},
    "proposal_retention_marks": {"internal": "id proposal_id data_class applied_at run_id"},
    # --- deliberation --------------------------------------------------------------------------
    "proposals": {
        "public": "id title body_masked category_id area_id case_id status support_count "
        "support_threshold support_deadline threshold_reached_at answer_outcome answer_text "
        "answer_reasons answered_at answered_by_department_id progress closed_reason "
        "created_at updated_at",
        "internal": "lat lon author_id source_case_id moderation moderation_reason report_count",
        "sensitive": "body_raw",
    },
    # ``data`` holds the system's messages (codes and public arguments, portal.system_messages).
    "proposal_events": {
        "public": "id proposal_id type actor_role from_status to_status note data created_at",
        "internal": "actor_id",
    },
    "proposal_milestones": {"public": "id proposal_id on_date title progress created_at"},
    "proposal_supports": {"internal": "id proposal_id user_id channel created_at"},
    "proposal_followers": {"internal": "id proposal_id user_id reason created_at"},
    # Comments are published by their author (escaped); moderation fields are internal.
    "comments": {
        "public": "id proposal_id case_id parent_id depth stance body like_count created_at "
        "edited_at deleted_at",
        "internal": "author_id report_count moderation moderation_reason",
    },
    "comment_likes": {"internal": "id comment_id user_id created_at"},
    "content_reports": {
        "internal": "id target_type target_id reporter_id reason created_at resolved_at",
    },
    "participation_blocks": {
        "internal": "id user_id blocked_until reason blocked_by_id created_at",
    },
    "area_participation_rules": {
        "public": "id area_id support_threshold support_window_days",
    },
    # --- oversight: differentially private open statistics (noisy counts only) ---------------
    "dp_releases": {
        "public": "id month query epsilon sensitivity scale mechanism cells created_at",
    },
    # --- hotspots: early-warning alerts for coordinators (masked terms and case ids only) ------
    "hotspot_alerts": {
        "internal": "id kind status area_id category_id case_ids size terms score details "
        "window_start window_end created_at updated_at actioned_by_id actioned_at action_note "
        "proposal_id task_case_id",
    },
    # --- audit ---------------------------------------------------------------------------------
    "audit_entries": {
        "internal": "id at actor_id actor_label action target_type target_id before after reason "
        "ip prev_hash hash",
    },
    "audit_chain_head": {"internal": "id last_entry_id last_hash"},
    # --- jurisdiction (reference data) ---------------------------------------------------------
    "areas": {"public": "id code name level parent_id centroid_lat centroid_lon boundary"},
    "departments": {"public": "id code name name_en description area_id active"},
    "categories": {
        "public": "id code name name_en parent_id description keywords default_priority active",
    },
    "sla_profiles": {"public": "id code name respond_hours resolve_hours"},
    "routing_rules": {"internal": "id category_id area_id department_id sla_profile_id active"},
    "routing_rule_co_departments": {"internal": "rule_id department_id"},
    "settings": {"internal": "key value updated_at"},
}


def _build() -> dict[str, dict[str, Level]]:
    registry: dict[str, dict[str, Level]] = {}
    for table, by_level in _SPEC.items():
        columns: dict[str, Level] = {}
        for level, names in by_level.items():
            for name in names.split():
                if name in columns:
                    raise ValueError(f"{table}.{name} is graded twice")
                columns[name] = level
        registry[table] = columns
    return registry


#: ``REGISTRY[table][column]`` → level.
REGISTRY: dict[str, dict[str, Level]] = _build()


def level_of(table: str, column: str) -> Level:
    """The declared level of a column; ``KeyError`` if it was never graded."""
    return REGISTRY[table][column]


def columns_at(level: Level) -> list[tuple[str, str]]:
    """``(table, column)`` pairs declared at ``level``, sorted."""
    return sorted(
        (table, column)
        for table, columns in REGISTRY.items()
        for column, declared in columns.items()
        if declared == level
    )
