from __future__ import annotations

import pytest

import nlp


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ＡＢＣ１２３", "ABC123"),  # full-width letters and digits
        ("你好，世界！", "你好,世界!"),  # full-width punctuation
        ("电话：１３８", "电话:138"),
        ("“引号”和‘单引号’", "\"引号\"和'单引号'"),
        ("【通知】", "[通知]"),
        ("A——B", "A--B"),
        ("等等……", "等等..."),
        ("有\u3000全角空格", "有 全角空格"),
        ("多个   空格\t和制表", "多个 空格 和制表"),
        ("零\u200b宽\u200d字\ufeff符", "零宽字符"),
        ("控制\x00字\x07符\x1b", "控制字符"),
        ("方向\u202e覆盖", "方向覆盖"),
        ("第一行\r\n第二行\r第三行", "第一行\n第二行\n第三行"),
        ("段落\n\n\n\n\n下一段", "段落\n\n下一段"),
        ("  前后空白  \n", "前后空白"),
        ("太吵了！！！！！！", "太吵了!!!"),
        ("①号楼", "1号楼"),
        ("温度３０℃", "温度30°C"),
    ],
)
def test_normalize_cases(raw, expected):
    assert nlp.normalize(raw) == expected


def test_emoji_are_kept():
    assert nlp.normalize("垃圾没人收😡😡") == "垃圾没人收😡😡"
    assert "👍" in nlp.normalize("点赞👍🏻")


def test_normalize_is_idempotent():
    text = "ＡＢＣ，“你好”……\u200b\r\n\r\n\r\n😀  ok"
    once = nlp.normalize(text)
    assert nlp.normalize(once) == once


def test_limits():
    with pytest.raises(nlp.EmptyText):
        nlp.analyse("   \u200b\n\t ")
    with pytest.raises(nlp.TextTooLong):
        nlp.analyse("长" * (nlp.MAX_TEXT_CHARS + 1))
    assert issubclass(nlp.EmptyText, ValueError)
    assert issubclass(nlp.TextTooLong, ValueError)


def test_normalize_rejects_non_strings():
    with pytest.raises(TypeError):
        nlp.normalize(b"bytes")  # type: ignore[arg-type]


def test_invisible_class_agrees_with_unicodedata():
    import sys
    import unicodedata

    from nlp.textnorm import INVISIBLE

    wrong = []
    for cp in range(sys.maxunicode + 1):
        ch = chr(cp)
        cat = unicodedata.category(ch)
        expected = ch != "\n" and cat in ("Cc", "Cf", "Cs")
        matched = INVISIBLE.match(ch) is not None
        # a newer Unicode may assign format characters the class does not list yet, and
        # the class may list characters still unassigned (Cn) in this Python's Unicode
        if expected != matched and not (matched and cat == "Cn"):
            wrong.append(hex(cp))
    assert not wrong
