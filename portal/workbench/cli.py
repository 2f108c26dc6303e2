"""Workbench commands for cron and operators: escalation, unrated verdicts, labelled examples."""

from __future__ import annotations

import csv
import sys
from contextlib import nullcontext
from pathlib import Path

import click
from flask import Flask

from portal import get_session
from portal.workbench.escalation import escalate_overdue
from portal.workbench.triage import labelled_examples_for_training
from portal.workbench.verdicts import close_unrated


def register(app: Flask) -> None:
    app.cli.add_command(escalate_overdue_command)
    app.cli.add_command(close_unrated_command)
    app.cli.add_command(export_examples_command)


@click.command("escalate-overdue")
def escalate_overdue_command() -> None:
    """Flag overdue cases to department heads and coordinators (idempotent; run by cron)."""
    session = get_session()
    summary = escalate_overdue(session)
    session.commit()
    click.echo(
        f"escalated {len(summary.escalated)} overdue case(s), "
        f"{summary.already_escalated} already escalated, "
        f"{summary.notifications} notification(s) written"
    )
    for number in summary.escalated:
        click.echo(f"  {number}")


@click.command("close-unrated")
@click.option(
    "--days", type=click.IntRange(min=0), default=None, help="Override the verdict_days setting."
)
def close_unrated_command(days: int | None) -> None:
    """Close resolved cases whose resident gave no verdict within verdict_days (idempotent)."""
    session = get_session()
    summary = close_unrated(session, days=days)
    session.commit()
    click.echo(
        f"closed {len(summary.closed)} unrated case(s) resolved before {summary.cutoff.isoformat()}"
    )
    for number in summary.closed:
        click.echo(f"  {number}")


@click.command("export-labelled-examples")
@click.option(
    "--out",
    "out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="CSV file to write (default: standard output).",
)
@click.option(
    "--with-seed", is_flag=True, help="Put the shipped seed corpus first (a full training set)."
)
def export_examples_command(out: Path | None, with_seed: bool) -> None:
    """Write corrected examples as CSV (text,group,category,kind,urgency).

    Train on them with ``python -m nlp train --data FILE --label-col group --out DIR``.
    """
    rows = labelled_examples_for_training(get_session())
    fields = ["text", "group", "category", "kind", "urgency"]
    seed: list[dict[str, str]] = []
    if with_seed:
        from nlp.corpus import seed_files

        for path in seed_files():
            with path.open(encoding="utf-8", newline="") as fh:
                seed.extend({k: row.get(k, "") for k in fields} for row in csv.DictReader(fh))
    with (
        out.open("w", encoding="utf-8", newline="") if out is not None else nullcontext(sys.stdout)
    ) as fh:
        writer = csv.DictWriter(fh, fieldnames=fields, lineterminator="\n")
        writer.writeheader()
        writer.writerows(seed)
        writer.writerows(rows)
    if out is not None:
        click.echo(
            f"wrote {len(rows)} labelled example(s)"
            + (f" after {len(seed)} seed row(s)" if with_seed else "")
            + f" to {out}",
            err=True,
        )
