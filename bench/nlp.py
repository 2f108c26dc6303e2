"""NLP engine benchmark: quality on the real Teddy Cup 2020 messages, the default model's
day-one quality, speed, load time and artifact size, checked against issue 2's targets.

    python bench/nlp.py [--json] [--skip-cv] [--folds 5]

The real data lives outside the project (``../shared/data``, or ``$SHUZHI_EVAL_DATA``);
without it the benchmark says so and exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the targets are stated (before numpy)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TARGETS = {
    "cv_macro_f1_gt": 0.905,
    "cv_coverage80_ge": 0.97,
    "default_macro_f1_aim": 0.80,
    "predict_ms_p50_le": 2.0,
    "predict_ms_p95_le": 10.0,
    "load_seconds_le": 1.5,
    "artifact_mb_le": 30.0,
}
REAL_FILE = "teddy2020_messages_partial.csv"


def data_dir() -> Path:
    env = os.environ.get("SHUZHI_EVAL_DATA")
    return Path(env) if env else ROOT.parent / "shared" / "data"


def cross_validation(path: Path, folds: int) -> dict:
    from nlp.corpus import read_examples
    from nlp.evaluate import evaluate

    return evaluate(read_examples(path, "text", "label"), folds=folds, progress=True)


def default_model_on_real(path: Path) -> dict:
    from sklearn.metrics import classification_report, f1_score

    import nlp
    from nlp.corpus import read_examples

    examples = read_examples(path, "text", "label")
    model = nlp.default_model()
    started = time.perf_counter()
    preds = [p.group for p in model.predict_many([e.text for e in examples])]
    seconds = time.perf_counter() - started
    truth = [e.group for e in examples]
    present = sorted(set(truth))
    report = classification_report(truth, preds, labels=present, output_dict=True, zero_division=0)
    outside = {}
    for p, t in zip(preds, truth, strict=True):
        if p not in present:
            outside.setdefault(t, {}).setdefault(p, 0)
            outside[t][p] += 1
    return {
        "model_version": model.version,
        "training_rows": model.metadata.get("training_rows"),
        "rows": len(truth),
        "macro_f1_present_groups": round(
            float(f1_score(truth, preds, labels=present, average="macro")), 4
        ),
        "accuracy": round(sum(p == t for p, t in zip(preds, truth, strict=True)) / len(truth), 4),
        "per_class": {
            g: {k: round(float(report[g][k]), 3) for k in ("precision", "recall", "f1-score")}
            for g in present
        },
        "predicted_outside_the_7_groups": outside,
        "batch_seconds": round(seconds, 2),
    }


def speed(path: Path, n: int = 500) -> dict:
    """Single-message latency of the default model, wall clock and CPU time."""
    import nlp
    from nlp.corpus import read_examples
    from nlp.tokenizer import clear_caches

    model = nlp.default_model()
    texts = [e.text for e in read_examples(path, "text", "label")][:n]
    model.predict("预热")
    clear_caches()
    wall, cpu = [], []
    for t in texts:
        w, c = time.perf_counter(), time.process_time()
        model.predict(t)
        cpu.append((time.process_time() - c) * 1000)
        wall.append((time.perf_counter() - w) * 1000)

    def pct(xs: list[float], q: float) -> float:
        xs = sorted(xs)
        return round(xs[min(len(xs) - 1, int(q * len(xs)))], 3)

    return {
        "messages": len(texts),
        "median_chars": statistics.median(len(t) for t in texts),
        "predict_ms_p50": round(statistics.median(wall), 3),
        "predict_ms_p95": pct(wall, 0.95),
        "predict_cpu_ms_p50": round(statistics.median(cpu), 3),
        "predict_cpu_ms_p95": pct(cpu, 0.95),
    }


def load_time() -> dict:
    """Loading the default model in a fresh process: cold (imports, jieba's dictionary and
    the artifact) and the artifact alone once the libraries are imported."""
    import nlp

    model_dir = nlp.default_model_dir()
    nlp.default_model()  # make sure it exists
    script = (
        "import time, sys\n"
        "w0, c0 = time.perf_counter(), time.process_time()\n"
        "import sklearn, skops.io, jieba\n"
        "from nlp.tokenizer import get_tokenizer\n"
        "get_tokenizer()\n"
        "w1, c1 = time.perf_counter(), time.process_time()\n"
        "import nlp\n"
        f"m = nlp.load_model({str(model_dir)!r})\n"
        "m.predict('楼下烧烤油烟扰民')\n"
        "w2, c2 = time.perf_counter(), time.process_time()\n"
        "print(w2 - w0, c2 - c0, w2 - w1, c2 - c1)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    runs = []
    for _ in range(3):
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
        )
        runs.append([float(v) for v in out.stdout.split()])
    best = [min(r[i] for r in runs) for i in range(4)]
    size = (model_dir / "model.skops").stat().st_size
    return {
        "cold_load_seconds": round(best[0], 3),
        "cold_load_cpu_seconds": round(best[1], 3),
        "load_seconds": round(best[2], 3),
        "load_cpu_seconds": round(best[3], 3),
        "artifact_mb": round(size / 1e6, 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--skip-cv", action="store_true", help="skip the 5-fold CV (minutes)")
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args()
    real = data_dir() / REAL_FILE
    if not real.is_file():
        msg = {"skipped": f"no evaluation data at {real} (set SHUZHI_EVAL_DATA)"}
        print(json.dumps(msg) if args.json else msg["skipped"])
        return 0
    result: dict = {"data": str(real)}
    if not args.skip_cv:
        result["cv"] = cross_validation(real, args.folds)
    result["default_model"] = default_model_on_real(real)
    result["speed"] = speed(real)
    result["load"] = load_time()
    checks = {
        "default_macro_f1_aim": result["default_model"]["macro_f1_present_groups"]
        >= TARGETS["default_macro_f1_aim"],
        "predict_ms_p50_le": result["speed"]["predict_ms_p50"] <= TARGETS["predict_ms_p50_le"],
        "predict_ms_p95_le": result["speed"]["predict_ms_p95"] <= TARGETS["predict_ms_p95_le"],
        "load_seconds_le": result["load"]["load_seconds"] <= TARGETS["load_seconds_le"],
        "artifact_mb_le": result["load"]["artifact_mb"] <= TARGETS["artifact_mb_le"],
    }
    if "cv" in result:
        checks["cv_macro_f1_gt"] = result["cv"]["macro_f1"] > TARGETS["cv_macro_f1_gt"]
        checks["cv_coverage80_ge"] = (
            result["cv"]["coverage_accuracy"]["0.8"] >= TARGETS["cv_coverage80_ge"]
        )
    checks = {name: bool(ok) for name, ok in checks.items()}  # numpy bools are not JSON
    result["targets"] = TARGETS
    result["checks"] = checks
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        if "cv" in result:
            cv = result["cv"]
            print(
                f"CV ({cv['folds']}-fold, {cv['rows']} rows): macro-F1 {cv['macro_f1']}, "
                f"accuracy {cv['accuracy']}, coverage {cv['coverage_accuracy']}, "
                f"fit {cv['fit_seconds']} s/fold"
            )
        d = result["default_model"]
        print(
            f"default model {d['model_version']} on the real file: macro-F1 (7 groups) "
            f"{d['macro_f1_present_groups']}, accuracy {d['accuracy']}"
        )
        for g, m in d["per_class"].items():
            print(f"  {g:<8} P {m['precision']:.3f} R {m['recall']:.3f} F1 {m['f1-score']:.3f}")
        print(f"speed: {result['speed']}")
        print(f"load: {result['load']}")
        for name, ok in checks.items():
            print(f"  {'PASS' if ok else 'MISS'} {name} {TARGETS[name]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
