"""The bare ceiling for HTTP benchmarks: Flask + SQLAlchemy inserting and reading one row.

Anything the portal does per request (auth, validation, NLP, routing, events) costs relative to
this. Served by gunicorn exactly like the portal::

    gunicorn -w 2 'bench.ceiling:create_app("sqlite:////tmp/ceiling.db")'

``POST /rows`` inserts one row from a JSON ``{"text"}`` and answers its id (201);
``GET /rows/<id>`` reads it back. Shared by ``bench/api.py`` and ``bench/intake.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask, abort, jsonify, request
from sqlalchemy import DateTime, String, create_engine, event
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    mapped_column,
    scoped_session,
    sessionmaker,
)


class _Base(DeclarativeBase):
    pass


class CeilingRow(_Base):
    __tablename__ = "bench_ceiling_rows"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


def _engine(url: str) -> Any:
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:  # same pragmas as the portal
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    return create_engine(url)


def prepare(url: str) -> None:
    """Create the ceiling table (once, before the workers start)."""
    engine = _engine(url)
    _Base.metadata.create_all(engine)
    engine.dispose()


def create_app(url: str) -> Flask:
    app = Flask(__name__)
    engine = _engine(url)
    sessions: scoped_session[Session] = scoped_session(sessionmaker(bind=engine))

    @app.teardown_appcontext
    def _remove(_exc: BaseException | None) -> None:
        sessions.remove()

    @app.post("/rows")
    def insert_row() -> Any:
        body = request.get_json(silent=True) or {}
        row = CeilingRow(text=str(body.get("text", ""))[:2000], created_at=datetime.now(UTC))
        session = sessions()
        session.add(row)
        session.commit()
        return jsonify({"id": row.id}), 201

    @app.get("/rows/<int:row_id>")
    def read_row(row_id: int) -> Any:
        row = sessions().get(CeilingRow, row_id)
        if row is None:
            abort(404)
        return jsonify({"id": row.id, "text": row.text})

    @app.get("/ready")
    def ready() -> Any:
        return jsonify({"ok": True})

    return app
