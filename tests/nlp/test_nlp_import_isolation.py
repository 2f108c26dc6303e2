"""``import nlp`` is cheap and pure: no web stack, no heavy libraries until used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ["jieba", "sklearn", "numpy", "scipy", "skops", "yaml"]
FORBIDDEN = ["flask", "sqlalchemy", "telegram", "portal", "bot"]


def loaded_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nimport json; print(json.dumps(sorted(sys.modules)))"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        env=env,
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    return {m.split(".")[0] for m in json.loads(out.stdout)}


def test_import_nlp_loads_nothing_heavy_or_forbidden():
    mods = loaded_after("import nlp")
    assert not mods & set(HEAVY + FORBIDDEN)


def test_text_functions_need_no_heavy_libraries():
    mods = loaded_after(
        "import nlp\n"
        "nlp.normalize('ＡＢＣ')\n"
        "nlp.mask_pii('我叫张三，电话13812345678')\n"
        "nlp.detect_urgency('着火了')\n"
        "nlp.MAX_TEXT_CHARS, nlp.EmptyText, nlp.TextTooLong, nlp.ModelLoadError\n"
    )
    assert not mods & set(HEAVY + FORBIDDEN)


def test_heavy_libraries_load_when_used():
    mods = loaded_after("import nlp\nnlp.tokenize('物业不管')")
    assert "jieba" in mods
    assert "sklearn" not in mods
    assert not mods & set(FORBIDDEN)


def test_unknown_attribute():
    import nlp

    try:
        nlp.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:  # pragma: no cover
        raise AssertionError("expected AttributeError")
