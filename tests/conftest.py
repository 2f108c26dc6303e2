"""Shared fixtures: the app on SQLite and on PostgreSQL, a session, a test client.

Every test that uses ``app`` (or ``session``/``client``) runs once per backend. PostgreSQL tests
use a private database created for this test session, so parallel runs never collide. With
``CI=true`` an unreachable PostgreSQL is an error, never a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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


def _truncate_all(url: str) -> None:
    # DELETE + sequence restart: ~10x faster than TRUNCATE on a test's handful of rows.
    engine = create_engine(url)
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(text(f'DELETE FROM "{table.name}"'))
        sequences = conn.execute(
            text("SELECT sequence_name FROM information_schema.sequences")
        ).scalars()
        for sequence in list(sequences):
            conn.execute(text(f'ALTER SEQUENCE "{sequence}" RESTART'))
    engine.dispose()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One default NLP model for the whole test session (trained from the seed corpus once)."""
    path = Path(os.environ.get("SHUZHI_TEST_MODEL_DIR") or tmp_path_factory.mktemp("model"))
    import nlp

    nlp.default_model(path)
    return path


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'test.db'}"
        from portal.db import make_engine

        engine = make_engine(url)
        Base.metadata.create_all(engine)
        engine.dispose()
        yield url
    else:
        url = request.getfixturevalue("pg_url")
        yield url
        _truncate_all(url)


@pytest.fixture
def app(db_url: str, tmp_path: Path, model_dir: Path):  # type: ignore[no-untyped-def]
    from portal import create_app

    app = create_app(
        {
            "ENV": "testing",
            "TESTING": True,
            "SECRET_KEY": "test-secret",
            "DATABASE_URL": db_url,
            "INSTANCE_PATH": str(tmp_path / "instance"),
            "NLP_MODEL_DIR": str(model_dir),
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "RATELIMIT_STORAGE_URI": "memory://",
            **TEST_DATA_KEYS,
        }
    )
    with app.app_context():
        yield app
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


@pytest.fixture
def jurisdiction(session):  # type: ignore[no-untyped-def]
    """The demo jurisdiction (portal/jurisdiction/demo.yaml) loaded into the test database."""
    from tests.factories import load_demo_jurisdiction

    return load_demo_jurisdiction(session)


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
