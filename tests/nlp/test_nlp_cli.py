from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nlp.__main__ import main

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: bytes = b"", timeout: float = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"}
    return subprocess.run(
        [sys.executable, "-m", "nlp", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )


def test_classify_good_and_bad_lines(tiny_model_dir):
    lines = [
        "公司拖欠工资三个月，我叫张三，电话13812345678".encode(),
        b"",
        b"   ",
        b"\x00\x01\x02\xff\xfe binary \x00garbage",
        "吵".encode() * 100_000,
        "楼下着火了！！".encode(),
        b"\xe6\xb5",  # truncated UTF-8
        b"\x01\x02\x03\x04\x05\x06",
    ]
    proc = run_cli("classify", "--model", str(tiny_model_dir), stdin=b"\n".join(lines) + b"\n")
    assert proc.returncode == 0, proc.stderr.decode()
    out = [json.loads(line) for line in proc.stdout.decode().splitlines()]
    assert len(out) == len(lines)
    assert [o["line"] for o in out] == list(range(1, len(lines) + 1))
    first = out[0]
    assert first["group"] == "劳动和社会保障"
    assert {
        "group",
        "category",
        "kind",
        "urgency",
        "confidence",
        "explanation",
        "masked_text",
        "model_version",
    } <= set(first)
    assert "13812345678" not in first["masked_text"] and "张三" not in first["masked_text"]
    assert 0 <= first["confidence"] <= 1
    assert out[1]["error"] == "empty" and out[2]["error"] == "empty"
    assert out[3]["error"] in ("binary", "not_utf8")
    assert out[4]["error"] == "too_long"
    assert out[5]["urgency"] == "emergency"
    assert out[6]["error"] == "not_utf8"
    assert out[7]["error"] in ("binary", "empty")


def test_classify_reports_a_bad_model_dir(tmp_path):
    proc = run_cli("classify", "--model", str(tmp_path), stdin=b"hello\n")
    assert proc.returncode == 2
    assert b"no model" in proc.stderr


@pytest.fixture
def tiny_csv(tmp_path, tiny_rows):
    path = tmp_path / "history.csv"
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "text", "label", "label_conflict"])
        for i, (text, group, *_rest) in enumerate(tiny_rows):
            w.writerow([i, text, group, "False"])
        w.writerow([999, "这一行标签有冲突", "政法", "True"])
    return path


def cli(capsys, *args: str) -> tuple[int, str, str]:
    """Run the CLI in this process (train and evaluate; classify runs as a subprocess)."""
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_train_then_classify_csv(tiny_csv, tmp_path, capsys):
    out = tmp_path / "model"
    code, stdout, stderr = cli(
        capsys,
        "train",
        "--data",
        str(tiny_csv),
        "--text-col",
        "text",
        "--label-col",
        "label",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    meta = json.loads(stdout)
    assert meta["source"] == "history.csv" and "政法" not in meta["labels"]["group"]
    assert (out / "model.skops").is_file() and (out / "metadata.json").is_file()
    assert "\r" not in stderr  # no progress bar when not attached to a terminal
    proc = run_cli("classify", "--model", str(out), stdin="工厂偷排废水\n".encode())
    result = json.loads(proc.stdout)
    assert result["group"] == "环境保护" and result["category"] is None


def test_train_reads_teddy_cup_xlsx(tmp_path, tiny_rows, capsys):
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["留言编号", "留言用户", "留言主题", "留言时间", "留言详情", "一级标签"])
    for i, (text, group, *_rest) in enumerate(tiny_rows):
        ws.append([i, "A0001", text[:8], "2020/1/1 10:00:00", text, group])
    path = tmp_path / "附件2.xlsx"
    wb.save(path)
    code, stdout, stderr = cli(capsys, "train", "--data", str(path), "--out", str(tmp_path / "m"))
    assert code == 0, stderr
    assert json.loads(stdout)["training_rows"] == len(tiny_rows)


def test_evaluate_json(tiny_csv, capsys):
    code, stdout, stderr = cli(
        capsys,
        "evaluate",
        "--data",
        str(tiny_csv),
        "--text-col",
        "text",
        "--label-col",
        "label",
        "--folds",
        "3",
        "--json",
    )
    assert code == 0, stderr
    result = json.loads(stdout)
    for key in (
        "macro_f1",
        "accuracy",
        "per_class",
        "confusion",
        "coverage_accuracy",
        "fit_seconds",
        "predict_ms_p50",
        "predict_ms_p95",
    ):
        assert key in result
    assert set(result["coverage_accuracy"]) == {"0.9", "0.8", "0.7"}
    assert 0 <= result["macro_f1"] <= 1
    assert result["rows"] == 28


def test_evaluate_plain_text(tiny_csv, capsys):
    code, stdout, _ = cli(capsys, "evaluate", "--data", str(tiny_csv), "--folds", "3")
    assert code == 0 and "macro-F1" in stdout and "most confident 80%" in stdout


def test_missing_column_is_reported(tiny_csv, tmp_path, capsys):
    code, _, stderr = cli(
        capsys, "train", "--data", str(tiny_csv), "--text-col", "body", "--out", str(tmp_path / "m")
    )
    assert code == 2 and "no column 'body'" in stderr
