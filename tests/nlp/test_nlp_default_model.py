"""The default model: trained from the seed corpus on first use, retrained when the corpus
changes, safe when two processes build it at once."""

from __future__ import annotations

import csv
import json
import multiprocessing
from pathlib import Path

import pytest

import nlp
from nlp import corpus, engine
from nlp.catalogue import catalogue


def write_seed(folder: Path, rows) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "T01.csv", "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["text", "group", "category", "kind", "urgency"])
        w.writerows(rows)


@pytest.fixture
def tiny_seed(tmp_path, monkeypatch, tiny_rows):
    seed = tmp_path / "seed"
    write_seed(seed, tiny_rows)
    monkeypatch.setattr(corpus, "SEED_DIR", seed)
    engine.clear_cache()
    yield seed
    engine.clear_cache()


def test_trains_on_first_use_then_caches(tiny_seed, tmp_path):
    model_dir = tmp_path / "model"
    model = nlp.default_model(model_dir)
    assert (model_dir / "model.skops").is_file()
    meta = json.loads((model_dir / "metadata.json").read_text(encoding="utf-8"))
    assert meta["training_data_sha256"] == corpus.seed_fingerprint()
    assert meta["source"] == "seed corpus" and model.version.startswith("seed-")
    assert nlp.default_model(model_dir) is model  # cached in process
    engine.clear_cache()
    again = nlp.default_model(model_dir)  # loaded from disk, not retrained
    assert again.version == model.version


def test_retrains_when_the_seed_corpus_changes(tiny_seed, tmp_path, tiny_rows):
    model_dir = tmp_path / "model"
    first = nlp.default_model(model_dir)
    write_seed(
        tiny_seed,
        [*tiny_rows, ("新增的一条：小区垃圾没人清运", "城乡建设", "", "complaint", "normal")],
    )
    engine.clear_cache()
    second = nlp.default_model(model_dir)
    assert second.version != first.version
    assert second.metadata["training_rows"] == first.metadata["training_rows"] + 1


def test_env_variable_chooses_the_directory(tiny_seed, tmp_path, monkeypatch):
    monkeypatch.setenv("SHUZHI_NLP_MODEL_DIR", str(tmp_path / "from-env"))
    assert engine.default_model_dir() == tmp_path / "from-env"
    nlp.default_model()
    assert (tmp_path / "from-env" / "metadata.json").is_file()


def _build(seed: str, model_dir: str, queue) -> None:
    corpus.SEED_DIR = Path(seed)
    engine.clear_cache()
    queue.put(nlp.default_model(model_dir).version)


def test_two_processes_building_at_once(tiny_seed, tmp_path):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    model_dir = tmp_path / "model"
    procs = [
        ctx.Process(target=_build, args=(str(tiny_seed), str(model_dir), queue)) for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    versions = [queue.get(timeout=5) for _ in procs]
    assert all(p.exitcode == 0 for p in procs)
    assert versions[0] == versions[1]  # the second waited for the first, then loaded its model
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name]
    nlp.load_model(model_dir)


def test_empty_seed_corpus_is_an_error(tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "SEED_DIR", tmp_path / "nothing")
    engine.clear_cache()
    with pytest.raises(nlp.CorpusError, match="seed corpus is empty"):
        nlp.default_model(tmp_path / "model")


def test_seed_rows_are_checked_against_the_catalogue(tmp_path):
    write_seed(
        tmp_path,
        [
            ("文本一", "城乡建设", "不存在的类别", "complaint", "normal"),
            ("文本二", "不存在的组", "", "complaint", "normal"),
            ("文本三", "民政", "社会救助", "unknown-kind", "normal"),
        ],
    )
    rows = corpus.seed_examples(tmp_path)
    assert [(r.text, r.category, r.kind) for r in rows] == [
        ("文本一", None, "complaint"),
        ("文本三", "社会救助", None),
    ]


# --- the shipped default model (one per session) ----------------------------------------


def test_shipped_default_model(default_model):
    cat = catalogue()
    assert set(default_model.labels) <= set(cat.group_names)
    p = default_model.predict("小区楼下的烧烤店每天晚上油烟很大，还很吵")
    assert p.group in cat.group_names and 0 <= p.confidence <= 1
    assert p.category is None or p.category in cat.categories_of(p.group)
    assert default_model.metadata["source"] == "seed corpus"
    assert default_model.metadata["artifact_bytes"] < 30 * 1024 * 1024


@pytest.mark.parametrize(
    ("text", "group"),
    [
        ("公司拖欠工资三个月了，老板人都找不到", "劳动和社会保障"),
        ("孩子学校强制要求购买教辅资料", "教育文体"),
        ("化工厂偷偷往河里排放废水，河水发黑发臭", "环境保护"),
    ],
)
def test_default_model_on_plain_cases(default_model, text, group):
    assert default_model.predict(text).group == group


def test_default_model_urgency_and_analyse(default_model):
    a = nlp.analyse("3栋2单元楼道里一股很浓的煤气味，我叫李四，电话13512345678", default_model)
    assert a.prediction.urgency == "emergency"
    assert "13512345678" not in a.masked_text


def test_catalogue_is_callable_from_the_package():
    import nlp.catalogue as module

    assert module is not None
    cat = nlp.catalogue()
    assert len(cat.groups) == 15
    assert [g.code for g in cat.groups] == [f"G{i:02d}" for i in range(1, 16)]
    assert cat.group("G05").name == "劳动和社会保障" and cat.group("民政").code == "G09"
    assert cat.has_category("城乡建设", "城乡规划") and not cat.has_category("民政", "城乡规划")
