"""Test data built through the real services (no hand-made rows where a service exists).

Fixtures in ``tests/conftest.py`` wrap these: ``jurisdiction``, ``make_user``, ``make_case``.
"""

from __future__ import annotations

import copy
import functools
import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import generate_password_hash

from portal.accounts.models import Role, User
from portal.cases.models import Case
from portal.cases.photos import PhotoUpload
from portal.config import PROJECT_ROOT
from portal.jurisdiction.models import Department
from portal.jurisdiction.services import LoadReport, load_jurisdiction, read_yaml

DEMO_JURISDICTION = PROJECT_ROOT / "portal" / "jurisdiction" / "demo.yaml"
DEFAULT_PASSWORD = "correct-horse-battery-staple"
#: A cheap hash for tests (production uses werkzeug's default scrypt).
FAST_HASH = "pbkdf2:sha256:1000"

#: A point inside each demo street (lat, lon).
POINTS = {
    "LJ-JB": (28.222, 112.860),
    "LJ-WS": (28.240, 112.930),
    "LJ-XQ": (28.156, 112.887),
    "LJ-NH": (28.165, 112.944),
}
OUTSIDE_POINT = (31.23, 121.47)  # Shanghai

_counter = itertools.count(1)


@functools.cache
def _parsed_yaml(path: Path) -> Any:
    return read_yaml(path)


def load_demo_jurisdiction(session: Session, path: str | Path = DEMO_JURISDICTION) -> LoadReport:
    """Load a jurisdiction file through the real loader, committed (YAML parsed once per file)."""
    report = load_jurisdiction(session, copy.deepcopy(_parsed_yaml(Path(path).resolve())))
    session.commit()
    return report


def create_user(
    session: Session,
    *,
    role: Role | str = Role.RESIDENT,
    department: Department | str | None = None,
    email: str | None = None,
    display_name: str | None = None,
    password: str = DEFAULT_PASSWORD,
    verification_level: int = 0,
    locale: str = "zh_Hans_CN",
) -> User:
    """A committed user; ``department`` may be a Department or its code."""
    n = next(_counter)
    if isinstance(department, str):
        department = session.scalar(select(Department).where(Department.code == department))
        if department is None:
            raise LookupError("unknown department code (load the jurisdiction first)")
    user = User(
        email=email if email is not None else f"user{n}-{Role(role).value}@example.test",
        display_name=display_name or f"{Role(role).value.title()} {n}",
        password_hash=generate_password_hash(password, method=FAST_HASH),
        role=Role(role).value,
        department=department,
        verification_level=verification_level,
        locale=locale,
    )
    session.add(user)
    session.commit()
    return user


def create_case(
    session: Session,
    *,
    text: str,
    channel: str = "web",
    submitter: User | None = None,
    photos: Sequence[PhotoUpload] = (),
    **kwargs: Any,
) -> Case:
    """A case submitted through :func:`portal.cases.services.submit_case`, committed."""
    from portal.cases.services import submit_case

    case = submit_case(
        session, text=text, channel=channel, submitter=submitter, photos=photos, **kwargs
    )
    session.commit()
    return case
