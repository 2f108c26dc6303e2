"""``flask --app portal dp release --month 2026-11``: draw a month's private statistics once."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from portal import get_session
from portal.errors import DomainError
from portal.oversight import dp

dp_cli = AppGroup("dp", help="Differentially private open statistics.")


def register(app: Flask) -> None:
    app.cli.add_command(dp_cli)


@dp_cli.command("release")
@click.option(
    "--month", required=True, help="The month to release, e.g. 2026-11 (must have ended)."
)
@click.option(
    "--query",
    "queries",
    multiple=True,
    type=click.Choice(sorted(dp.QUERIES)),
    help="Which table(s); default: all.",
)
@click.option("--epsilon", type=float, default=None, help="Epsilon per table (default: setting).")
def release_command(month: str, queries: tuple[str, ...], epsilon: float | None) -> None:
    """Release the month's noisy tables; an existing release is shown, never re-drawn."""
    session = get_session()
    try:
        for query in queries or tuple(dp.QUERIES):
            release, created = dp.release_month(session, month=month, query=query, epsilon=epsilon)
            session.commit()
            summary = dp.release_summary(release)
            state = "released" if created else "already released (not re-drawn)"
            click.echo(
                f"{month} {query}: {state}; epsilon {release.epsilon:g}, scale {release.scale:g}, "
                f"95% of cells within ±{summary['interval95']}, {summary['cells']} cells; "
                f"budget spent {dp.epsilon_spent(session, month):g} of "
                f"{dp.dp_setting(session, 'dp_monthly_epsilon_budget'):g}"
            )
    except DomainError as error:
        session.rollback()
        raise click.ClickException(error.message) from None


@dp_cli.command("budget")
@click.option("--month", required=True)
def budget_command(month: str) -> None:
    """Show the epsilon spent of a month's budget."""
    session = get_session()
    try:
        dp.parse_month(month)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"{month}: spent {dp.epsilon_spent(session, month):g} of "
        f"{dp.dp_setting(session, 'dp_monthly_epsilon_budget'):g}"
    )
