"""Privacy fixtures: a case full of canary personal data, people in every role."""

from __future__ import annotations

from typing import Any

import pytest

from tests.factories import POINTS

#: Canary personal data: none of it may ever appear in public output, logs or database files.
CANARY_NAME = "欧阳小雪"
CANARY_PHONE = "13987654321"
CANARY_ID_NUMBER = "11010519491231002X"  # valid check digit
CANARY_ADDRESS = "枫林三路88号7栋2单元"
CANARY_TELEGRAM_ID = "700123456"
CANARY_TEXT = (
    f"小区门口的路灯坏了一个多星期，晚上很黑。我叫{CANARY_NAME}，电话{CANARY_PHONE}，"
    f"身份证{CANARY_ID_NUMBER}，请尽快修理。"
)


@pytest.fixture
def canary_case(make_case: Any) -> Any:
    """A case submitted through the intake service with canary contact data and address."""
    lat, lon = POINTS["LJ-JB"]
    return make_case(
        text=CANARY_TEXT,
        category_code="G01-02",  # the demo rules: street_jb leads, urban_mgmt co-handles
        contact_name=CANARY_NAME,
        contact_phone=CANARY_PHONE,
        consent=True,
        address=CANARY_ADDRESS,
        lat=lat,
        lon=lon,
    )
