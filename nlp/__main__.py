"""Command line: ``python -m nlp train | evaluate | classify | hotspots`` (also ``shuzhi-nlp``)."""

from __future__ import annotations

import argparse
import json
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from nlp.errors import MAX_TEXT_CHARS, EmptyText, NlpError, TextTooLong


def _examples(args: argparse.Namespace) -> tuple[list[Any], str, str]:
    """(examples, data SHA-256, source description) from --data or the seed corpus."""
    from nlp.corpus import file_sha256, read_examples, seed_examples, seed_fingerprint

    if args.data is None:
        return seed_examples(), seed_fingerprint(), "seed corpus"
    examples = read_examples(
        args.data,
        args.text_col,
        args.label_col,
        category_col=args.category_col,
        kind_col=args.kind_col,
        urgency_col=args.urgency_col,
    )
    return examples, file_sha256(args.data), str(Path(args.data).name)


def _data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", help="CSV (UTF-8) or XLSX file; default: the seed corpus")
    p.add_argument("--text-col", default="text")
    p.add_argument("--label-col", default="label", help="first-level group column")
    p.add_argument("--category-col", default="category")
    p.add_argument("--kind-col", default="kind")
    p.add_argument("--urgency-col", default="urgency")


def cmd_train(args: argparse.Namespace) -> int:
    from nlp.model import save_model, train

    examples, sha, source = _examples(args)
    model = train(examples, data_sha256=sha, source=source, name=args.name, progress=True)
    save_model(model, args.out)
    print(json.dumps(model.metadata, ensure_ascii=False, indent=2))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from nlp.evaluate import evaluate

    examples, _, _ = _examples(args)
    result = evaluate(examples, folds=args.folds, seed=args.seed, progress=True)
    if args.json:
        print(json.dumps(result, ensure_ascii=False))
        return 0
    print(f"rows {result['rows']}, {result['folds']}-fold CV")
    print(f"macro-F1 {result['macro_f1']:.4f}  accuracy {result['accuracy']:.4f}")
    for cov, acc in result["coverage_accuracy"].items():
        print(f"accuracy on the most confident {float(cov):.0%}: {acc:.4f}")
    for label, m in result["per_class"].items():
        print(
            f"  {label:<10} P {m['precision']:.3f}  R {m['recall']:.3f}  "
            f"F1 {m['f1-score']:.3f}  n={m['support']}"
        )
    print(
        f"fit {result['fit_seconds']} s per fold; predict p50 {result['predict_ms_p50']} ms, "
        f"p95 {result['predict_ms_p95']} ms"
    )
    return 0


def _line_error(line: int, code: str, message: str) -> dict[str, Any]:
    return {"line": line, "error": code, "message": message}


def _looks_binary(text: str) -> bool:
    if "\x00" in text:
        return True
    bad = sum(
        1 for ch in text if unicodedata.category(ch) in ("Cc", "Co", "Cn") and ch not in "\t\r\n"
    )
    return bad > max(2, len(text) // 10)


def classify_stream(model: Any, stdin: BinaryIO, stdout: TextIO) -> int:
    """Classify each input line; write one JSON object per line. Returns the error count."""
    from nlp.engine import analyse

    errors = 0
    for number, raw in enumerate(stdin, 1):
        raw = raw.rstrip(b"\r\n")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            out = _line_error(number, "not_utf8", f"line is not UTF-8 text ({exc.reason})")
        else:
            if len(text) > MAX_TEXT_CHARS:
                out = _line_error(
                    number, "too_long", f"{len(text)} characters; the limit is {MAX_TEXT_CHARS}"
                )
            elif _looks_binary(text):
                out = _line_error(number, "binary", "line looks like binary data")
            else:
                try:
                    a = analyse(text, model)
                except EmptyText:
                    out = _line_error(number, "empty", "empty line")
                except TextTooLong as exc:
                    out = _line_error(number, "too_long", str(exc))
                except Exception as exc:  # one bad line never stops the stream
                    out = _line_error(number, "internal", f"{type(exc).__name__}: {exc}")
                else:
                    p = a.prediction
                    out = {
                        "line": number,
                        "group": p.group,
                        "category": p.category,
                        "kind": p.kind,
                        "urgency": p.urgency,
                        "urgency_reasons": p.urgency_reasons,
                        "confidence": p.confidence,
                        "explanation": p.explanation,
                        "masked_text": a.masked_text,
                        "pii": sorted({s.kind for s in a.pii}),
                        "model_version": p.model_version,
                    }
        errors += "error" in out
        stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
        stdout.flush()
    return errors


def cmd_classify(args: argparse.Namespace) -> int:
    from nlp.engine import default_model
    from nlp.model import load_model

    model = load_model(args.model) if args.model else default_model()
    classify_stream(model, sys.stdin.buffer, sys.stdout)
    return 0


def cmd_hotspots(args: argparse.Namespace) -> int:
    import time

    from nlp.hotspots import find_clusters, read_records

    started = time.perf_counter()
    text_cols = [c.strip() for c in args.text_col.split(",") if c.strip()]
    data = read_records(
        args.data,
        text_cols=text_cols,
        time_col=args.time_col,
        id_col=args.id_col,
        weight_col=args.likes_col or None,
    )
    clusters = find_clusters(
        data.records,
        threshold=args.threshold,
        window_days=args.window_days,
        min_size=args.min_size,
        limit=args.top,
    )
    seconds = round(time.perf_counter() - started, 2)
    by_id = {r.id: r for r in data.records}
    out = {
        "messages": len(data.records),
        "skipped": [{"line": line, "reason": reason} for line, reason in data.skipped],
        "seconds": seconds,
        "clusters": [
            {
                "rank": rank,
                "size": c.size,
                "likes": c.weight,
                "start": c.start.isoformat(),
                "end": c.end.isoformat(),
                "terms": c.terms,
                "representatives": c.representatives,
                "messages": [
                    {
                        "id": i,
                        "time": by_id[i].time.isoformat(),
                        "likes": by_id[i].weight,
                        "text": by_id[i].text[:200],
                    }
                    for i in c.ids
                ],
            }
            for rank, c in enumerate(clusters, 1)
        ],
    }
    if args.json:
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{out['messages']} messages ({len(data.skipped)} skipped), {seconds} s")
    for c in out["clusters"]:
        print(
            f"#{c['rank']} size {c['size']}, likes {c['likes']:g}, "
            f"{c['start'][:10]} .. {c['end'][:10]}: {' '.join(c['terms'])}"
        )
        for m in c["messages"][: args.show]:
            head = m["text"].replace("\n", " | ")[:80]
            print(f"    {m['id']}  {m['time'][:10]}  likes {m['likes']:g}  {head}")
        if len(c["messages"]) > args.show:
            print(f"    ... {len(c['messages']) - args.show} more")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nlp", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train a model and write it to --out")
    _data_args(p)
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--name", default="custom", help="prefix of the model version")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="stratified k-fold evaluation of the group pipeline")
    _data_args(p)
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("classify", help="classify UTF-8 lines from stdin, one JSON per line")
    p.add_argument("--model", help="model directory (default: the default model)")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("hotspots", help="clusters of similar messages in a CSV file")
    p.add_argument("--data", required=True, help="UTF-8 CSV file of messages")
    p.add_argument("--text-col", default="subject,detail", help="text column(s), comma-separated")
    p.add_argument("--time-col", default="time")
    p.add_argument("--id-col", default="id")
    p.add_argument("--likes-col", default="likes", help="support column ('' for none)")
    p.add_argument("--top", type=int, default=10, help="how many clusters to list")
    p.add_argument("--show", type=int, default=5, help="messages shown per cluster (text)")
    p.add_argument("--threshold", type=float, default=0.45, help="cosine similarity to link")
    p.add_argument("--window-days", type=float, default=30.0)
    p.add_argument("--min-size", type=int, default=3)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=cmd_hotspots)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except NlpError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
