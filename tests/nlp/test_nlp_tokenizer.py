from __future__ import annotations

from pathlib import Path

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
