"""Rule-based urgency: situations where someone may be hurt now, and ones that cannot wait."""

from __future__ import annotations

import re

from nlp.textnorm import normalize

URGENCY_LEVELS = ("normal", "urgent", "emergency")
_RANK = {level: i for i, level in enumerate(URGENCY_LEVELS)}

# (reason, pattern) — a person in danger right now.
_EMERGENCY: list[tuple[str, str]] = [
    (
        "燃气泄漏",
        r"(?:煤气|燃气|天然气|液化气|瓦斯)(?:管道?|罐|灶)?(?:泄漏|泄露|漏气|漏了|外泄)|(?:闻到|一股|很[大浓重]的?|好大的?)(?:煤气|燃气|天然气|液化气)味|煤气味|燃气味|gas leak",
    ),
    ("火灾", r"着火|起火|失火|火灾|大火|烧起来|燃烧起来|火势|浓烟|冒烟|冒黑烟|fire\b"),
    ("爆炸", r"爆炸|炸了"),
    ("坍塌", r"坍塌|倒塌|塌了|垮塌|塌方|要塌|快塌|垮了|掉下来砸"),
    ("触电", r"触电|电到人|被电击|漏电|电线(?:掉|断|落)|高压线(?:掉|断|落|垂)"),
    ("有人被困", r"有人被困|被困|困在电梯|关在电梯|电梯困人|出不来了"),
    ("落水", r"落水|溺水|掉(?:进|到|入)(?:河|水|湖|江|塘|井|窨井|下水道)"),
    ("轻生", r"跳楼|轻生|自杀|寻短见|不想活"),
    ("中毒", r"中毒|一氧化碳"),
    ("暴力", r"持刀|砍人|打人了|行凶|杀人|家暴|正在打架|斗殴|绑架"),
    (
        "人员受伤",
        r"(?:有人|老人|孩子|小孩|学生|工人)(?:受伤|摔伤|昏迷|晕倒|流血|被砸)|昏迷不醒|生命危险|救命",
    ),
    ("危险物", r"危化品|危险化学品泄漏|化学品泄漏"),
]
# Cannot wait for the normal queue: a hazard, a basic service out, a vulnerable person.
_URGENT: list[tuple[str, str]] = [
    ("安全隐患", r"安全隐患|隐患|危险|险情|随时可能|随时会"),
    ("井盖缺失", r"井盖(?:没了|丢|缺|被偷|破|坏|移位|松动)|没有井盖"),
    ("路面塌陷", r"塌陷|天坑|大坑"),
    ("停水停电", r"停水|停电|停气|断水|断电|没水|没电|没有暖气|暖气不热|停暖"),
    ("漏水积水", r"爆管|水管爆|管道破裂|污水外溢|污水横流|内涝|淹了|倒灌"),
    ("电梯故障", r"电梯(?:故障|坏|停运|异响|急停|下坠)"),
    ("弱势人员", r"独居老人|孤寡老人|留守儿童|无人照顾|走失|找不到(?:人|孩子|老人)"),
    ("欠薪", r"拖欠(?:农民工)?工资|欠薪|讨薪|工资.{0,6}不发"),
    ("时限", r"紧急|十万火急|刻不容缓|马上|立即|立刻|尽快|今天之内|赶紧|急需|urgent"),
    ("树木倒伏", r"树(?:木)?倒|断枝|广告牌.{0,4}(?:掉|松|晃)"),
]
# Context that turns an emergency word into something that is not happening now.
_NEGATED_BEFORE = re.compile(r"(?:没有|没|无|不是|并非|不会|曾经|去年|以前|上次)$")
_HAZARD_BEFORE = re.compile(
    r"(?:可能|随时|担心|害怕|怕|以免|防止|预防|避免|以防|防范|谨防|容易|存在)\w{0,2}$"
)
_NOT_NOW_AFTER = re.compile(
    r"^(?:隐患|风险|演练|演习|宣传|知识|检查|通道|设施|器材|栓|安全|预案|培训|报警器|保险)"
)

_EMERGENCY_RE = [(reason, re.compile(p, re.I)) for reason, p in _EMERGENCY]
_URGENT_RE = [(reason, re.compile(p, re.I)) for reason, p in _URGENT]


def _live_matches(pattern: re.Pattern[str], text: str) -> tuple[bool, bool]:
    """(active, hazard): whether a match describes something happening now, and whether
    some match describes only a hazard or a past event (隐患, 演练, 没有着火)."""
    active = hazard = False
    for m in pattern.finditer(text):
        before = text[max(0, m.start() - 6) : m.start()]
        after = text[m.end() : m.end() + 3]
        if _NEGATED_BEFORE.search(before):
            continue
        if _HAZARD_BEFORE.search(before) or _NOT_NOW_AFTER.search(after):
            hazard = True
        else:
            active = True
    return active, hazard


def detect_urgency(text: str) -> tuple[str, list[str]]:
    """The rule-based urgency level of ``text`` and the reasons that matched.

    ``emergency`` when someone may be hurt now (gas leak, fire, collapse, electrocution,
    somebody trapped or in the water, a threat to life), ``urgent`` for hazards and
    services out, otherwise ``normal``. Emergency words in a negated or preventive
    context count for nothing (没有着火), in a preventive one as a hazard, i.e. urgent
    (火灾隐患, 随时可能倒塌).
    """
    text = normalize(text) if isinstance(text, str) else ""
    reasons: list[str] = []
    level = "normal"
    for reason, pattern in _EMERGENCY_RE:
        active, hazard = _live_matches(pattern, text)
        if active:
            reasons.append(reason)
            level = "emergency"
        elif hazard and level == "normal":
            reasons.append(reason + "隐患")
            level = "urgent"
    if level == "normal":
        for reason, pattern in _URGENT_RE:
            active, _ = _live_matches(pattern, text)
            if active or pattern.search(text):
                reasons.append(reason)
                level = "urgent"
    return level, reasons


def more_urgent(a: str, b: str) -> str:
    """The more urgent of two levels."""
    return a if _RANK.get(a, 0) >= _RANK.get(b, 0) else b
