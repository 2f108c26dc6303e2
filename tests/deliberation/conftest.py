"""Fixtures for deliberation tests: verified residents, small thresholds, proposals."""

from __future__ import annotations

from typing import Any

import pytest

from portal.jurisdiction.services import set_setting

PROPOSAL_TEXT = "建议在青松社区东门增设一个公交站点，方便老人和学生出行，现在最近的站要走二十分钟。"


@pytest.fixture
def settings(session, jurisdiction):  # type: ignore[no-untyped-def]
    """``settings(proposal_support_threshold=2, ...)`` stores jurisdiction settings, committed."""

    def store(**values: Any) -> None:
        for key, value in values.items():
            set_setting(session, key, value)
        session.commit()

    return store


@pytest.fixture
def resident(make_user):  # type: ignore[no-untyped-def]
    """``resident(level=2)`` → a committed resident with that verification level."""

    def make(level: int = 2, **kwargs: Any):  # type: ignore[no-untyped-def]
        return make_user(verification_level=level, **kwargs)

    return make


@pytest.fixture
def make_proposal(session, jurisdiction, resident):  # type: ignore[no-untyped-def]
    """``make_proposal(author=None, **create_proposal kwargs)`` → a committed open proposal."""
    from portal.deliberation.services import create_proposal

    def make(author=None, **kwargs: Any):  # type: ignore[no-untyped-def]
        kwargs.setdefault("title", "青松社区东门增设公交站")
        kwargs.setdefault("body", PROPOSAL_TEXT)
        kwargs.setdefault("category_code", "G03-03")
        kwargs.setdefault("area_code", "LJ-WS-01")
        proposal = create_proposal(session, author=author or resident(), **kwargs)
        session.commit()
        return proposal

    return make
