"""``flask --app portal api-key create|list|revoke``: manage API keys from the command line."""

from __future__ import annotations

import click
from flask import Flask

from portal.api import services as api_services
from portal.errors import DomainError


def register(app: Flask) -> None:
    app.cli.add_command(api_key_group)


@click.group("api-key")
def api_key_group() -> None:
    """Create, list and revoke API keys (stored hashed; a new key is printed once)."""


@api_key_group.command("create")
@click.argument("name")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    required=True,
    type=click.Choice(sorted(api_services.SCOPES)),
    help="Repeat for several scopes.",
)
def create_command(name: str, scopes: tuple[str, ...]) -> None:
    """Create a key called NAME and print it (only this once)."""
    from portal import get_session

    session = get_session()
    try:
        created = api_services.create_api_key(session, name=name, scopes=list(scopes))
    except DomainError as error:
        session.rollback()
        raise click.ClickException(error.message) from None
    session.commit()
    click.echo(
        f"created API key {created.api_key.prefix}… ({name}; {', '.join(created.api_key.scopes)})"
    )
    click.echo("store it now, it is not shown again:", err=True)
    click.echo(created.secret)


@api_key_group.command("list")
@click.option("--page", default=1, show_default=True, type=click.IntRange(min=1))
def list_command(page: int) -> None:
    """List keys: prefix, name, scopes, state, last use."""
    from portal import get_session

    keys, total = api_services.list_api_keys(get_session(), page=page, per_page=50)
    for key in keys:
        state = "active" if key.active else f"revoked {key.revoked_at:%Y-%m-%d}"
        used = f"{key.last_used_at:%Y-%m-%d %H:%M}" if key.last_used_at else "never"
        click.echo(f"{key.prefix}\t{key.name}\t{','.join(key.scopes)}\t{state}\tlast used {used}")
    click.echo(f"{total} key(s); page {page}", err=True)


@api_key_group.command("revoke")
@click.argument("prefix")
def revoke_command(prefix: str) -> None:
    """Revoke the key whose prefix (shown by ``list``) is PREFIX."""
    from portal import get_session

    session = get_session()
    try:
        key = api_services.revoke_api_key(session, prefix=prefix.rstrip("…"))
    except DomainError as error:
        session.rollback()
        raise click.ClickException(error.message) from None
    session.commit()
    click.echo(f"revoked {key.prefix} ({key.name})")


@api_key_group.command("purge-idempotency")
@click.option(
    "--older-than-days",
    default=7,
    show_default=True,
    type=click.IntRange(min=1),
    help="Forget completed Idempotency-Key records older than this.",
)
def purge_idempotency_command(older_than_days: int) -> None:
    """Delete old completed idempotency records (a retry after that creates a new case)."""
    from datetime import timedelta

    from portal import get_session
    from portal.db import utcnow

    session = get_session()
    removed = api_services.purge_idempotency_records(
        session, older_than=utcnow() - timedelta(days=older_than_days)
    )
    session.commit()
    click.echo(f"removed {removed} idempotency record(s)")
