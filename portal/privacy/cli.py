"""``flask --app portal keys …`` (data key rotation) and ``flask --app portal retention run``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Flask, current_app
from tqdm import tqdm

from portal import get_session
from portal.audit.services import record_audit
from portal.privacy import keys as key_ops
from portal.privacy.crypto import KeyRingError, current_key_ring, new_key, new_kid
from portal.privacy.retention import run_retention

CLI_ACTOR = "cli"


def register(app: Flask) -> None:
    app.cli.add_command(keys_group)
    app.cli.add_command(retention_group)


def _session_factory():  # type: ignore[no-untyped-def]
    return current_app.extensions["db"].session_factory


def _progress(total: int, unit: str) -> tqdm:
    return tqdm(total=total, unit=unit, disable=not sys.stderr.isatty(), file=sys.stderr)


# --- keys ---------------------------------------------------------------------------------------


@click.group("keys")
def keys_group() -> None:
    """Encryption keys of sensitive columns: status, rotate, reencrypt, retire."""


@keys_group.command("status")
def keys_status() -> None:
    """The key ring (ids only, never key material) and how many values each key protects."""
    ring = current_key_ring()
    usage = key_ops.key_usage(get_session())
    get_session().rollback()
    click.echo(
        f"key source: {'environment/settings' if ring.source == 'settings' else ring.source}"
    )
    for kid in sorted(ring.keys):
        marker = " (active)" if kid == ring.active else ""
        click.echo(f"  {kid}{marker}: {usage.pop(kid, 0)} values")
    for kid, count in sorted(usage.items()):
        click.echo(f"  {kid} (NOT IN KEY RING): {count} values", err=kid != "plaintext")


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Add a new key and make it active (old keys stay readable until retired)."""
    ring = current_key_ring()
    if ring.source == "settings":
        kid = new_kid(ring.keys)
        click.echo(
            "Keys come from SHUZHI_DATA_KEYS. Add this key to it, set SHUZHI_DATA_KEY_ACTIVE="
            f"{kid}, restart the workers one at a time, then run `keys reencrypt`:\n"
            f'  "{kid}": "{new_key()}"'
        )
    else:
        kid = key_ops.rotate_key_file(Path(ring.source))
        click.echo(
            f"new active key {kid} written to {ring.source}; restart the workers one at a time, "
            "then run `flask --app portal keys reencrypt`."
        )
    session = get_session()
    record_audit(session, actor=CLI_ACTOR, action="key_rotated", after={"new_key_id": kid})
    session.commit()


@keys_group.command("reencrypt")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def keys_reencrypt(batch_size: int) -> None:
    """Rewrite stored values under the active key, one short transaction per batch."""
    ring = current_key_ring()
    with _progress(0, "values") as bar:
        report = key_ops.reencrypt(
            _session_factory(), ring, batch_size=batch_size, on_batch=bar.update
        )
    session = get_session()
    record_audit(
        session,
        actor=CLI_ACTOR,
        action="keys_reencrypted",
        after={
            "active": ring.active,
            "rewritten": report.rewritten,
            "changed_meanwhile": report.skipped_changed,
        },
    )
    session.commit()
    click.echo(
        f"re-encrypted {report.rewritten} values under {ring.active} in {report.batches} batches"
        + (
            f"; {report.skipped_changed} changed meanwhile, run again"
            if report.skipped_changed
            else ""
        )
    )


@keys_group.command("retire")
@click.argument("kid")
def keys_retire(kid: str) -> None:
    """Remove key KID from the key ring once no stored value uses it."""
    session = get_session()
    try:
        key_ops.retire_key(session, current_key_ring(), kid)
    except KeyRingError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    record_audit(session, actor=CLI_ACTOR, action="key_retired", after={"key_id": kid})
    session.commit()
    click.echo(f"key {kid} retired")


# --- retention ----------------------------------------------------------------------------------


@click.group("retention")
def retention_group() -> None:
    """Retention of personal data (contacts, raw texts, exact points) of closed cases and
    finished proposals."""


@retention_group.command("run")
def retention_run() -> None:
    """Apply the retention rules now: idempotent, one transaction per case or proposal, audited."""
    get_session().rollback()
    bar: tqdm | None = None

    def start(total: int) -> None:
        nonlocal bar
        bar = _progress(total, "records")

    def step() -> None:
        if bar is not None:
            bar.update(1)

    try:
        summary = run_retention(
            _session_factory(),
            testing=current_app.config.get("ENV") == "testing",
            on_start=start,
            on_case=step,
        )
    finally:
        if bar is not None:
            bar.close()
    steps = ", ".join(f"{name} {count}" for name, count in summary.steps.items())
    proposal_steps = ", ".join(f"{name} {count}" for name, count in summary.proposal_steps.items())
    click.echo(
        f"retention run #{summary.run_id}: {summary.cases} cases anonymised ({steps}; "
        f"{summary.case_comments_masked} comments masked); "
        f"{summary.proposals} proposals anonymised ({proposal_steps}; "
        f"{summary.comments_masked} comments masked)"
        + (f"; {summary.conflicts} busy, retried next run" if summary.conflicts else "")
    )
