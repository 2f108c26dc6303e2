"""Shared fixtures: the app on SQLite and on PostgreSQL, a session, a test client.

Every test that uses ``app`` (or ``session``/``client``) runs once per backend. PostgreSQL tests
use a private database created for this test session, so parallel runs never collide. With
``CI=true`` an unreachable PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import copy
import os
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Table, create_engine, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from portal.models import Base

PG_ADMIN_URL = os.environ.get(
    "SHUZHI_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
#: A fixed data key ring for tests (sensitive columns are encrypted with it; never used elsewhere).
TEST_DATA_KEYS = {
    "DATA_KEYS": '{"t1": "dGVzdC1kYXRhLWtleS0xLTMyLWJ5dGVzLWxvbmchISE="}',
    "DATA_KEY_ACTIVE": "t1",
    "DATA_HASH_KEY": "dGVzdC1sb29rdXAtaGFzaC1rZXktMzItYnl0ZXMhISE=",
}
REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(
    os.environ.get("SHUZHI_EVAL_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data"
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """A private PostgreSQL database for this test session, dropped at the end."""
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"shuzhi_test_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required when CI=true: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    Base.metadata.create_all(engine)
    engine.dispose()
    yield url
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(scope="session")
def pg_cleaner(pg_url: str) -> Iterator[Engine]:
    """One engine for the between-tests clean-up of the session's PostgreSQL database."""
    engine = create_engine(pg_url, poolclass=NullPool)
    yield engine
    engine.dispose()


def _truncate_all(engine: Engine) -> None:
    # DELETE + sequence restart in one round trip: ~10x faster than TRUNCATE on a test's
    # handful of rows, and one statement batch instead of one per table.
    with engine.begin() as conn:
        sequences = conn.execute(
            text("SELECT sequence_name FROM information_schema.sequences")
        ).scalars()
        script = [f'DELETE FROM "{t.name}"' for t in reversed(Base.metadata.sorted_tables)]
        script += [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in list(sequences)]
        conn.exec_driver_sql(";\n".join(script))


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default NLP model for the whole test session, in a private copy (tests write files
    such as ``evaluation.json`` beside it). The trained model is kept across runs in
    ``<repo>/.cache/test-model`` (git-ignored): ``nlp.default_model`` retrains it only when the
    seed corpus, the feature recipe or scikit-learn changed, under a lock (parallel workers)."""
    import nlp

    shared = Path(os.environ.get("SHUZHI_TEST_MODEL_DIR") or REPO_ROOT / ".cache" / "test-model")
    nlp.default_model(shared)
    path = tmp_path_factory.mktemp("model") / "model"
    shutil.copytree(shared, path, ignore=shutil.ignore_patterns("evaluation.json", ".*"))
    nlp.default_model(path)
    return path


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An SQLite file with the schema (create_all once); each test gets a copy."""
    from portal.db import make_engine

    path = tmp_path_factory.mktemp("template") / "schema.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    engine.dispose()  # the last connection closing checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        target = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), target)
        yield f"sqlite:///{target}"
    else:
        url = request.getfixturevalue("pg_url")
        cleaner = request.getfixturevalue("pg_cleaner")
        yield url
        _truncate_all(cleaner)


def app_config(
    database_url: str, instance_path: Path, model_dir: Path, **overrides: Any
) -> dict[str, Any]:
    """The settings every test app starts from: CSRF and rate limits off, the fixed test data
    keys; ``overrides`` set or replace any of them."""
    return {
        "ENV": "testing",
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "DATABASE_URL": database_url,
        "INSTANCE_PATH": str(instance_path),
        "NLP_MODEL_DIR": str(model_dir),
        "WTF_CSRF_ENABLED": False,
        "RATELIMIT_ENABLED": False,
        "RATELIMIT_STORAGE_URI": "memory://",
        **TEST_DATA_KEYS,
        **overrides,
    }


@pytest.fixture
def app(db_url: str, tmp_path: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    from portal import create_app

    app = create_app(app_config(db_url, tmp_path / "instance", model_dir))
    app.test_client_class = RequestThreadClient
    with app.app_context():
        yield app
    app.extensions["db"].dispose()


class RequestThreadClient(FlaskClient):
    """A test client whose every request runs in its own thread, as under a real server.

    The ``app`` fixture keeps an app context open for the test body (``session``, ``url_for``),
    but a request must not inherit it: it would share one ``g`` (Flask-Login's cached user, the
    cached locale) and one SQLAlchemy session with the test and every other request. A new
    thread starts with no context and its own thread-scoped session, so each request pushes a
    fresh app context and its teardown removes only its own session. Around each request the
    test's session is committed (the request sees what the test wrote, as it did when they
    shared a session) and expired afterwards (the test then reads what the request wrote).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The product defaults to Chinese; tests read English wording unless they ask for
        # Chinese (``?lang=zh_Hans_CN``, a ``lang`` cookie of their own, or their own app).
        self.set_cookie("lang", "en")

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        registry = self.application.extensions["db"].session
        test_session = registry() if registry.registry.has() else None
        if test_session is not None:
            test_session.commit()
        outcome: dict[str, Any] = {}

        def run() -> None:
            try:
                outcome["response"] = super(RequestThreadClient, self).open(*args, **kwargs)
            except BaseException as exc:  # re-raised in the test's thread
                outcome["error"] = exc

        worker = threading.Thread(target=run, name="test-request")
        worker.start()
        worker.join()
        if test_session is not None:
            test_session.expire_all()
        if "error" in outcome:
            raise outcome.pop("error")
        response = outcome["response"]
        for answered in (*getattr(response, "history", ()), response):
            # The request body the client built (a spooled temporary file past 500 KB) is read;
            # close it now rather than leave an unclosed file to the garbage collector.
            body = answered.request.environ.get("wsgi.input")
            if body is not None and hasattr(body, "close"):
                body.close()
        return response


@pytest.fixture
def make_app(tmp_path: Path, model_dir: Path) -> Iterator[Callable[..., Flask]]:
    """Builds further apps with chosen settings (see ``app_config``; CSRF and rate limits stay
    off unless turned on), each on a fresh SQLite file with the schema unless ``DATABASE_URL``
    is given. ``thread_client=True`` gives it the ``RequestThreadClient`` of the ``app``
    fixture (which also reads English). Every app built is disposed after the test."""
    from portal import create_app
    from portal.db import make_engine

    apps: list[Flask] = []

    def build(*, thread_client: bool = False, **overrides: Any) -> Flask:
        number = len(apps)
        if "DATABASE_URL" not in overrides:
            url = f"sqlite:///{tmp_path / f'app{number}.db'}"
            engine = make_engine(url)
            Base.metadata.create_all(engine)
            engine.dispose()
            overrides["DATABASE_URL"] = url
        url = overrides.pop("DATABASE_URL")
        app = create_app(app_config(url, tmp_path / f"instance{number}", model_dir, **overrides))
        if thread_client:
            app.test_client_class = RequestThreadClient
        apps.append(app)
        return app

    yield build
    for app in apps:
        app.extensions["db"].dispose()


@pytest.fixture
def session(app):  # type: ignore[no-untyped-def]
    """The app's scoped session inside an app context (services flush; tests commit as the edge)."""
    from portal import get_session

    return get_session()


@pytest.fixture
def client(app):  # type: ignore[no-untyped-def]
    return app.test_client()


# --- factories (see tests/factories.py) ---------------------------------------------------------


@pytest.fixture(scope="session")
def demo_jurisdiction_rows(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Any, list[tuple[Table, list[dict[str, Any]]]]]:
    """The demo jurisdiction loaded ONCE per session (YAML parse + the real loader into a
    scratch SQLite database): its LoadReport and every row it wrote, table by table in
    dependency order, for the ``jurisdiction`` fixture to copy into each test's database."""
    from sqlalchemy.orm import Session

    from portal.db import make_engine
    from tests.factories import load_demo_jurisdiction

    path = tmp_path_factory.mktemp("jurisdiction") / "demo.db"
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as scratch:
        report = load_demo_jurisdiction(scratch)
    tables: list[tuple[Table, list[dict[str, Any]]]] = []
    with engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            order = list(table.primary_key.columns)
            rows = [dict(r) for r in conn.execute(select(table).order_by(*order)).mappings()]
            if rows:
                tables.append((table, rows))
    engine.dispose()
    return report, tables


@pytest.fixture
def jurisdiction(session, demo_jurisdiction_rows):  # type: ignore[no-untyped-def]
    """The demo jurisdiction (portal/jurisdiction/demo.yaml) in the test database: the rows the
    real loader wrote once per session (``demo_jurisdiction_rows``), bulk-inserted, committed.
    Returns the loader's LoadReport (tests/jurisdiction calls the loader itself)."""
    report, tables = demo_jurisdiction_rows
    conn = session.connection()
    for table, rows in tables:
        conn.execute(table.insert(), rows)
    if conn.dialect.name == "postgresql":
        for table, _rows in tables:
            pk = list(table.primary_key.columns)
            if len(pk) == 1 and pk[0].autoincrement in (True, "auto") and _is_integer(pk[0]):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('\"{table.name}\"', "
                        f'\'{pk[0].name}\'), (SELECT max("{pk[0].name}") FROM "{table.name}"))'
                    )
                )
    session.commit()
    return copy.deepcopy(report)


def _is_integer(column: Any) -> bool:
    try:
        return column.type.python_type is int
    except NotImplementedError:
        return False


@pytest.fixture
def make_user(session):  # type: ignore[no-untyped-def]
    """``make_user(role="staff", department="housing", ...)`` → a committed User."""
    from tests.factories import create_user

    def make(**kwargs):  # type: ignore[no-untyped-def]
        return create_user(session, **kwargs)

    return make


@pytest.fixture
def make_case(session, jurisdiction, make_user):  # type: ignore[no-untyped-def]
    """``make_case(text=..., **submit_case kwargs)`` → a committed Case submitted through the
    intake service (by a fresh resident unless ``submitter=`` is given, ``None`` allowed)."""
    from tests.factories import create_case

    def make(text: str = "小区门口的路灯坏了一个多星期，晚上很黑，请尽快修理。", **kwargs):  # type: ignore[no-untyped-def]
        if "submitter" not in kwargs:
            kwargs["submitter"] = make_user()
        return create_case(session, text=text, **kwargs)

    return make


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new empty database URL (SQLite file or private PostgreSQL database) for tests of
    migrations and set-up commands; the shared test database is built by create_all instead."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrated.db'}"
        return
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"shuzhi_mig_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # pragma: no cover - depends on the machine
        admin.dispose()
        if IN_CI:
            pytest.fail(f"PostgreSQL is required when CI=true: {exc}")
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()
