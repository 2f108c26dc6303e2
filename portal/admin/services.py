"""Admin use cases: create and edit the jurisdiction's data, settings, templates and user access.

Each function validates (raising ``ValidationError(field=...)``/``Conflict``), applies the change,
and records one audit entry with the changed fields before and after, all in the caller's
transaction (flush only). Nothing is cached: the next routing or intake reads the new rows.
Loading a jurisdiction file (``flask load-jurisdiction``) is audited the same way, row by row.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from portal.accounts.models import STAFF_ROLES, Role, User
from portal.audit.services import changes, record_audit, to_json_value
from portal.errors import Conflict, ValidationError
from portal.jurisdiction.models import (
    AREA_LEVELS,
    DEFAULT_SETTINGS,
    PRIORITIES,
    Area,
    Category,
    Department,
    RoutingRule,
    Setting,
    SlaProfile,
)
from portal.jurisdiction.services import LoadReport, load_jurisdiction
from portal.workbench.models import ResponseTemplate

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
MAX_KEYWORDS = 60
MAX_KEYWORD_CHARS = 30
MAX_SLA_HOURS = 24 * 365
#: The settings administrators edit here, with how to read a submitted value.
EDITABLE_SETTINGS = ("triage_confidence_threshold", "verdict_days", "transfer_needs_approval")
MAX_VERDICT_DAYS = 90


def _code(obj: Any) -> str | None:
    return None if obj is None else str(obj.code)


def _check_code(value: str, *, max_length: int) -> str:
    value = (value or "").strip()
    if not value or len(value) > max_length or not CODE_PATTERN.match(value):
        raise ValidationError(
            _(
                "A code has 1 to %(n)d letters, digits, dots, dashes or underscores.",
                n=max_length,
            ),
            field="code",
        )
    return value


def _required_text(value: str, *, field: str = "name", max_length: int = 80) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationError(_("This field is required."), field=field)
    if len(value) > max_length:
        raise ValidationError(_("At most %(n)d characters.", n=max_length), field=field)
    return value


def _optional(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _english_name(value: str | None) -> str | None:
    """The optional English name of a department or category (at most 120 characters)."""
    value = _optional(value)
    if value and len(value) > 120:
        raise ValidationError(_("At most %(n)d characters.", n=120), field="name_en")
    return value


def _unique_code(session: Session, model: Any, code: str, current: Any) -> None:
    other = session.scalar(select(model).where(model.code == code))
    if other is not None and other is not current:
        raise Conflict(_("The code %(code)s is already used.", code=code), field="code")


def _by_code(session: Session, model: Any, code: str | None, field: str) -> Any:
    if not code:
        return None
    obj = session.scalar(select(model).where(model.code == code))
    if obj is None:
        raise ValidationError(_("Please choose an entry from the list."), field=field)
    return obj


@dataclass(frozen=True)
class AuditedKind:
    """A kind of row the admin pages create and edit: its name in the audit trail (the target
    type, and the actions ``<name>_created`` / ``<name>_updated``), model and audit snapshot."""

    name: str
    model: type[Any]
    snapshot: Callable[[Any], dict[str, Any]]


def _save(
    session: Session,
    kind: AuditedKind,
    current: Any,
    apply: Callable[[Any], None],
    *,
    actor: User,
    ip: str | None,
) -> Any:
    """Create a row of ``kind`` (``current`` is None) or edit ``current``: ``apply`` sets its
    fields. Audited as ``<kind>_created`` (every field) or ``<kind>_updated`` (the changed
    fields; no entry when nothing changed)."""
    created = current is None
    obj = kind.model() if created else current
    before = {} if created else to_json_value(kind.snapshot(obj))
    apply(obj)
    if created:
        session.add(obj)
    session.flush()
    after = to_json_value(kind.snapshot(obj))
    if created:
        old, new = None, after
    else:
        old, new = changes(before, after)
        if not new:
            return obj  # nothing changed, nothing to record
    record_audit(
        session,
        actor=actor,
        action=f"{kind.name}_{'created' if created else 'updated'}",
        target_type=kind.name,
        target_id=obj.id,
        before=old,
        after=new,
        ip=ip,
    )
    return obj


# --- departments ----------------------------------------------------------------------------


def department_snapshot(department: Department) -> dict[str, Any]:
    return {
        "code": department.code,
        "name": department.name,
        "name_en": department.name_en,
        "description": department.description,
        "area": _code(department.area),
        "active": department.active,
    }


DEPARTMENT = AuditedKind("department", Department, department_snapshot)


def save_department(
    session: Session,
    *,
    actor: User,
    department: Department | None,
    code: str,
    name: str,
    name_en: str | None = None,
    description: str | None = None,
    area_code: str | None = None,
    active: bool = True,
    ip: str | None = None,
) -> Department:
    """Create (``department=None``) or edit a department; ``active=False`` deactivates it (its
    routing rules stop matching, so its categories go to triage until re-routed)."""
    code = _check_code(code, max_length=40)
    name = _required_text(name)
    name_en = _english_name(name_en)
    area = _by_code(session, Area, area_code, "area_code")
    _unique_code(session, Department, code, department)

    def apply(target: Department) -> None:
        target.code, target.name, target.name_en = code, name, name_en
        target.description, target.area, target.active = _optional(description), area, active

    return _save(session, DEPARTMENT, department, apply, actor=actor, ip=ip)


# --- areas ----------------------------------------------------------------------------------

#: The level an area's parent must have.
PARENT_LEVEL = {"district": None, "street": "district", "community": "street"}


def area_snapshot(area: Area) -> dict[str, Any]:
    return {
        "code": area.code,
        "name": area.name,
        "level": area.level,
        "parent": _code(area.parent),
        "centroid_lat": area.centroid_lat,
        "centroid_lon": area.centroid_lon,
    }


AREA = AuditedKind("area", Area, area_snapshot)


def save_area(
    session: Session,
    *,
    actor: User,
    area: Area | None,
    code: str,
    name: str,
    level: str,
    parent_code: str | None = None,
    centroid_lat: float | None = None,
    centroid_lon: float | None = None,
    ip: str | None = None,
) -> Area:
    """Create or edit a district, street or community (a street's parent is the district, a
    community's a street)."""
    code = _check_code(code, max_length=40)
    name = _required_text(name)
    if level not in AREA_LEVELS:
        raise ValidationError(_("Please choose a level."), field="level")
    parent = _by_code(session, Area, parent_code, "parent_code")
    wanted = PARENT_LEVEL[level]
    if wanted is None and parent is not None:
        raise ValidationError(_("A district has no parent area."), field="parent_code")
    if wanted is not None and (parent is None or parent.level != wanted):
        message = (
            _("A street belongs to a district.")
            if level == "street"
            else _("A community belongs to a street.")
        )
        raise ValidationError(message, field="parent_code")
    if area is not None and area.level != level and area.children:
        raise ValidationError(_("This area has sub-areas: its level cannot change."), field="level")
    if (centroid_lat is None) != (centroid_lon is None):
        raise ValidationError(
            _("Give both latitude and longitude, or neither."), field="centroid_lat"
        )
    if centroid_lat is not None and not -90 <= centroid_lat <= 90:
        raise ValidationError(_("A latitude is between -90 and 90."), field="centroid_lat")
    if centroid_lon is not None and not -180 <= centroid_lon <= 180:
        raise ValidationError(_("A longitude is between -180 and 180."), field="centroid_lon")
    _unique_code(session, Area, code, area)

    def apply(target: Area) -> None:
        target.code, target.name, target.level, target.parent = code, name, level, parent
        target.centroid_lat, target.centroid_lon = centroid_lat, centroid_lon

    return _save(session, AREA, area, apply, actor=actor, ip=ip)


# --- categories -----------------------------------------------------------------------------


def category_snapshot(category: Category) -> dict[str, Any]:
    return {
        "code": category.code,
        "name": category.name,
        "name_en": category.name_en,
        "parent": _code(category.parent),
        "description": category.description,
        "keywords": list(category.keywords or []),
        "default_priority": category.default_priority,
        "active": category.active,
    }


CATEGORY = AuditedKind("category", Category, category_snapshot)


def parse_keywords(text: str | None) -> list[str]:
    """Keywords typed one per line or separated by commas (ASCII or full-width)."""
    words: list[str] = []
    for part in re.split(r"[,，、;；\n]+", text or ""):
        word = part.strip()
        if word and word not in words:
            words.append(word)
    if len(words) > MAX_KEYWORDS:
        raise ValidationError(_("At most %(n)d keywords.", n=MAX_KEYWORDS), field="keywords")
    if any(len(w) > MAX_KEYWORD_CHARS for w in words):
        raise ValidationError(
            _("A keyword has at most %(n)d characters.", n=MAX_KEYWORD_CHARS), field="keywords"
        )
    return words


def save_category(
    session: Session,
    *,
    actor: User,
    category: Category | None,
    code: str,
    name: str,
    name_en: str | None = None,
    parent_code: str | None = None,
    description: str | None = None,
    keywords: Sequence[str] = (),
    default_priority: str = "normal",
    active: bool = True,
    ip: str | None = None,
) -> Category:
    """Create or edit a group (no parent) or a category (its parent is a group)."""
    code = _check_code(code, max_length=20)
    name = _required_text(name)
    name_en = _english_name(name_en)
    if default_priority not in PRIORITIES:
        raise ValidationError(_("Please choose a priority."), field="default_priority")
    parent = _by_code(session, Category, parent_code, "parent_code")
    if parent is not None:
        if not parent.is_group or parent is category:
            raise ValidationError(_("The parent must be a group."), field="parent_code")
        if category is not None and category.children:
            raise ValidationError(
                _("This group has categories: it cannot be moved under another group."),
                field="parent_code",
            )
    _unique_code(session, Category, code, category)
    keyword_list = list(keywords)

    def apply(target: Category) -> None:
        target.code, target.name, target.name_en, target.parent = code, name, name_en, parent
        target.description, target.keywords = _optional(description), keyword_list
        target.default_priority, target.active = default_priority, active

    return _save(session, CATEGORY, category, apply, actor=actor, ip=ip)


# --- SLA profiles ---------------------------------------------------------------------------


def sla_snapshot(profile: SlaProfile) -> dict[str, Any]:
    return {
        "code": profile.code,
        "name": profile.name,
        "respond_hours": profile.respond_hours,
        "resolve_hours": profile.resolve_hours,
    }


SLA_PROFILE = AuditedKind("sla_profile", SlaProfile, sla_snapshot)


def save_sla_profile(
    session: Session,
    *,
    actor: User,
    profile: SlaProfile | None,
    code: str,
    name: str,
    respond_hours: int,
    resolve_hours: int,
    ip: str | None = None,
) -> SlaProfile:
    """Create or edit an SLA profile; new cases get due dates from the new hours."""
    code = _check_code(code, max_length=20)
    name = _required_text(name)
    for field, hours in (("respond_hours", respond_hours), ("resolve_hours", resolve_hours)):
        if not isinstance(hours, int) or not 1 <= hours <= MAX_SLA_HOURS:
            raise ValidationError(
                _("Hours are a whole number from 1 to %(n)d.", n=MAX_SLA_HOURS), field=field
            )
    if respond_hours > resolve_hours:
        raise ValidationError(
            _("The time to respond cannot be longer than the time to resolve."),
            field="respond_hours",
        )
    _unique_code(session, SlaProfile, code, profile)

    def apply(target: SlaProfile) -> None:
        target.code, target.name = code, name
        target.respond_hours, target.resolve_hours = respond_hours, resolve_hours

    return _save(session, SLA_PROFILE, profile, apply, actor=actor, ip=ip)


# --- routing rules --------------------------------------------------------------------------


def rule_snapshot(rule: RoutingRule) -> dict[str, Any]:
    return {
        "category": _code(rule.category),
        "area": _code(rule.area),
        "department": _code(rule.department),
        "co_departments": sorted(d.code for d in rule.co_departments),
        "sla_profile": _code(rule.sla_profile),
        "active": rule.active,
    }


ROUTING_RULE = AuditedKind("routing_rule", RoutingRule, rule_snapshot)


def save_routing_rule(
    session: Session,
    *,
    actor: User,
    rule: RoutingRule | None,
    category_code: str,
    department_code: str,
    sla_code: str,
    area_code: str | None = None,
    co_department_codes: Sequence[str] = (),
    active: bool = True,
    ip: str | None = None,
) -> RoutingRule:
    """Create or edit a rule: category (or group) × optional area → lead, co-departments, SLA.

    One rule per (category, area); the next submission is routed by the new rule."""
    category = _by_code(session, Category, category_code, "category_code")
    department = _by_code(session, Department, department_code, "department_code")
    sla = _by_code(session, SlaProfile, sla_code, "sla_code")
    if category is None:
        raise ValidationError(_("Please choose a category."), field="category_code")
    if department is None:
        raise ValidationError(_("Please choose the lead department."), field="department_code")
    if sla is None:
        raise ValidationError(_("Please choose an SLA profile."), field="sla_code")
    if not department.active:
        raise ValidationError(_("The lead department is deactivated."), field="department_code")
    area = _by_code(session, Area, area_code, "area_code")
    co_departments = [
        _by_code(session, Department, c, "co_department_codes")
        for c in dict.fromkeys(co_department_codes)
        if c and c != department.code
    ]
    clash = session.scalar(
        select(RoutingRule).where(
            RoutingRule.category_id == category.id,
            RoutingRule.area_id.is_(None) if area is None else RoutingRule.area_id == area.id,
        )
    )
    if clash is not None and clash is not rule:
        raise Conflict(
            _("A rule for this category and area already exists: edit that rule instead."),
            field="category_code",
        )

    def apply(target: RoutingRule) -> None:
        target.category, target.area, target.department = category, area, department
        target.co_departments = co_departments
        target.sla_profile, target.active = sla, active

    return _save(session, ROUTING_RULE, rule, apply, actor=actor, ip=ip)


# --- response templates ---------------------------------------------------------------------


def template_snapshot(template: ResponseTemplate) -> dict[str, Any]:
    return {
        "category": _code(template.category),
        "title": template.title,
        "body": template.body,
        "active": template.active,
    }


RESPONSE_TEMPLATE = AuditedKind("response_template", ResponseTemplate, template_snapshot)


def save_response_template(
    session: Session,
    *,
    actor: User,
    template: ResponseTemplate | None,
    title: str,
    body: str,
    category_code: str | None = None,
    active: bool = True,
    ip: str | None = None,
) -> ResponseTemplate:
    """Create or edit a reply template for a category, a group, or every category (none)."""
    title = _required_text(title, field="title")
    body = _required_text(body, field="body", max_length=4000)
    category = _by_code(session, Category, category_code, "category_code")

    def apply(target: ResponseTemplate) -> None:
        target.title, target.body, target.category, target.active = title, body, category, active

    return _save(session, RESPONSE_TEMPLATE, template, apply, actor=actor, ip=ip)


# --- settings -------------------------------------------------------------------------------


def current_settings(session: Session) -> dict[str, Any]:
    stored = {s.key: s.value for s in session.scalars(select(Setting))}
    return {key: stored.get(key, DEFAULT_SETTINGS[key]) for key in EDITABLE_SETTINGS}


def update_settings(
    session: Session, *, actor: User, values: dict[str, Any], ip: str | None = None
) -> dict[str, Any]:
    """Store the given editable settings; one ``settings_updated`` entry with what changed."""
    unknown = set(values) - set(EDITABLE_SETTINGS)
    if unknown:
        raise ValidationError(_("Unknown setting."), field=sorted(unknown)[0])
    threshold = values.get("triage_confidence_threshold")
    if threshold is not None and (
        isinstance(threshold, bool)
        or not isinstance(threshold, int | float)
        or not 0 <= threshold <= 1
    ):
        raise ValidationError(
            _("The threshold is a number from 0 to 1."), field="triage_confidence_threshold"
        )
    days = values.get("verdict_days")
    if days is not None and (
        isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_VERDICT_DAYS
    ):
        raise ValidationError(
            _("Days are a whole number from 1 to %(n)d.", n=MAX_VERDICT_DAYS),
            field="verdict_days",
        )
    approval = values.get("transfer_needs_approval")
    if approval is not None and not isinstance(approval, bool):
        raise ValidationError(_("Please answer yes or no."), field="transfer_needs_approval")
    before = current_settings(session)
    for key, value in values.items():
        if value is None:
            continue
        setting = session.get(Setting, key)
        if setting is None:
            session.add(Setting(key=key, value=value))
        elif setting.value != value:
            setting.value = value
    session.flush()
    old, new = changes(before, current_settings(session))
    if new:
        record_audit(
            session,
            actor=actor,
            action="settings_updated",
            target_type="settings",
            before=old,
            after=new,
            ip=ip,
        )
    return current_settings(session)


# --- users ----------------------------------------------------------------------------------


def user_access_snapshot(user: User) -> dict[str, Any]:
    return {"role": user.role, "department": _code(user.department), "active": user.active}


def update_user_access(
    session: Session,
    *,
    actor: User,
    user: User,
    role: str,
    department_code: str | None,
    active: bool,
    ip: str | None = None,
) -> User:
    """Change a user's role, department and active flag; audited as ``role_changed`` when the
    role changes, otherwise ``user_updated``. Administrators cannot demote or lock themselves
    out (so there is always at least one active administrator)."""
    try:
        new_role = Role(role)
    except ValueError:
        raise ValidationError(_("Please choose a role."), field="role") from None
    department = _by_code(session, Department, department_code, "department_code")
    if new_role in STAFF_ROLES and department is None:
        raise ValidationError(
            _("Department staff and heads need a department."), field="department_code"
        )
    if user.id == actor.id and (new_role != Role.ADMIN or not active):
        raise ValidationError(_("You cannot remove your own administrator access."), field="role")
    before = user_access_snapshot(user)
    user.role, user.department, user.active = new_role.value, department, active
    session.flush()
    old, new = changes(before, user_access_snapshot(user))
    if new:
        record_audit(
            session,
            actor=actor,
            action="role_changed" if "role" in new else "user_updated",
            target_type="user",
            target_id=user.id,
            before=old,
            after=new,
            ip=ip,
        )
    return user


# --- loading a jurisdiction file ------------------------------------------------------------

#: Who a command-line change is in the audit trail.
CLI_ACTOR = "cli"


def _boundary(boundary: Any) -> str | None:
    """A boundary polygon in the audit trail: its size and a digest, not the coordinates."""
    if not boundary:
        return None
    digest = hashlib.sha256(
        json.dumps(boundary, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()
    return f"{len(boundary)} points, sha256 {digest[:16]}"


def _area_load_snapshot(area: Area) -> dict[str, Any]:
    return {**area_snapshot(area), "boundary": _boundary(area.boundary)}


#: (kind, natural key, eager loads) of what a jurisdiction file holds; the kinds are the admin
#: pages' own (an area's snapshot adds its boundary), so CLI and admin entries read alike.
_LOADED_KINDS: tuple[tuple[AuditedKind, Callable[[Any], Any], tuple[Any, ...]], ...] = (
    (replace(AREA, snapshot=_area_load_snapshot), lambda a: a.code, (selectinload(Area.parent),)),
    (DEPARTMENT, lambda d: d.code, (selectinload(Department.area),)),
    (CATEGORY, lambda c: c.code, (selectinload(Category.parent),)),
    (SLA_PROFILE, lambda s: s.code, ()),
    (
        ROUTING_RULE,
        lambda r: (_code(r.category), _code(r.area)),
        (
            selectinload(RoutingRule.category),
            selectinload(RoutingRule.area),
            selectinload(RoutingRule.department),
            selectinload(RoutingRule.co_departments),
            selectinload(RoutingRule.sla_profile),
        ),
    ),
)


@dataclass
class JurisdictionState:
    """Every row a jurisdiction file can touch, as ``kind → natural key → (id, snapshot)``, and
    the stored settings."""

    rows: dict[str, dict[Any, tuple[int, dict[str, Any]]]]
    settings: dict[str, Any]


def jurisdiction_state(session: Session) -> JurisdictionState:
    session.flush()
    rows: dict[str, dict[Any, tuple[int, dict[str, Any]]]] = {}
    for kind, key, eager in _LOADED_KINDS:
        items = session.scalars(select(kind.model).options(*eager).order_by(kind.model.id))
        rows[kind.name] = {key(obj): (obj.id, to_json_value(kind.snapshot(obj))) for obj in items}
    settings = {s.key: to_json_value(s.value) for s in session.scalars(select(Setting))}
    return JurisdictionState(rows, settings)


def record_jurisdiction_changes(
    session: Session,
    before: JurisdictionState,
    *,
    actor: User | str,
    reason: str | None = None,
) -> int:
    """Audit what changed since ``before`` as the admin pages do: one ``<kind>_created`` /
    ``<kind>_updated`` / ``<kind>_deleted`` entry per row with the changed fields, one
    ``settings_updated`` entry with the changed settings. Returns the number of entries."""
    after = jurisdiction_state(session)
    entries = 0
    for kind, old_rows in before.rows.items():
        new_rows = after.rows[kind]
        for key, (row_id, snapshot) in new_rows.items():
            if key not in old_rows:
                action, old, new = "created", None, snapshot
            else:
                old, new = changes(old_rows[key][1], snapshot)
                if not new:
                    continue
                action = "updated"
            record_audit(
                session,
                actor=actor,
                action=f"{kind}_{action}",
                target_type=kind,
                target_id=row_id,
                before=old,
                after=new,
                reason=reason,
            )
            entries += 1
        for key, (row_id, snapshot) in old_rows.items():
            if key not in new_rows:
                record_audit(
                    session,
                    actor=actor,
                    action=f"{kind}_deleted",
                    target_type=kind,
                    target_id=row_id,
                    before=snapshot,
                    reason=reason,
                )
                entries += 1
    keys = sorted(set(before.settings) | set(after.settings))
    old_settings, new_settings = changes(
        {k: before.settings.get(k) for k in keys}, {k: after.settings.get(k) for k in keys}
    )
    if new_settings or old_settings:
        record_audit(
            session,
            actor=actor,
            action="settings_updated",
            target_type="settings",
            before=old_settings,
            after=new_settings,
            reason=reason,
        )
        entries += 1
    return entries


def load_jurisdiction_audited(
    session: Session,
    data: dict[str, Any],
    *,
    actor: User | str = CLI_ACTOR,
    update_existing: bool = True,
    source: str | None = None,
) -> tuple[LoadReport, int]:
    """:func:`~portal.jurisdiction.services.load_jurisdiction`, every change audited like an
    admin edit (the reason names the file). Flushes; the caller commits both or neither.
    Returns the load report and the number of audit entries written."""
    before = jurisdiction_state(session)
    report = load_jurisdiction(session, data, update_existing=update_existing)
    reason = f"load-jurisdiction {source}" if source else "load-jurisdiction"
    return report, record_jurisdiction_changes(session, before, actor=actor, reason=reason)
