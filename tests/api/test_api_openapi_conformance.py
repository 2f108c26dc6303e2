"""schemathesis over the whole ``/api/v1`` OpenAPI document, in process, on SQLite and PostgreSQL.

Checks: no server errors, status codes / content types / headers / bodies as documented, negative
(schema-violating) data rejected with a 4xx, unsupported methods answered 405 with ``Allow``,
requests without the key rejected. ``positive_data_acceptance`` is left out on purpose: a
schema-valid text can still be refused by the intake rules (e.g. too few meaningful characters),
which the document states as 422.

The document is loaded once at import (``schemathesis.pytest.from_fixture`` does not work with
pytest 9.2), and every call goes to the test's own app (set on the schema); the first test checks that
the app serves exactly this document.
"""

from __future__ import annotations

import hashlib
import json

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import positive_data_acceptance

from portal.api.models import ApiKey
from portal.api.openapi import openapi_document
from portal.db import utcnow

#: A fixed key, so schemathesis knows the credentials (and can leave them out on purpose).
SECRET = "shz_conformance-" + "k" * 32
schema = schemathesis.openapi.from_dict(
    json.loads(json.dumps(openapi_document())),
    config=SchemathesisConfig.from_dict({"auth": {"openapi": {"bearerAuth": {"bearer": SECRET}}}}),
)


@pytest.fixture
def channel_key(session, jurisdiction) -> str:  # type: ignore[no-untyped-def]
    session.add(
        ApiKey(
            name="schemathesis",
            prefix=SECRET[:12],
            hash=hashlib.sha256(SECRET.encode()).hexdigest(),
            scopes=["channel:telegram"],
            created_at=utcnow(),
        )
    )
    session.commit()
    return SECRET


def test_the_app_serves_this_document(client) -> None:  # type: ignore[no-untyped-def]
    assert client.get("/api/v1/openapi.json").json == json.loads(json.dumps(openapi_document()))


@schema.parametrize()
@settings(max_examples=6, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_api_matches_its_openapi_document(case, app, channel_key) -> None:  # type: ignore[no-untyped-def]
    case.operation.schema.app = app  # this test's app (and database)
    case.call_and_validate(
        app=app,
        base_url="http://localhost/api/v1",
        excluded_checks=[positive_data_acceptance],
    )
