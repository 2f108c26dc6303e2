"""Deliberation commands for cron and community offices: archive expired proposals, issue
resident verification codes, set an area's support threshold and window."""

from __future__ import annotations

import click
from flask import Flask

from portal import get_session
from portal.audit.services import record_audit
from portal.deliberation.participation import RESIDENT_VERIFIED, issue_code_batch
from portal.deliberation.services import archive_expired_proposals, set_area_participation_rule
from portal.errors import DomainError
from portal.jurisdiction.services import get_area


def register(app: Flask) -> None:
    app.cli.add_command(archive_expired_command)
    app.cli.add_command(issue_codes_command)
    app.cli.add_command(area_terms_command)


@click.command("archive-expired-proposals")
def archive_expired_command() -> None:
    """Archive open proposals whose support window ended below the threshold (idempotent; cron).

    Each archived proposal shows publicly why (supports reached vs needed, the end date), and
    its author, supporters and followers are notified."""
    session = get_session()
    archived = archive_expired_proposals(session)
    session.commit()
    click.echo(f"archived {len(archived)} proposal(s)")
    for proposal in archived:
        click.echo(f"  #{proposal.id} {proposal.support_count}/{proposal.support_threshold}")


@click.command("issue-verification-codes")
@click.option("--count", default=1, show_default=True, type=int, help="How many codes (1–500).")
@click.option("--area", "area_code", default=None, help="Community code the codes are for.")
@click.option(
    "--issued-by", required=True, help="The office handing them out, e.g. 青松社区居委会."
)
@click.option("--valid-days", default=30, show_default=True, type=int)
@click.option(
    "--level",
    default=RESIDENT_VERIFIED,
    show_default=True,
    type=click.IntRange(1, 2),
    help="1 phone confirmed, 2 verified resident.",
)
def issue_codes_command(
    count: int, area_code: str | None, issued_by: str, valid_days: int, level: int
) -> None:
    """Print one-time codes (one batch) that raise a resident to --level. Only hashes are stored;
    the batch is listed on /admin/verification-codes."""
    session = get_session()
    try:
        area = get_area(session, area_code) if area_code else None
        issued = issue_code_batch(
            session,
            count=count,
            issued_by=issued_by,
            area=area,
            level=level,
            valid_days=valid_days,
        ).codes
        record_audit(
            session,
            actor="cli",
            action="verification.issue_codes",
            target_type="verification_code_batch",
            target_id=issued[0].record.batch_id,
            after={
                "area": area_code,
                "count": count,
                "level": level,
                "issued_by": issued_by,
                "valid_days": valid_days,
            },
        )
    except DomainError as error:
        session.rollback()
        raise click.ClickException(error.message) from None
    session.commit()
    for code in issued:
        click.echo(code.code)


@click.command("set-area-participation")
@click.argument("area_code")
@click.option(
    "--threshold", type=int, default=None, help="Supports needed (empty: jurisdiction's)."
)
@click.option("--window-days", type=int, default=None, help="Days open for support.")
def area_terms_command(area_code: str, threshold: int | None, window_days: int | None) -> None:
    """Override the support threshold and window for an area (street or community)."""
    session = get_session()
    try:
        area = get_area(session, area_code)
        set_area_participation_rule(
            session, area=area, support_threshold=threshold, support_window_days=window_days
        )
        record_audit(
            session,
            actor="cli",
            action="deliberation.area_terms",
            target_type="area",
            target_id=area_code,
            after={"support_threshold": threshold, "support_window_days": window_days},
        )
    except DomainError as error:
        session.rollback()
        raise click.ClickException(error.message) from None
    session.commit()
    click.echo(
        f"{area_code}: threshold={threshold or 'default'} window_days={window_days or 'default'}"
    )
