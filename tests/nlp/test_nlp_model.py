from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nlp
from nlp.model import kind_by_rules, load_model, save_model


def test_prediction_fields(tiny_model):
    p = tiny_model.predict("公司拖欠工资两个月，老板不接电话")
    assert p.group == "劳动和社会保障"
    assert p.category in nlp.catalogue().categories_of(p.group)
    assert p.kind in nlp.KINDS and p.urgency in nlp.URGENCY_LEVELS
    assert p.model_version == tiny_model.version and p.model_version.startswith("tiny-")
    d = p.to_dict()
    assert set(d) >= {
        "group",
        "category",
        "kind",
        "urgency",
        "confidence",
        "explanation",
        "model_version",
        "group_scores",
    }
    json.dumps(d, ensure_ascii=False)
    with pytest.raises(AttributeError):
        p.group = "x"  # frozen


def test_calibration_sanity(tiny_model):
    texts = ["烧烤油烟太大", "学校乱收费", "路灯坏了", "拖欠工资", "😀", "abc"]
    for p in tiny_model.predict_many(texts):
        assert 0.0 <= p.confidence <= 1.0
        assert set(p.group_scores) == set(tiny_model.labels)
        assert all(0.0 <= s <= 1.0 for s in p.group_scores.values())
        assert abs(sum(p.group_scores.values()) - 1.0) < 1e-3
        assert p.confidence == max(p.group_scores.values())
        assert p.group_scores[p.group] == p.confidence
    assert tiny_model.metadata["calibrated"] is True


def test_fast_inference_matches_scikit_learn(tiny_model):
    texts = [
        nlp.normalize(t)
        for t in [
            "工厂晚上偷排废水",
            "请问社保怎么缴费？",
            "老师有偿补课",
            "井盖没了",
            "A市A3区你好",
        ]
    ]
    ours = tiny_model.group_proba(texts)
    theirs = tiny_model.pipeline.predict_proba(texts)
    assert np.allclose(ours, theirs, atol=1e-6)
    x = tiny_model.features.transform(texts)
    for task in ("kind", "urgency"):
        head = tiny_model.heads[task]
        got = tiny_model._compiled[task].predict(tiny_model._x.rows(texts))
        assert got == [str(v) for v in head.predict(x)]


def test_explanation_terms_come_from_the_text(tiny_model):
    text = "工厂偷排废水，河水发臭"
    p = tiny_model.predict(text)
    assert p.group == "环境保护"
    assert p.explanation
    assert all(term in nlp.normalize(text).lower() for term in p.explanation)


def test_category_belongs_to_the_predicted_group(tiny_model):
    for p in tiny_model.predict_many(
        ["开发商延期交房", "小学入学划片", "河水发黑发臭", "退休金调整"]
    ):
        assert p.category is None or p.category in nlp.catalogue().categories_of(p.group)


def test_kind(tiny_model):
    assert tiny_model.predict("请问公租房申请需要哪些材料？").kind == "inquiry"
    assert kind_by_rules("建议在路口增设红绿灯") == "proposal"
    assert kind_by_rules("表扬社区医生，服务很好") == "praise"
    assert kind_by_rules("请问医保怎么报销？") == "inquiry"
    assert kind_by_rules("垃圾一周没人收") == "complaint"


def test_bad_input(tiny_model):
    with pytest.raises(nlp.EmptyText):
        tiny_model.predict(" \u200b ")
    with pytest.raises(nlp.TextTooLong):
        tiny_model.predict("吵" * (nlp.MAX_TEXT_CHARS + 1))
    assert tiny_model.predict_many([]) == []


def test_persistence_round_trip(tiny_model, tiny_model_dir):
    loaded = load_model(tiny_model_dir)
    assert loaded.version == tiny_model.version
    assert loaded.metadata["model_version"] == tiny_model.version
    texts = ["楼道里有煤气味", "学校强制买资料", "晚上施工太吵", "单位不交社保"]
    assert [p.to_dict() for p in loaded.predict_many(texts)] == [
        p.to_dict() for p in tiny_model.predict_many(texts)
    ]
    meta = json.loads((tiny_model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["training_data_sha256"] == "0" * 64
    assert set(meta["libraries"]) >= {"scikit-learn", "skops", "jieba", "numpy", "python"}
    assert meta["labels"]["group"] == tiny_model.labels
    assert {"created_at", "metrics", "model_version", "training_rows"} <= set(meta)
    assert meta["artifact_bytes"] == (tiny_model_dir / "model.skops").stat().st_size


def test_version_mismatch_is_a_clear_error(tiny_model, tmp_path):
    out = save_model(tiny_model, tmp_path / "m")
    meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    meta["libraries"]["scikit-learn"] = "0.24.2"
    (out / "metadata.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(nlp.ModelLoadError) as err:
        nlp.load_model(out)
    message = str(err.value)
    import sklearn

    assert "built with scikit-learn 0.24.2" in message
    assert f"this is {sklearn.__version__}" in message
    assert "python -m nlp train" in message


def test_missing_or_damaged_model(tmp_path, tiny_model):
    with pytest.raises(nlp.ModelLoadError, match="no model"):
        nlp.load_model(tmp_path)
    out = save_model(tiny_model, tmp_path / "m")
    (out / "model.skops").write_bytes(b"not a zip file")
    with pytest.raises(nlp.ModelLoadError, match="cannot read"):
        nlp.load_model(out)


def test_training_needs_two_groups():
    with pytest.raises(ValueError):
        nlp.train([nlp.Example("只有一类", "民政")] * 3, data_sha256="x", source="t")


def test_analyse(tiny_model):
    a = nlp.analyse("我叫王小明，电话13912345678，小区楼道里一股煤气味！", tiny_model)
    assert a.normalized.startswith("我叫王小明,电话")
    assert "13912345678" not in a.masked_text and "王小明" not in a.masked_text
    assert {s.kind for s in a.pii} == {"name", "mobile"}
    for s in a.pii:
        assert a.normalized[s.start : s.end] == s.value
    assert a.prediction.urgency == "emergency"
    assert a.to_dict()["prediction"]["group"] == a.prediction.group


def test_package_attributes_survive_submodule_imports():
    import nlp.catalogue
    import nlp.tokenizer

    assert callable(nlp.tokenize) and nlp.tokenize("物业") == ["物业"]
    assert nlp.catalogue().group("G01").name == "城乡建设"


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.integers(1, 3), st.integers(0, 2))
def test_char_ngrams_match_scikit_learn(text, low, extra):
    from sklearn.feature_extraction.text import CountVectorizer

    from nlp.inference import char_ngrams

    high = low + extra
    theirs = CountVectorizer(
        analyzer="char", ngram_range=(low, high), lowercase=False
    ).build_analyzer()(text)
    assert sorted(char_ngrams(text, low, high)) == sorted(theirs)


def test_compiled_features_match_scikit_learn(tiny_model):
    from nlp.corpus import seed_examples

    texts = [nlp.normalize(e.text) for e in seed_examples()[::25]] + ["😀", "A市A3区你好"]
    theirs = tiny_model.features.transform(texts).toarray()
    ours = np.zeros((len(texts), tiny_model._x.n_features))
    for i, row in enumerate(tiny_model._x.rows(texts)):
        ours[i, row.indices] = row.values
    assert ours.shape == theirs.shape
    assert np.allclose(ours, theirs, rtol=0, atol=1e-6)  # scikit-learn computes in float32
    for i, row in enumerate(tiny_model._x.rows(texts)):
        assert list(row.indices) == sorted(row.indices)
        assert np.array_equal(np.flatnonzero(theirs[i]), row.indices)
