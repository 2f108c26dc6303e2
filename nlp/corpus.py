"""Training data: the shipped seed corpus and operators' own CSV/XLSX files."""

from __future__ import annotations

import csv
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from nlp.errors import CorpusError

SEED_DIR = Path(__file__).with_name("data") / "seed"
KINDS = ("complaint", "proposal", "inquiry", "praise")
URGENCIES = ("emergency", "urgent", "normal")
# Column names of the Teddy Cup 2020 message files (and of many 12345 exports).
TEDDY_SUBJECT, TEDDY_DETAIL, TEDDY_LABEL = "留言主题", "留言详情", "一级标签"
_TRUE = {"true", "1", "yes", "y", "t"}


@dataclass(frozen=True, slots=True)
class Example:
    """One labelled message. ``category``, ``kind`` and ``urgency`` may be unknown."""

    text: str
    group: str
    category: str | None = None
    kind: str | None = None
    urgency: str | None = None


def _csv_dicts(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return [dict(r) for r in csv.DictReader(fh)]


def _xlsx_dicts(path: Path) -> list[dict[str, str]]:
    import openpyxl

    wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        rows = wb.active.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        return [
            {h: ("" if v is None else str(v)) for h, v in zip(header, row, strict=False)}
            for row in rows
        ]
    finally:
        wb.close()


def read_table(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV or an .xlsx file as dicts keyed by the header."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"no such file: {p}")
    if p.suffix.lower() in (".xlsx", ".xlsm"):
        return _xlsx_dicts(p)
    try:
        return _csv_dicts(p)
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{p} is not UTF-8 text: {exc}") from None


def read_examples(
    path: str | os.PathLike[str],
    text_col: str = "text",
    label_col: str = "label",
    *,
    category_col: str | None = "category",
    kind_col: str | None = "kind",
    urgency_col: str | None = "urgency",
    skip_col: str | None = "label_conflict",
) -> list[Example]:
    """Labelled examples from a CSV or XLSX file.

    When ``text_col`` is missing but the Teddy Cup columns 留言主题/留言详情 (or
    ``subject``/``detail``) exist, the text is subject + detail; when ``label_col`` is missing, 一级标签 is used. Rows whose
    ``skip_col`` is true, or whose text or label is empty, are skipped.
    """
    rows = read_table(path)
    if not rows:
        raise CorpusError(f"{path}: no rows")
    cols = set(rows[0])
    subject_detail = None
    if text_col not in cols:
        for subject, detail in ((TEDDY_SUBJECT, TEDDY_DETAIL), ("subject", "detail")):
            if subject in cols and detail in cols:
                subject_detail = (subject, detail)
                break
    if text_col not in cols and subject_detail is None:
        raise CorpusError(f"{path}: no column {text_col!r} (columns: {sorted(cols)})")
    if label_col not in cols:
        if TEDDY_LABEL in cols:
            label_col = TEDDY_LABEL
        else:
            raise CorpusError(f"{path}: no column {label_col!r} (columns: {sorted(cols)})")
    out = []
    for r in rows:
        if skip_col and str(r.get(skip_col, "")).strip().lower() in _TRUE:
            continue
        if subject_detail is not None:
            subject, detail = subject_detail
            text = f"{(r.get(subject) or '').strip()}\n{(r.get(detail) or '').strip()}"
        else:
            text = r.get(text_col, "")
        text, label = (text or "").strip(), (r.get(label_col) or "").strip()
        if not text or not label:
            continue
        kind = (r.get(kind_col) or "").strip() if kind_col else ""
        urgency = (r.get(urgency_col) or "").strip() if urgency_col else ""
        category = (r.get(category_col) or "").strip() if category_col else ""
        out.append(
            Example(
                text=text,
                group=label,
                category=category or None,
                kind=kind if kind in KINDS else None,
                urgency=urgency if urgency in URGENCIES else None,
            )
        )
    if not out:
        raise CorpusError(f"{path}: no usable rows")
    return out


def seed_files(seed_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    return sorted(Path(seed_dir or SEED_DIR).glob("*.csv"))


def seed_fingerprint(seed_dir: str | os.PathLike[str] | None = None) -> str:
    """SHA-256 over the names and bytes of the seed files (changes when any file does)."""
    h = hashlib.sha256()
    for f in seed_files(seed_dir):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def seed_examples(seed_dir: str | os.PathLike[str] | None = None) -> list[Example]:
    """All rows of the seed corpus (``nlp/data/seed/*.csv``), checked against the default
    catalogue: unknown groups are skipped, categories outside their group dropped."""
    from nlp.catalogue import catalogue

    cat = catalogue()
    files = seed_files(seed_dir)
    if not files:
        raise CorpusError(f"the seed corpus is empty: no CSV files in {seed_dir or SEED_DIR}")
    out: list[Example] = []
    for f in files:
        for r in _csv_dicts(f):
            text, group = (r.get("text") or "").strip(), (r.get("group") or "").strip()
            g = cat.group(group)
            if not text or g is None:
                continue
            category = (r.get("category") or "").strip()
            kind = (r.get("kind") or "").strip()
            urgency = (r.get("urgency") or "").strip()
            out.append(
                Example(
                    text=text,
                    group=g.name,
                    category=category if g.category(category) else None,
                    kind=kind if kind in KINDS else None,
                    urgency=urgency if urgency in URGENCIES else None,
                )
            )
    if not out:
        raise CorpusError("the seed corpus has no usable rows")
    return out
