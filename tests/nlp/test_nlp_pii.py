from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nlp
from nlp.pii import id_check_ok, luhn_ok

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def make_id(first17: str) -> str:
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS, strict=True))
    return first17 + "10X98765432"[total % 11]


def make_card(prefix15: str) -> str:
    """A 16-digit number with a valid Luhn check digit."""
    for check in "0123456789":
        if luhn_ok(prefix15 + check):
            return prefix15 + check
    raise AssertionError


VALID_ID = make_id("11010519491231002")  # 11010519491231002X


def kinds(text: str) -> list[tuple[str, str]]:
    return [(s.kind, s.value) for s in nlp.mask_pii(text).spans]


def test_mobile():
    r = nlp.mask_pii("我的手机13812345678，有事打我")
    assert [(s.kind, s.value) for s in r.spans] == [("mobile", "13812345678")]
    assert r.text == "我的手机138****5678，有事打我"
    assert kinds("电话 +86 138-1234-5678") == [("mobile", "+86 138-1234-5678")]
    assert kinds("138 1234 5678") == [("mobile", "138 1234 5678")]
    # not a mobile: wrong second digit, too many digits
    assert kinds("编号12812345678") == []
    assert kinds("订单号138123456789012") == []


def test_landline():
    assert kinds("物业电话0571-88886666") == [("landline", "0571-88886666")]
    assert kinds("拨打(010)62345678") == [("landline", "(010)62345678")]
    assert kinds("办公室 021 5555 6666") == []  # a space inside the local number is not a landline


def test_id_number_check_digit():
    assert id_check_ok(VALID_ID)
    r = nlp.mask_pii(f"身份证号{VALID_ID}。")
    assert [(s.kind, s.value) for s in r.spans] == [("id_number", VALID_ID)]
    assert VALID_ID not in r.text and r.text.endswith("002X。")
    lower = VALID_ID[:-1] + "x"
    assert kinds(f"身份证{lower}") == [("id_number", lower)]
    # same digits, wrong check digit: not an ID number
    wrong = VALID_ID[:-1] + "5"
    assert not id_check_ok(wrong)
    assert ("id_number", wrong) not in kinds(f"编号{wrong}")
    # impossible birth month
    assert not id_check_ok(make_id("11010519491331002"))


def test_bank_card_luhn():
    card = make_card("622202123456789")
    assert luhn_ok(card)
    assert kinds(f"工资卡{card}没收到钱") == [("bank_card", card)]
    spaced = " ".join(card[i : i + 4] for i in range(0, 16, 4))
    r = nlp.mask_pii(f"卡号 {spaced}")
    assert [s.kind for s in r.spans] == ["bank_card"]
    assert r.text.endswith(card[-4:]) and card[:4] not in r.text
    bad = card[:-1] + str((int(card[-1]) + 1) % 10)
    assert not luhn_ok(bad)
    assert kinds(f"卡号{bad}") == []


def test_email():
    r = nlp.mask_pii("发邮件到 zhang.san+gov@example.com.cn 联系")
    assert [(s.kind, s.value) for s in r.spans] == [("email", "zhang.san+gov@example.com.cn")]
    assert "z************@example.com.cn" in r.text


def test_plate():
    assert kinds("车牌浙A12345的车天天堵门") == [("plate", "浙A12345")]
    assert kinds("粤B·D12345是新能源车") == [("plate", "粤B·D12345")]
    assert kinds("湘ab123c乱停") == [("plate", "湘ab123c")]
    r = nlp.mask_pii("苏E88888违停")
    assert r.text == "苏E*****违停"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我叫张三，住在3栋", "张三"),
        ("本人李明华，反映一个问题", "李明华"),
        ("联系人：欧阳娜娜", "欧阳娜娜"),
        ("姓名:王五 电话", "王五"),
    ],
)
def test_names_after_cues(text, name):
    r = nlp.mask_pii(text)
    assert [(s.kind, s.value) for s in r.spans] == [("name", name)]
    assert name not in r.text
    assert r.text.count("*") == len(name) - (2 if name.startswith("欧阳") else 1)


@pytest.mark.parametrize("text", ["本人认为这样不合理", "我叫的外卖没送到", "本人是业主"])
def test_no_false_names(text):
    assert kinds(text) == []


def test_offsets_refer_to_input_and_masks_keep_length():
    text = f"我叫赵六，手机13912345678，身份证{VALID_ID}，邮箱a@b.cn"
    r = nlp.mask_pii(text)
    assert len(r.text) == len(text)
    assert {s.kind for s in r.spans} == {"name", "mobile", "id_number", "email"}
    for s in r.spans:
        assert text[s.start : s.end] == s.value
    assert r.spans == sorted(r.spans, key=lambda s: s.start)


# --- property: whatever surrounds them, phone and ID numbers never survive masking --------

MOBILE_RAW = re.compile(r"(?<![0-9])1[3-9][0-9]{9}(?![0-9])")
LANDLINE_RAW = re.compile(r"(?<![0-9])0[1-9][0-9]{1,2}-?[2-9][0-9]{6,7}(?![0-9])")

mobiles = st.from_regex(r"\A1[3-9][0-9]{9}\Z")
ids = st.builds(
    lambda area, y, m, d, seq: make_id(f"{area}{y}{m:02d}{d:02d}{seq:03d}"),
    st.from_regex(r"\A[1-9][0-9]{5}\Z"),
    st.integers(1930, 2020),
    st.integers(1, 12),
    st.integers(1, 28),
    st.integers(0, 999),
)
filler = st.text(
    alphabet=st.sampled_from(list("的电话号码是我叫张三 ,:-+()0123456789xX")), max_size=12
)
# A number glued to more digits is a longer number, not a phone or ID: separate them.
sep = st.sampled_from(["", " ", "，", "号", ":", "是"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(filler, sep, st.one_of(mobiles, ids)), min_size=1, max_size=4), filler)
def test_masked_output_never_matches_phone_or_id(parts, tail):
    text = "".join(f + (s or "，") + n + "，" for f, s, n in parts) + tail
    masked = nlp.mask_pii(text).text
    assert len(masked) == len(text)
    assert not MOBILE_RAW.search(masked)
    assert not LANDLINE_RAW.search(masked)
    again = nlp.mask_pii(masked)
    assert not [s for s in again.spans if s.kind in ("mobile", "landline", "id_number")]
    for _, _, number in parts:
        assert number not in masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("我家住在幸福路88号3栋502室，楼下烧烤太吵", "我家住在幸福路**号*栋***室，楼下烧烤太吵"),
        ("望江花园12栋2单元1101，电梯坏了", "望江花园**栋*单元****，电梯坏了"),
        ("王家村3组12号的房子漏水", "王家村3组**号的房子漏水"),
        ("地址：建设北路128号院5号楼", "地址：建设北路***号院*号楼"),
        ("我住12-3-502，门口堆垃圾", "我住**-*-***，门口堆垃圾"),
    ],
)
def test_exact_addresses_keep_the_road_and_lose_the_numbers(text: str, masked: str) -> None:
    result = nlp.mask_pii(text)
    assert result.text == masked
    assert {span.kind for span in result.spans} == {"address"}


@pytest.mark.parametrize(
    "text", ["3月15号下午地铁3号线很挤", "请看1号文件规定", "2019年买的房，5楼漏水"]
)
def test_dates_lines_and_floors_are_not_addresses(text: str) -> None:
    assert nlp.mask_pii(text).text == text


@pytest.mark.parametrize(
    ("text", "masked"),
    [("我是王小明，住在幸福小区", "我是王**，住在幸福小区"), ("我是欧阳明月", "我是欧阳**")],
)
def test_names_introduced_by_wo_shi_are_masked(text: str, masked: str) -> None:
    assert nlp.mask_pii(text).text == masked


@pytest.mark.parametrize("text", ["我是业主，物业不作为", "我是一名教师", "我是本小区居民"])
def test_wo_shi_before_a_role_is_not_a_name(text: str) -> None:
    assert nlp.mask_pii(text).text == text
