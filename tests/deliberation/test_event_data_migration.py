"""Migration c7e2a9d4b1f8 adds ``proposal_events.data``: events written before it keep their
plain-text note, get ``{}`` and read as stored (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from types import SimpleNamespace

from sqlalchemy import text

from portal.db import make_engine
from portal.migrate import upgrade
from portal.system_messages import event_note

BEFORE = "a9c4e2b7d310"
OLD_NOTE = "附议期已于 2026-01-01 结束，共获得 1 个附议，未达到所需的 3 个。"


def test_old_events_keep_their_text_and_get_empty_data(empty_database: str) -> None:
    upgrade(empty_database, BEFORE)
    engine = make_engine(empty_database)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO users (id, display_name, role, locale, verification_level, active, "
                "created_at, failed_login_count) "
                "VALUES (1, 'r', 'resident', 'zh_Hans_CN', 2, true, '2026-01-01', 0)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO categories (id, code, name, keywords, default_priority, active) "
                "VALUES (1, 'G03-03', '公交', '[]', 'normal', true)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO proposals (id, title, body_raw, body_masked, category_id, author_id, "
                "status, support_count, support_threshold, support_deadline, progress, "
                "moderation, report_count, created_at, updated_at) VALUES (1, 't', 'b', 'b', 1, "
                "1, 'archived', 1, 3, '2026-01-01', 0, 'visible', 0, '2025-12-01', '2026-01-01')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO proposal_events (id, proposal_id, type, actor_role, from_status, "
                "to_status, note, created_at) VALUES (1, 1, 'archive', 'system', 'open', "
                "'archived', :note, '2026-01-01')"
            ),
            {"note": OLD_NOTE},
        )
    engine.dispose()
    upgrade(empty_database)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            note, data = conn.execute(text("SELECT note, data FROM proposal_events")).one()
    finally:
        engine.dispose()
    data = data if isinstance(data, dict) else json.loads(data)
    assert note == OLD_NOTE and data == {}
    assert event_note(SimpleNamespace(note=note, data=data)) == OLD_NOTE
