"""Hotspot fixtures: a street with a run of near-identical reports, and signing in."""

from __future__ import annotations

from typing import Any

import pytest

from portal.accounts.models import User
from portal.cases.models import Case

#: Eight reports about one blocked drain in 沿江社区 (street LJ-JB), housing category.
DRAIN = "滨江花园小区3栋楼下的下水道堵塞了，污水漫到人行道上，臭味很大，请尽快派人疏通。"
VARIANTS = ("", "您好，", "再次反映：", "反映：", "紧急：", "麻烦看一下，", "请问", "又")
OTHERS = (
    "望月社区菜市场门口的路灯坏了一个多星期，晚上很黑，请尽快修理。",
    "新桥社区幼儿园附近早上车辆乱停，孩子上学很危险，希望交警管理一下。",
)


def login(client: Any, user: User) -> None:
    from flask import g

    with client.session_transaction() as flask_session:
        flask_session["_user_id"] = str(user.id)
        flask_session["_fresh"] = True
    g.pop("_login_user", None)


@pytest.fixture
def drain_cases(make_case: Any) -> list[Case]:
    cases = [
        make_case(
            text=prefix + DRAIN,
            category_code="G01-09",
            area_code="LJ-JB-01",
            lat=28.2221,
            lon=112.8581,
        )
        for prefix in VARIANTS
    ]
    for text in OTHERS:
        make_case(text=text)
    return cases
