"""``flask --app portal …`` commands: migrations, the demo jurisdiction, demo accounts, the model.

``setup-demo`` runs them all and is safe to repeat: ``make run`` calls it on every start.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.accounts.models import Role
from portal.migrate import upgrade


def register(app: Flask) -> None:
    for command in (
        migrate_command,
        load_jurisdiction_command,
        create_demo_accounts_command,
        ensure_model_command,
        setup_demo_command,
    ):
        app.cli.add_command(command)


def _session() -> Session:
    from portal import get_session

    return get_session()


@click.command("migrate")
@with_appcontext
def migrate_command() -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")


# --- jurisdiction ---------------------------------------------------------------------------


@click.command("load-jurisdiction")
@with_appcontext
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--keep-existing",
    is_flag=True,
    help="Only add what is missing; leave rows that exist as administrators edited them.",
)
def load_jurisdiction_command(file: Path | None, keep_existing: bool) -> None:
    """Load a jurisdiction YAML (default: the demo district) idempotently, by code; every row
    it creates or changes is recorded in the audit trail (actor "cli")."""
    _load_jurisdiction(file, update_existing=not keep_existing)


def _load_jurisdiction(file: Path | None, *, update_existing: bool) -> None:
    """Load the file and audit every change it makes (actor ``cli``), in one transaction."""
    from portal.admin.services import CLI_ACTOR, load_jurisdiction_audited
    from portal.errors import ValidationError
    from portal.jurisdiction.services import read_yaml

    path = file or Path(current_app.config["JURISDICTION_FILE"])
    session = _session()
    try:
        report, entries = load_jurisdiction_audited(
            session,
            read_yaml(path),
            actor=CLI_ACTOR,
            update_existing=update_existing,
            source=path.name,
        )
    except ValidationError as exc:
        session.rollback()
        raise click.ClickException(exc.message) from exc
    session.commit()
    click.echo(f"jurisdiction {path.name}: {report.summary()}; {entries} audit entries")


# --- demo accounts --------------------------------------------------------------------------


@dataclass(frozen=True)
class DemoAccount:
    email: str
    display_name: str
    role: Role
    department_code: str | None = None


DEMO_ACCOUNTS = (
    DemoAccount("admin@linjiang.example", "管理员", Role.ADMIN),
    DemoAccount("coordinator@linjiang.example", "12345 分拨员", Role.COORDINATOR),
    DemoAccount("moderator@linjiang.example", "社区版主", Role.MODERATOR),
    DemoAccount("urban.head@linjiang.example", "城管局 科长", Role.HEAD, "urban_mgmt"),
    DemoAccount("urban.staff@linjiang.example", "城管局 办事员", Role.STAFF, "urban_mgmt"),
    DemoAccount("jiangbin.staff@linjiang.example", "江滨街道 办事员", Role.STAFF, "street_jb"),
    DemoAccount("ecology.staff@linjiang.example", "生态环境分局 办事员", Role.STAFF, "ecology"),
    DemoAccount("housing.staff@linjiang.example", "住建局 办事员", Role.STAFF, "housing"),
    DemoAccount("resident1@linjiang.example", "王女士", Role.RESIDENT),
    DemoAccount("resident2@linjiang.example", "李先生", Role.RESIDENT),
)


def _credentials_file() -> Path:
    return Path(current_app.instance_path) / "demo-accounts.json"


def create_demo_accounts() -> list[tuple[DemoAccount, str]]:
    """Create the demo accounts that are missing; returns (account, password) for all of them.

    Passwords are random on first creation and kept in ``<instance>/demo-accounts.json``
    (readable by the owner only), so a second run prints the same logins and changes nothing.
    """
    from werkzeug.security import generate_password_hash

    from portal.accounts.services import find_user_by_email, register_user
    from portal.jurisdiction.models import Department

    path = _credentials_file()
    stored: dict[str, str] = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    session = _session()
    result = []
    for account in DEMO_ACCOUNTS:
        department = None
        if account.department_code:
            department = session.scalar(
                select(Department).where(Department.code == account.department_code)
            )
            if department is None:
                raise click.ClickException(
                    f"department {account.department_code!r} is missing: run load-jurisdiction first"
                )
        user = find_user_by_email(session, account.email)
        password = stored.get(account.email)
        if user is None:
            password = password or secrets.token_urlsafe(9)
            user = register_user(
                session,
                email=account.email,
                display_name=account.display_name,
                password=password,
                role=account.role,
            )
            user.department = department
            user.verification_level = 1 if account.role == Role.RESIDENT else 0
        elif password is None:  # the account exists but its password was never written down
            password = secrets.token_urlsafe(9)
            user.password_hash = generate_password_hash(password)
        stored[account.email] = password
        result.append((account, password))
    session.commit()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stored, indent=2, ensure_ascii=False), encoding="utf-8")
    os.chmod(path, 0o600)
    return result


def _print_logins(accounts: list[tuple[DemoAccount, str]]) -> None:
    click.echo("demo logins (e-mail / password):")
    for account, password in accounts:
        where = f" [{account.department_code}]" if account.department_code else ""
        click.echo(f"  {account.role.value:<11} {account.email:<34} {password}{where}")


@click.command("create-demo-accounts")
@with_appcontext
def create_demo_accounts_command() -> None:
    """One account per role (staff of three departments, two residents); prints the logins."""
    _refuse_in_production()
    _print_logins(create_demo_accounts())


def _refuse_in_production() -> None:
    if current_app.config.get("ENV") == "production":
        raise click.ClickException("demo accounts are not created when SHUZHI_ENV=production")


# --- the model ------------------------------------------------------------------------------


@click.command("ensure-model")
@with_appcontext
def ensure_model_command() -> None:
    """Train the default classifier into NLP_MODEL_DIR from the seed corpus if it is missing."""
    ensure_model()


def ensure_model() -> None:
    import nlp

    model_dir = Path(current_app.config["NLP_MODEL_DIR"])
    fresh = not model_dir.is_dir() or not any(model_dir.iterdir())
    if fresh:
        click.echo(f"training the default classifier into {model_dir} (about a minute)…")
    started = time.perf_counter()
    model = nlp.default_model(model_dir)
    version = getattr(model, "version", None) or getattr(model, "model_version", "")
    if fresh:
        click.echo(f"model {version} trained in {time.perf_counter() - started:.0f} s")
    else:
        click.echo(f"model {version} is ready in {model_dir}")
    publish_evaluation(model_dir, version)


def publish_evaluation(model_dir: Path, version: str, *, folds: int = 3) -> None:
    """Write ``evaluation.json`` beside the model (the transparency page's per-group figures):
    stratified k-fold CV of the same pipeline on the corpus it was trained on. Skipped when the
    file already describes this model version, or when an operator published their own."""
    import nlp
    from nlp.corpus import seed_examples
    from nlp.evaluate import evaluate

    target = model_dir / "evaluation.json"
    try:
        existing = json.loads(target.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        existing = None
    if existing and existing.get("model_version") in (version, None):
        return
    model = nlp.default_model(model_dir)
    if not str(model.metadata.get("source", "seed")).startswith("seed"):
        return
    click.echo(f"evaluating the classifier ({folds}-fold cross-validation on the seed corpus)…")
    report = evaluate(seed_examples(), folds=folds)
    report["model_version"] = version
    report["data"] = "seed corpus shipped with Shuzhi (nlp/data/seed)"
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    tmp.replace(target)
    click.echo(f"accuracy {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")


# --- everything -----------------------------------------------------------------------------


@click.command("setup-demo")
@with_appcontext
def setup_demo_command() -> None:
    """migrate + load-jurisdiction (keeping admins' edits) + create-demo-accounts + ensure-model."""
    _refuse_in_production()
    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is up to date")
    _load_jurisdiction(None, update_existing=False)
    accounts = create_demo_accounts()
    ensure_model()
    _print_logins(accounts)
    click.echo(f"open {current_app.config['PUBLIC_BASE_URL']}/ and sign in with a login above")
