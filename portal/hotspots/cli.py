"""``flask --app portal hotspots detect`` (run from cron): refresh the hotspot alerts."""

from __future__ import annotations

from datetime import datetime

import click
from flask import Flask
from flask.cli import AppGroup

from portal import get_session
from portal.hotspots.services import detect_hotspots

hotspots_cli = AppGroup("hotspots", help="Hotspots and early warning.")


def register(app: Flask) -> None:
    app.cli.add_command(hotspots_cli)


@hotspots_cli.command("detect")
@click.option(
    "--now",
    "now_text",
    default=None,
    help="Detect as of this ISO time (default: now), e.g. to replay a past day.",
)
def detect_command(now_text: str | None) -> None:
    """Detect surges and clusters over recent cases; new alerts are created, ongoing ones
    updated (running it twice changes nothing)."""
    now = None
    if now_text:
        try:
            now = datetime.fromisoformat(now_text)
        except ValueError:
            raise click.BadParameter("not an ISO date-time", param_hint="--now") from None
        if now.tzinfo is None:
            raise click.BadParameter("give a time zone, e.g. +08:00", param_hint="--now")
    session = get_session()
    report = detect_hotspots(session, now=now)
    session.commit()
    click.echo(
        f"{report.cases_read} cases read; {len(report.created)} new alert(s), "
        f"{len(report.updated)} updated"
    )
    for alert in report.alerts:
        click.echo(f"  #{alert.id} {alert.kind} size {alert.size}: {' '.join(alert.terms)}")
