"""``python -m nlp hotspots`` on a tiny CSV fixture written here."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from nlp.__main__ import main

ROWS = [
    (
        "1",
        "A5区魅力之城小区楼下烧烤油烟扰民",
        "2019/7/21 20:00:00",
        "小区一楼夜宵摊油烟直排，晚上噪音很大，居民无法休息。",
        "3",
    ),
    (
        "2",
        "魅力之城小区楼下烧烤油烟扰民",
        "2019/7/22 21:10:00",
        "小区一楼夜宵摊油烟直排，晚上噪音很大，居民无法休息！",
        "0",
    ),
    (
        "3",
        "A5区魅力之城小区一楼烧烤油烟扰民严重",
        "2019/7/25 9:00:00",
        "小区一楼夜宵摊油烟直排，晚上噪音很大，居民们无法休息。",
        "5",
    ),
    (
        "4",
        "再次反映魅力之城小区楼下烧烤油烟扰民",
        "2019/7/30 22:30:00",
        "小区一楼夜宵摊油烟直排，晚上噪音很大，居民无法正常休息。",
        "1",
    ),
    (
        "5",
        "咨询A6区道路命名规划成果公示",
        "2019/2/14 20:00:00",
        "道路命名规划已经公示，什么时候安装路名牌？",
        "1",
    ),
    (
        "6",
        "A7县春华镇金鼎村自来水到户",
        "2019/7/19 18:19:54",
        "村里自来水什么时候能通到户，有没有相关政策？",
        "0",
    ),
    ("7", "学校门口交通拥堵", "not a time", "每天早上学校门口车辆乱停，孩子上学很危险。", "0"),
]


@pytest.fixture
def message_file(tmp_path: Path) -> Path:
    path = tmp_path / "messages.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "user", "subject", "time", "detail", "likes", "dislikes"])
        for rid, subject, time, detail, likes in ROWS:
            writer.writerow([rid, "A000" + rid, subject, time, detail, likes, "0"])
    return path


def test_lists_the_cluster_with_its_messages(
    message_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["hotspots", "--data", str(message_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["messages"] == 6
    assert out["skipped"] == [{"line": 8, "reason": "unreadable time 'not a time'"}]
    assert len(out["clusters"]) == 1
    cluster = out["clusters"][0]
    assert sorted(m["id"] for m in cluster["messages"]) == ["1", "2", "3", "4"]
    assert cluster["likes"] == 9 and cluster["size"] == 4
    assert "油烟" in cluster["terms"]

    assert main(["hotspots", "--data", str(message_file), "--top", "1"]) == 0
    text = capsys.readouterr().out
    assert "#1 size 4, likes 9" in text and "油烟" in text


def test_bad_input_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "wrong.csv"
    path.write_text("id,body\n1,hello\n", encoding="utf-8")
    assert main(["hotspots", "--data", str(path)]) == 2
    assert "missing column(s) subject, detail, time" in capsys.readouterr().err
    assert main(["hotspots", "--data", str(tmp_path / "absent.csv")]) == 2
    assert "cannot read" in capsys.readouterr().err
