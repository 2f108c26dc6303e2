"""``flask --app portal keys …`` (data and lookup-hash key rotation) and ``flask --app portal
retention run``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from tqdm import tqdm

from portal import get_session
from portal.audit.services import record_audit
from portal.privacy import hash_keys as hash_ops
from portal.privacy import keys as key_ops
from portal.privacy.crypto import LEGACY_HASH_KID, KeyRingError, current_key_ring, new_key, new_kid
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
    """Encryption keys of sensitive columns and lookup-hash keys: status, rotate, reencrypt,
    rehash, retire."""


@keys_group.command("status")
def keys_status() -> None:
    """The key rings (ids only, never key material), how many values each data key protects
    and how many lookup hashes each hash key made."""
    ring = current_key_ring()
    session = get_session()
    usage = key_ops.key_usage(session)
    hashes = hash_ops.hash_usage(session, ring)
    session.rollback()
    click.echo(
        f"key source: {'environment/settings' if ring.source == 'settings' else ring.source}"
    )
    click.echo("data keys:")
    for kid in sorted(ring.keys):
        marker = " (active)" if kid == ring.active else ""
        click.echo(f"  {kid}{marker}: {usage.pop(kid, 0)} values")
    for kid, count in sorted(usage.items()):
        click.echo(f"  {kid} (NOT IN KEY RING): {count} values", err=kid != "plaintext")
    click.echo("lookup hash keys:")
    per_kid: dict[str, dict[str, int]] = {}
    for label, counts in hashes.items():
        for kid, count in counts.items():
            per_kid.setdefault(kid, {})[label] = count
    for kid in sorted(per_kid, key=lambda k: (k not in ring.hash_keys, k)):
        counts = per_kid[kid]
        marker = " (active)" if kid == ring.hash_active else ""
        if kid not in ring.hash_keys:
            marker = " (NOT IN KEY RING: these lookups fail)"
        detail = ", ".join(f"{label} {n}" for label, n in counts.items())
        click.echo(
            f"  {kid}{marker}: {sum(counts.values())} hashes ({detail})",
            err=kid not in ring.hash_keys,
        )
    stale = hash_ops.not_under_active(hashes, ring)
    if stale:
        click.echo(
            f"  {stale} hashes not yet under the active hash key {ring.hash_active}: "
            "run `flask --app portal keys rehash`"
        )


@keys_group.command("rotate")
@click.option("--hash", "hash_key", is_flag=True, help="Rotate the lookup-hash key instead.")
def keys_rotate(hash_key: bool) -> None:
    """Add a new key and make it active (old keys stay readable until retired)."""
    ring = current_key_ring()
    if hash_key:
        _rotate_hash_key()
        return
    if ring.source == "settings":
        kid = new_kid(ring.keys)
        click.echo(
            "Keys come from SHUZHI_DATA_KEYS. Add this key to it, set SHUZHI_DATA_KEY_ACTIVE="
            f"{kid}, restart the workers one at a time, then run `keys reencrypt`:\n"
            f'  "{kid}": "{new_key()}"'
        )
    else:
        kid = key_ops.rotate_key_file(Path(ring.source))
        _echo_key_file_rotated("key", kid, ring.source, then="reencrypt")
    _audit("key_rotated", {"new_key_id": kid})


def _echo_key_file_rotated(what: str, kid: str, source: str, *, then: str) -> None:
    click.echo(
        f"new active {what} {kid} written to {source}; restart the workers one at a time, "
        f"then run `flask --app portal keys {then}`."
    )


def _audit(action: str, after: dict[str, Any]) -> None:
    """Record what a command did, in a transaction of its own."""
    session = get_session()
    record_audit(session, actor=CLI_ACTOR, action=action, after=after)
    session.commit()


def _rotate_hash_key() -> None:
    ring = current_key_ring()
    if ring.source == "settings":
        kid = new_kid(ring.hash_keys, prefix="h")
        kept = ", ".join(f'"{k}": "…"' for k in sorted(ring.hash_keys))
        legacy = (
            f" (your SHUZHI_DATA_HASH_KEY is {LEGACY_HASH_KID!r}: it may stay as it is)"
            if ring.legacy_hash_key
            else ""
        )
        click.echo(
            "Hash keys come from the settings. Add this key to SHUZHI_DATA_HASH_KEYS, keeping "
            f"the current ones ({kept}){legacy}, set SHUZHI_DATA_HASH_KEY_ACTIVE={kid}, restart "
            "the workers one at a time, then run `keys rehash`:\n"
            f'  "{kid}": "{new_key()}"'
        )
    else:
        kid = hash_ops.rotate_hash_key_file(Path(ring.source))
        _echo_key_file_rotated("hash key", kid, ring.source, then="rehash")
    _audit("hash_key_rotated", {"new_key_id": kid})


@keys_group.command("rehash")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def keys_rehash(batch_size: int) -> None:
    """Recompute lookup hashes under the active hash key, one short transaction per batch."""
    ring = current_key_ring()
    get_session().rollback()
    try:
        with _progress(0, "hashes") as bar:
            report = hash_ops.rehash(
                _session_factory(), ring, batch_size=batch_size, on_batch=bar.update
            )
    except KeyRingError as exc:  # a value under a data key no longer in the ring
        raise click.ClickException(f"{exc}; batches done so far are kept, run again") from exc
    _audit(
        "lookup_hashes_rehashed",
        {
            "active": ring.hash_active,
            "rehashed": report.rehashed,
            "changed_meanwhile": report.skipped_changed,
            "conflicts": len(report.conflicts),
        },
    )
    click.echo(
        f"re-hashed {report.rehashed} values under {ring.hash_active} in {report.batches} batches"
        + (
            f"; {report.skipped_changed} changed meanwhile, run again"
            if report.skipped_changed
            else ""
        )
    )
    if report.conflicts:
        click.echo(
            f"{len(report.conflicts)} rows left under their old key: another row already has "
            f"their new hash (duplicates to resolve by hand): {', '.join(report.conflicts[:20])}"
            + (" …" if len(report.conflicts) > 20 else ""),
            err=True,
        )


@keys_group.command("reencrypt")
@click.option("--batch-size", default=500, show_default=True, type=click.IntRange(1, 10_000))
def keys_reencrypt(batch_size: int) -> None:
    """Rewrite stored values under the active key, one short transaction per batch."""
    ring = current_key_ring()
    with _progress(0, "values") as bar:
        report = key_ops.reencrypt(
            _session_factory(), ring, batch_size=batch_size, on_batch=bar.update
        )
    _audit(
        "keys_reencrypted",
        {
            "active": ring.active,
            "rewritten": report.rewritten,
            "changed_meanwhile": report.skipped_changed,
        },
    )
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
@click.option("--hash", "hash_key", is_flag=True, help="KID is a lookup-hash key.")
@click.option(
    "--force",
    is_flag=True,
    help="Hash keys only: retire even though hashes still use it (their lookups stop matching "
    "until `keys rehash`).",
)
def keys_retire(kid: str, hash_key: bool, force: bool) -> None:
    """Remove key KID from the key ring once no stored value uses it."""
    session = get_session()
    ring = current_key_ring()
    if not hash_key and force:
        raise click.ClickException("--force applies to hash keys only (keys retire --hash KID)")
    if not hash_key and kid not in ring.keys and kid in ring.hash_keys:
        raise click.ClickException(f"{kid!r} is a lookup-hash key: use `keys retire --hash {kid}`")
    try:
        if hash_key:
            left = hash_ops.retire_hash_key(session, ring, kid, force=force)
        else:
            key_ops.retire_key(session, ring, kid)
    except KeyRingError as exc:
        session.rollback()
        raise click.ClickException(str(exc)) from exc
    if hash_key:
        record_audit(
            session,
            actor=CLI_ACTOR,
            action="hash_key_retired",
            after={"key_id": kid, "forced": force, "hashes_left": left},
        )
    else:
        record_audit(session, actor=CLI_ACTOR, action="key_retired", after={"key_id": kid})
    session.commit()
    if hash_key and left:
        click.echo(
            f"hash key {kid} retired; {left} hashes made under it no longer match: run "
            "`flask --app portal keys rehash` to recompute them",
            err=True,
        )
    click.echo(f"{'hash key' if hash_key else 'key'} {kid} retired")


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
