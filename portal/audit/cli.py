"""``flask --app portal audit …``: verify the hash chain, export the log (the export is audited)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, time
from pathlib import Path

import click
from flask import Flask

from portal import get_session
from portal.audit.services import (
    EXPORT_FORMATS,
    AuditFilters,
    count_audit,
    export_audit,
    record_audit,
    verify_chain,
)
from portal.errors import ValidationError


def register(app: Flask) -> None:
    app.cli.add_command(audit_group)


@click.group("audit")
def audit_group() -> None:
    """The audit trail: verify its hash chain, export it."""


@audit_group.command("verify")
def verify_command() -> None:
    """Recompute the hash chain; exit 1 and name the first broken entry on tampering."""
    result = verify_chain(get_session())
    get_session().rollback()
    if result.ok:
        click.echo(f"audit chain ok: {result.checked} entries verified")
        return
    click.echo(
        f"audit chain BROKEN at entry {result.first_broken_id}: {result.reason} "
        f"({result.checked} entries verified before it)",
        err=True,
    )
    sys.exit(1)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise click.BadParameter("use YYYY-MM-DD or an ISO 8601 timestamp") from exc
    if len(value) == 10:  # a bare date: from its start
        parsed = datetime.combine(parsed.date(), time.min)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@audit_group.command("export")
@click.option("--since", help="Only entries at or after this date/time (UTC), e.g. 2026-11-01.")
@click.option("--until", help="Only entries before this date/time (UTC).")
@click.option("--action", help="Only this action, e.g. role_changed.")
@click.option(
    "--format", "fmt", type=click.Choice(EXPORT_FORMATS), default="csv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File (default: stdout).",
)
def export_command(
    since: str | None, until: str | None, action: str | None, fmt: str, output: Path | None
) -> None:
    """Export audit entries as CSV or JSON. The export itself is recorded in the audit log."""
    session = get_session()
    filters = AuditFilters(action=action, since=_parse_date(since), until=_parse_date(until))
    rows = count_audit(session, filters)
    try:
        content = export_audit(session, filters, fmt=fmt)
    except ValidationError as error:
        raise click.UsageError(error.message) from error
    record_audit(
        session,
        actor="cli",
        action="export",
        target_type="audit_log",
        after={"format": fmt, "filters": filters.as_dict(), "rows": rows},
    )
    session.commit()  # the export is on record before a single row leaves the system
    if output is None:
        click.echo(content, nl=False)
    else:
        output.write_text(content, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
