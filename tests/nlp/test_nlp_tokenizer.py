from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nlp
from nlp.tokenizer import CIVIC_DICT, STOPWORDS_FILE, model_text, stopwords, tokenize


def test_civic_dictionary_keeps_civic_terms_whole():
    words = tokenize("楼下有人飞线充电，电动车乱停，群租房噪音扰民，打了12345热线也没用")
    for term in ("飞线充电", "电动车", "群租房", "噪音扰民", "12345热线"):
        assert term in words
    assert "占道经营" in tokenize("夜市占道经营，违章搭建到处都是")
    assert "违章搭建" in tokenize("夜市占道经营，违章搭建到处都是")
    assert "拖欠工资" in tokenize("老板拖欠工资半年")


def test_stop_words_and_punctuation_are_dropped():
    words = tokenize("尊敬的领导您好！我们的小区，物业费太贵了。")
    assert "的" not in words and "我们" not in words and "!" not in words and "," not in words
    assert "物业费" in words


def test_numbers_fold_and_place_tokens_vanish():
    assert tokenize("2020年3月") == ["0", "0"] or "0" in tokenize("2020年3月")
    cleaned = model_text("尊敬的领导您好：A市A3区的路灯坏了3天")
    assert "A" not in cleaned.upper().replace("0", "")[:3]
    assert "路灯坏了0天" in cleaned
    assert "您好" not in cleaned


def test_shipped_word_lists():
    entries = [line.split()[0] for line in CIVIC_DICT.read_text(encoding="utf-8").splitlines()]
    assert len(entries) >= 300 and len(entries) == len(set(entries))
    for term in (
        "物业",
        "噪音扰民",
        "占道经营",
        "违章搭建",
        "井盖",
        "拖欠工资",
        "12345热线",
        "广场舞",
        "群租房",
        "飞线充电",
        "电动车",
        "学区房",
        "医保",
        "社保",
    ):
        assert term in entries
    assert {"的", "了", "您好"} <= stopwords()
    assert Path(STOPWORDS_FILE).is_file()


def test_top_terms():
    texts = [
        "小区广场舞噪音扰民，晚上十点还在跳",
        "广场舞音响太大了，吵得孩子没法写作业",
        "每天晚上广场舞噪音扰民，希望管一管",
    ]
    terms = nlp.top_terms(texts, n=5)
    assert terms[0] in ("广场舞", "噪音扰民")
    assert {"广场舞", "噪音扰民"} <= set(terms)
    assert len(terms) <= 5
    assert nlp.top_terms([]) == []
    assert nlp.top_terms(["的了吗"]) == []


# --------------------------------------------------------------------------- the segmenter

_HAN = "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出要就下得可你年生自会那后能对着事其里所去行过家十用发天如然作方成者多日都三小于还"
_PIECES = [
    *_HAN,
    "物业",
    "噪音扰民",
    "占道经营",
    "违章搭建",
    "12345热线",
    "井盖",
    "拖欠工资",
    "小区",
    "路灯",
    "垃圾",
    "楼下",
    "烧烤",
    "魑魅魍魉",
    "A3区",
    "abc",
    "3.5%",
    "C++",
    "-",
    " ",
    "  ",
    "\n",
    "，",
    "。",
    "!",
    "😀",
]


def _same_as_jieba(text: str) -> None:
    from nlp.tokenizer import get_segmenter, get_tokenizer

    assert get_segmenter().cut(text) == get_tokenizer().lcut(text)


def test_segmenter_matches_jieba_on_the_seed_corpus():
    from nlp.corpus import seed_examples
    from nlp.tokenizer import _clean

    examples = seed_examples()
    assert len(examples) > 1000
    for e in examples:
        _same_as_jieba(e.text)
        _same_as_jieba(_clean(e.text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=60).map("".join))
def test_segmenter_matches_jieba_on_generated_text(text):
    _same_as_jieba(text)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_segmenter_matches_jieba_on_any_text(text):
    _same_as_jieba(text)


def test_segmenter_matches_jieba_on_real_messages():
    import os

    data = Path(
        os.environ.get("SHUZHI_EVAL_DATA")
        or Path(__file__).resolve().parents[2].parent / "shared" / "data"
    )
    sample = data / "teddy2020_messages_sample495.csv"
    if not sample.is_file():
        pytest.skip(f"no evaluation data at {data}")
    from nlp.corpus import read_examples

    for e in read_examples(sample, "text", "label"):
        _same_as_jieba(e.text)
