"""Personal-data detection and masking for public display.

Masks are length-preserving, so every span's offsets are valid both in the input and in
the masked text, and masking can be re-applied until nothing matches any more.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

PII_KINDS = ("mobile", "landline", "id_number", "bank_card", "email", "plate", "name", "address")
MASK = "*"


@dataclass(frozen=True, slots=True)
class PiiSpan:
    """One piece of personal data found in a text; offsets refer to the input text."""

    kind: str
    start: int
    end: int
    value: str

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "start": self.start, "end": self.end, "value": self.value}


@dataclass(frozen=True, slots=True)
class MaskResult:
    """The masked text and the spans that were masked (ordered by position)."""

    text: str
    spans: list[PiiSpan] = field(default_factory=list)


_D = r"(?<![0-9])"  # no digit before
_ND = r"(?![0-9])"  # no digit after
MOBILE_RE = re.compile(_D + r"(?:(?:\+|00)?86[- ]?)?(1[3-9][0-9](?:[- ]?[0-9]{4}){2})" + _ND)
LANDLINE_RE = re.compile(
    _D + r"(?:\(0[1-9][0-9]{1,2}\)|0[1-9][0-9]{1,2}[- ]?)[2-9][0-9]{6,7}(?:-[0-9]{1,5})?" + _ND
)
ID_RE = re.compile(_D + r"[1-9][0-9]{16}[0-9Xx]" + r"(?![0-9Xx])")
BANK_RE = re.compile(_D + r"[1-9][0-9]{3}(?:[ -]?[0-9]{4}){2,3}(?:[ -]?[0-9]{1,3})?" + _ND)
EMAIL_RE = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)
_PROVINCES = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
PLATE_RE = re.compile(
    r"[" + _PROVINCES + r"][A-Za-z][·. ]?[A-Za-z0-9]{4}[A-Za-z0-9挂学警领港澳]{1,2}(?![A-Za-z0-9])"
)
_SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝"
    "龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞"
    "左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕"
    "屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧"
    "闵苟邬边卞姬师和仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
)
_COMPOUND = "欧阳|司马|诸葛|上官|东方|皇甫|尉迟|公孙|慕容|令狐|夏侯|长孙|宇文|司徒|端木"
# Characters that end a name: they begin the words that usually follow one.
_NOT_IN_NAME = (
    "的是在今住电手联系说想要和与及也都已就从到向给因为了我你他她们这那个有没不会能先女师老同"
)
NAME_RE = re.compile(
    r"(?:我叫|我是|我的名字是|本人(?:是|叫)?|联系人(?:是|为)?[:：]?|姓名[:：]?|署名[:：]?|报案人[:：]?|投诉人[:：]?)\s?"
    r"((?:" + _COMPOUND + r"|[" + _SURNAMES + r"])[^\s" + _NOT_IN_NAME + r"\W\dA-Za-z]{1,2})"
)


# Exact addresses: a house number after a road/village word (幸福路88号, 王家村3组12号), a
# building with a unit or room (3栋502, 5单元201室, 12-3-502), a room number (502室). The
# road or estate name stays readable (it locates the problem); the numbers are masked.
_ADDRESS_PART = (
    r"(?:[0-9]{1,4}(?:栋|幢|号楼|座|单元|楼|层|室|号|户)|[-－][0-9]{1,4}|(?<=单元)[0-9]{2,4})"
)
ADDRESS_RES = (
    re.compile(r"(?<=[路街巷道弄村组里坊湾])[0-9]{1,5}号(?![线文件])院?" + _ADDRESS_PART + r"*"),
    re.compile(r"(?<![0-9月])[0-9]{1,3}(?:栋|幢|号楼|座)" + _ADDRESS_PART + r"+"),
    re.compile(r"(?<![0-9])[0-9]{1,2}单元[0-9]{2,4}(?:室|号|户)?"),
    re.compile(r"(?<![0-9])[0-9]{1,3}[-－][0-9]{1,2}[-－][0-9]{3,4}(?![0-9])"),
    re.compile(r"(?<![0-9])[0-9]{3,4}(?:室|房间)"),
)


def id_check_ok(number: str) -> bool:
    """True when an 18-character mainland resident ID has a valid GB 11643 check digit
    and a plausible birth date."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(d) * w for d, w in zip(number[:17], weights, strict=True))
    if "10X98765432"[total % 11] != number[17].upper():
        return False
    year, month, day = int(number[6:10]), int(number[10:12]), int(number[12:14])
    return 1900 <= year <= 2100 and 1 <= month <= 12 and 1 <= day <= 31


def luhn_ok(number: str) -> bool:
    """True when the digits of ``number`` pass the Luhn check."""
    digits = [int(c) for c in number if c.isdigit()]
    if len(digits) < 12:
        return False
    total = 0
    for i, d in enumerate(reversed(digits)):
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find(text: str) -> list[PiiSpan]:
    found: list[PiiSpan] = []
    taken = [False] * (len(text) + 1)

    def add(kind: str, start: int, end: int) -> None:
        if any(taken[start:end]):
            return
        for i in range(start, end):
            taken[i] = True
        found.append(PiiSpan(kind, start, end, text[start:end]))

    for m in EMAIL_RE.finditer(text):
        add("email", m.start(), m.end())
    for m in ID_RE.finditer(text):
        if id_check_ok(m.group()):
            add("id_number", m.start(), m.end())
    for m in MOBILE_RE.finditer(text):
        add("mobile", m.start(), m.end())
    for m in BANK_RE.finditer(text):
        digits = re.sub(r"[ -]", "", m.group())
        if 16 <= len(digits) <= 19 and luhn_ok(digits):
            add("bank_card", m.start(), m.end())
    for m in LANDLINE_RE.finditer(text):
        add("landline", m.start(), m.end())
    for m in PLATE_RE.finditer(text):
        add("plate", m.start(), m.end())
    for m in NAME_RE.finditer(text):
        add("name", m.start(1), m.end(1))
    for pattern in ADDRESS_RES:
        for m in pattern.finditer(text):
            add("address", m.start(), m.end())
    found.sort(key=lambda s: s.start)
    return found


def _masked(span: PiiSpan) -> str:
    v = span.value
    if span.kind == "mobile":
        # keep the first three and last four digits: 138****5678
        digits = [i for i, c in enumerate(v) if c.isdigit()]
        keep = set(digits[-4:]) | set(digits[-11:-8])
        return "".join(c if (i in keep or not c.isdigit()) else MASK for i, c in enumerate(v))
    if span.kind in ("landline", "id_number", "bank_card"):
        # keep the last four digits only
        alnum = [i for i, c in enumerate(v) if c.isalnum()]
        keep = set(alnum[-4:])
        return "".join(MASK if (c.isalnum() and i not in keep) else c for i, c in enumerate(v))
    if span.kind == "email":
        local, _, domain = v.partition("@")
        return local[:1] + MASK * (len(local) - 1) + "@" + domain
    if span.kind == "address":
        return "".join(MASK if c.isdigit() else c for c in v)
    if span.kind == "plate":
        return v[:2] + "".join(MASK if c.isalnum() else c for c in v[2:])
    # name: keep the surname
    keep = 2 if re.match(_COMPOUND, v) else 1
    return v[:keep] + MASK * (len(v) - keep)


_RESIDUE = (MOBILE_RE, LANDLINE_RE)


def mask_pii(text: str) -> MaskResult:
    """Find personal data in ``text`` and mask it for public display.

    Kinds: ``mobile``, ``landline``, ``id_number`` (18 digits with a valid check digit),
    ``bank_card`` (16–19 digits passing Luhn), ``email``, ``plate`` (licence plates) and
    ``name`` (introduced by cues such as 我叫, 本人, 联系人, 姓名) and ``address`` (house,
    building and room numbers; the road or estate name stays). Masks keep the length of
    the original, so offsets are the same in the input and the output, and what is left
    never matches the phone or ID patterns again.
    """
    spans = _find(text)
    chars = list(text)
    for span in spans:
        chars[span.start : span.end] = _masked(span)
    masked = "".join(chars)
    # Masking changes digit boundaries; whatever now looks like a phone or ID number is
    # masked completely (its digits all become MASK), until nothing matches.
    for _ in range(10):
        residue = [m for pattern in _RESIDUE for m in pattern.finditer(masked)]
        residue += [m for m in ID_RE.finditer(masked) if id_check_ok(m.group())]
        if not residue:
            break
        chars = list(masked)
        for m in residue:
            for i in range(m.start(), m.end()):
                if chars[i].isdigit():
                    chars[i] = MASK
        masked = "".join(chars)
    return MaskResult(masked, spans)
