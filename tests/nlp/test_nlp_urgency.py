from __future__ import annotations

import pytest

import nlp


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("楼道里一股很浓的煤气味，大家都不敢开灯", "燃气泄漏"),
        ("3单元天然气管道泄漏了，嘶嘶响", "燃气泄漏"),
        ("对面楼着火了，浓烟滚滚", "火灾"),
        ("仓库起火了快来人", "火灾"),
        ("老房子的墙倒塌了，压住了一辆车", "坍塌"),
        ("工地塌方了", "坍塌"),
        ("有个小孩在变电箱旁边触电了", "触电"),
        ("大风把电线刮断了，电线掉在人行道上", "触电"),
        ("电梯困人，有人被困半小时了没人来", "有人被困"),
        ("有人落水了，在河中间挣扎", "落水"),
        ("天台上有人要跳楼", "轻生"),
        ("饭店里好几个人食物中毒", "中毒"),
        ("小区门口有人持刀伤人", "暴力"),
    ],
)
def test_emergencies(text, reason):
    level, reasons = nlp.detect_urgency(text)
    assert level == "emergency"
    assert reason in reasons


@pytest.mark.parametrize(
    "text",
    [
        "人行道井盖没了，晚上看不见",
        "小区停水两天了，老人孩子没水喝",
        "这栋楼有严重的火灾隐患，楼道堆满杂物",  # a hazard, not a fire
        "墙体开裂，随时可能倒塌",  # could collapse: urgent, not yet an emergency
        "老板拖欠工资三个月，工人们要过年了",
        "电梯故障一周了，没人修",
    ],
)
def test_urgent(text):
    assert nlp.detect_urgency(text)[0] == "urgent"


@pytest.mark.parametrize(
    "text",
    [
        "路灯不亮了，麻烦修一下",
        "建议公交站增加座椅",
        "请问公积金怎么提取",
        "没有着火，只是邻居在烧烤",
        "感谢社区的热心帮助",
        "",
    ],
)
def test_normal(text):
    assert nlp.detect_urgency(text) == ("normal", [])


def test_full_width_and_noise_do_not_hide_an_emergency():
    assert nlp.detect_urgency("着\u200b火了！！！")[0] == "emergency"


def test_model_prediction_uses_the_rules(tiny_model):
    p = tiny_model.predict("楼下餐馆着火了，浓烟很大，快来人")
    assert p.urgency == "emergency"
    assert "火灾" in p.urgency_reasons
