"""``flask --app portal …`` commands: migrations, the demo jurisdiction, demo accounts, the model."""

from __future__ import annotations

import click
from flask import Flask, current_app

from portal.migrate import upgrade


def register(app: Flask) -> None:
    app.cli.add_command(migrate_command)


@click.command("migrate")
def migrate_command() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")
