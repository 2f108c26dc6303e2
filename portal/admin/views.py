"""Admin pages (``/admin``, administrators only — everyone else gets a 404): the jurisdiction's
departments, areas, categories, SLA profiles and routing rules, settings, response templates and
users' roles. The audit log's pages are in :mod:`portal.audit.views`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import selectinload
from wtforms.fields.choices import SelectChoice

from portal import get_session, permissions
from portal.accounts.models import User
from portal.admin import services
from portal.admin.forms import (
    LEVEL_LABELS,
    NONE_CHOICE,
    ROLE_LABELS,
    AreaForm,
    CategoryForm,
    DepartmentForm,
    ResponseTemplateForm,
    RoutingRuleForm,
    SettingsForm,
    SlaProfileForm,
    UserAccessForm,
)
from portal.cases.queries import Page, clamp_page
from portal.errors import DomainError
from portal.jurisdiction.models import Area, Category, Department, RoutingRule, SlaProfile
from portal.workbench.models import ResponseTemplate

bp = Blueprint(
    "admin", __name__, url_prefix="/admin", template_folder="templates", static_folder="static"
)

PER_PAGE = 50


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str


@dataclass(frozen=True)
class Row:
    url: str | None
    cells: list[Any]


def nav_items() -> list[NavItem]:
    """管理 for administrators only."""
    if permissions.can_administer(current_user):
        return [NavItem(_("Administration"), url_for("admin.index"))]
    return []


@bp.before_request
def _administrators_only() -> None:
    if not permissions.can_administer(current_user):
        abort(404)


def _actor() -> User:
    return current_user._get_current_object()  # type: ignore[no-any-return]


def _ip() -> str | None:
    return request.remote_addr


def _paginate(stmt: Select[Any]) -> Page[Any]:
    page, per_page = clamp_page(request.args.get("page", type=int), PER_PAGE)
    session = get_session()
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    items = session.scalars(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    return Page(items=items, page=page, per_page=per_page, total=total)


def _get(model: Any, item_id: int) -> Any:
    item = get_session().get(model, item_id)
    if item is None:
        abort(404)
    return item


def _yes(value: bool) -> str:
    return _("yes") if value else _("no")


def _by_code_or_none(model: Any, code: str) -> Any:
    return get_session().scalar(select(model).where(model.code == code)) if code else None


def _list_page(
    *,
    title: str,
    headers: list[str],
    rows: list[Row],
    page: Page[Any],
    endpoint: str,
    new_url: str | None,
    args: dict[str, Any] | None = None,
    intro: str | None = None,
    group_filter: dict[str, Any] | None = None,
) -> Any:
    return render_template(
        "admin/list.html",
        title=title,
        headers=headers,
        rows=rows,
        result=page,
        endpoint=endpoint,
        new_url=new_url,
        args=args or {},
        intro=intro,
        group_filter=group_filter,
    )


def _field_error(form: FlaskForm, error: DomainError) -> None:
    field = getattr(form, str(error.details.get("field") or ""), None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*list(field.errors), error.message]
    else:
        flash(error.message, "error")


def _form_page(
    form: FlaskForm, *, title: str, save: Callable[[], Any], done_url: str, back_url: str
) -> Any:
    """Validate, call the service, commit once (the audit entry with it) or show the errors."""
    if form.validate_on_submit():
        session = get_session()
        try:
            save()
        except DomainError as error:
            session.rollback()
            _field_error(form, error)
        else:
            session.commit()
            flash(_("Saved. The change applies from now on."), "success")
            return redirect(done_url)
    status = 422 if request.method == "POST" else 200
    return render_template("admin/form.html", form=form, title=title, back_url=back_url), status


def _area_choices() -> list[SelectChoice]:
    areas = get_session().scalars(select(Area).order_by(Area.code)).all()
    return [NONE_CHOICE] + [
        SelectChoice(a.code, f"{a.name} ({a.code}, {LEVEL_LABELS.get(a.level, a.level)})")
        for a in areas
    ]


def _department_choices(*, with_none: bool) -> list[SelectChoice]:
    departments = get_session().scalars(select(Department).order_by(Department.code)).all()
    choices = [
        SelectChoice(
            d.code, f"{d.name} ({d.code})" + ("" if d.active else " — " + _("deactivated"))
        )
        for d in departments
    ]
    return ([NONE_CHOICE] if with_none else []) + choices


def _category_choices(*, groups_only: bool = False, with_none: bool = False) -> list[Any]:
    stmt = select(Category).order_by(Category.code)
    if groups_only:
        stmt = stmt.where(Category.parent_id.is_(None))
    categories = get_session().scalars(stmt).all()
    choices = [
        SelectChoice(
            c.code, f"{c.code} {c.name}" + ("" if c.parent_id is not None else " " + _("(group)"))
        )
        for c in categories
    ]
    return ([NONE_CHOICE] if with_none else []) + choices


# --- home -----------------------------------------------------------------------------------


@bp.route("/")
def index() -> Any:
    session = get_session()
    counts = {
        "departments": session.scalar(select(func.count()).select_from(Department)) or 0,
        "areas": session.scalar(select(func.count()).select_from(Area)) or 0,
        "categories": session.scalar(select(func.count()).select_from(Category)) or 0,
        "rules": session.scalar(select(func.count()).select_from(RoutingRule)) or 0,
        "sla": session.scalar(select(func.count()).select_from(SlaProfile)) or 0,
        "templates": session.scalar(select(func.count()).select_from(ResponseTemplate)) or 0,
        "users": session.scalar(select(func.count()).select_from(User)) or 0,
    }
    return render_template("admin/index.html", counts=counts)


# --- departments ----------------------------------------------------------------------------


@bp.route("/departments")
def departments() -> Any:
    page = _paginate(
        select(Department).options(selectinload(Department.area)).order_by(Department.code)
    )
    rows = [
        Row(
            url_for("admin.edit_department", item_id=d.id),
            [d.code, d.name, d.area.name if d.area else "", _yes(d.active)],
        )
        for d in page.items
    ]
    return _list_page(
        title=_("Departments"),
        headers=[_("Code"), _("Name"), _("Area"), _("Active")],
        rows=rows,
        page=page,
        endpoint="admin.departments",
        new_url=url_for("admin.new_department"),
        intro=_(
            "A deactivated department's routing rules stop matching: the next less specific "
            "rule applies, or the case goes to triage."
        ),
    )


def _department_form(department: Department | None) -> Any:
    form = DepartmentForm(
        obj=department,
        data=None
        if department is None
        else {"area_code": department.area.code if department.area else ""},
    )
    form.area_code.choices = _area_choices()

    def save() -> Any:
        return services.save_department(
            get_session(),
            actor=_actor(),
            department=department,
            code=form.code.data or "",
            name=form.name.data or "",
            name_en=form.name_en.data,
            description=form.description.data,
            area_code=form.area_code.data or None,
            active=bool(form.active.data),
            ip=_ip(),
        )

    title = (
        _("New department")
        if department is None
        else _("Edit department %(code)s", code=department.code)
    )
    back = url_for("admin.departments")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/departments/new", methods=["GET", "POST"])
def new_department() -> Any:
    return _department_form(None)


@bp.route("/departments/<int:item_id>", methods=["GET", "POST"])
def edit_department(item_id: int) -> Any:
    return _department_form(_get(Department, item_id))


# --- areas ----------------------------------------------------------------------------------


@bp.route("/areas")
def areas() -> Any:
    page = _paginate(select(Area).options(selectinload(Area.parent)).order_by(Area.code))
    rows = [
        Row(
            url_for("admin.edit_area", item_id=a.id),
            [a.code, a.name, LEVEL_LABELS.get(a.level, a.level), a.parent.name if a.parent else ""],
        )
        for a in page.items
    ]
    return _list_page(
        title=_("Areas"),
        headers=[_("Code"), _("Name"), _("Level"), _("Parent area")],
        rows=rows,
        page=page,
        endpoint="admin.areas",
        new_url=url_for("admin.new_area"),
    )


def _area_form(area: Area | None) -> Any:
    form = AreaForm(
        obj=area,
        data=None if area is None else {"parent_code": area.parent.code if area.parent else ""},
    )
    form.parent_code.choices = _area_choices()

    def save() -> Any:
        return services.save_area(
            get_session(),
            actor=_actor(),
            area=area,
            code=form.code.data or "",
            name=form.name.data or "",
            level=form.level.data or "",
            parent_code=form.parent_code.data or None,
            centroid_lat=form.centroid_lat.data,
            centroid_lon=form.centroid_lon.data,
            ip=_ip(),
        )

    title = _("New area") if area is None else _("Edit area %(code)s", code=area.code)
    back = url_for("admin.areas")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/areas/new", methods=["GET", "POST"])
def new_area() -> Any:
    return _area_form(None)


@bp.route("/areas/<int:item_id>", methods=["GET", "POST"])
def edit_area(item_id: int) -> Any:
    return _area_form(_get(Area, item_id))


# --- categories -----------------------------------------------------------------------------


@bp.route("/categories")
def categories() -> Any:
    """All groups and categories, or one group with its categories (``?group=G01``)."""
    group_code = (request.args.get("group") or "").strip()[:20]
    stmt = select(Category).options(selectinload(Category.parent)).order_by(Category.code)
    group = _by_code_or_none(Category, group_code)
    if group is not None:
        stmt = stmt.where(or_(Category.id == group.id, Category.parent_id == group.id))
    page = _paginate(stmt)
    rows = [
        Row(
            url_for("admin.edit_category", item_id=c.id),
            [
                c.code,
                c.name,
                c.parent.name if c.parent else _("(group)"),
                len(c.keywords or []),
                c.default_priority,
                _yes(c.active),
            ],
        )
        for c in page.items
    ]
    return _list_page(
        title=_("Categories"),
        headers=[
            _("Code"),
            _("Name"),
            _("Group"),
            _("Keywords"),
            _("Default priority"),
            _("Active"),
        ],
        rows=rows,
        page=page,
        endpoint="admin.categories",
        new_url=url_for("admin.new_category"),
        args={"group": group.code} if group is not None else {},
        group_filter={
            "selected": group.code if group is not None else "",
            "choices": _category_choices(groups_only=True),
        },
    )


def _category_form(category: Category | None) -> Any:
    data = None
    if category is not None:
        data = {
            "parent_code": category.parent.code if category.parent else "",
            "keywords": "\n".join(category.keywords or []),
        }
    form = CategoryForm(obj=category, data=data)
    if category is not None and request.method == "GET":
        form.keywords.data = "\n".join(category.keywords or [])
    form.parent_code.choices = _category_choices(groups_only=True, with_none=True)

    def save() -> Any:
        session = get_session()
        return services.save_category(
            session,
            actor=_actor(),
            category=category,
            code=form.code.data or "",
            name=form.name.data or "",
            name_en=form.name_en.data,
            parent_code=form.parent_code.data or None,
            description=form.description.data,
            keywords=services.parse_keywords(form.keywords.data),
            default_priority=form.default_priority.data or "normal",
            active=bool(form.active.data),
            ip=_ip(),
        )

    title = (
        _("New category") if category is None else _("Edit category %(code)s", code=category.code)
    )
    back = url_for("admin.categories")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/categories/new", methods=["GET", "POST"])
def new_category() -> Any:
    return _category_form(None)


@bp.route("/categories/<int:item_id>", methods=["GET", "POST"])
def edit_category(item_id: int) -> Any:
    return _category_form(_get(Category, item_id))


# --- SLA profiles ---------------------------------------------------------------------------


@bp.route("/sla")
def sla_profiles() -> Any:
    page = _paginate(select(SlaProfile).order_by(SlaProfile.resolve_hours, SlaProfile.code))
    rows = [
        Row(
            url_for("admin.edit_sla_profile", item_id=p.id),
            [p.code, p.name, p.respond_hours, p.resolve_hours],
        )
        for p in page.items
    ]
    return _list_page(
        title=_("SLA profiles"),
        headers=[_("Code"), _("Name"), _("Hours to respond"), _("Hours to resolve")],
        rows=rows,
        page=page,
        endpoint="admin.sla_profiles",
        new_url=url_for("admin.new_sla_profile"),
        intro=_("New cases get their due dates from these hours; existing due dates stay."),
    )


def _sla_form(profile: SlaProfile | None) -> Any:
    form = SlaProfileForm(obj=profile)

    def save() -> Any:
        return services.save_sla_profile(
            get_session(),
            actor=_actor(),
            profile=profile,
            code=form.code.data or "",
            name=form.name.data or "",
            respond_hours=int(form.respond_hours.data or 0),
            resolve_hours=int(form.resolve_hours.data or 0),
            ip=_ip(),
        )

    title = (
        _("New SLA profile")
        if profile is None
        else _("Edit SLA profile %(code)s", code=profile.code)
    )
    back = url_for("admin.sla_profiles")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/sla/new", methods=["GET", "POST"])
def new_sla_profile() -> Any:
    return _sla_form(None)


@bp.route("/sla/<int:item_id>", methods=["GET", "POST"])
def edit_sla_profile(item_id: int) -> Any:
    return _sla_form(_get(SlaProfile, item_id))


# --- routing rules --------------------------------------------------------------------------


@bp.route("/rules")
def routing_rules() -> Any:
    stmt = (
        select(RoutingRule)
        .join(RoutingRule.category)
        .options(
            selectinload(RoutingRule.category),
            selectinload(RoutingRule.area),
            selectinload(RoutingRule.department),
            selectinload(RoutingRule.co_departments),
            selectinload(RoutingRule.sla_profile),
        )
        .order_by(Category.code, RoutingRule.area_id.is_not(None), RoutingRule.id)
    )
    page = _paginate(stmt)
    rows = [
        Row(
            url_for("admin.edit_routing_rule", item_id=r.id),
            [
                f"{r.category.code} {r.category.name}",
                r.area.name if r.area else _("whole district"),
                r.department.name,
                "、".join(d.name for d in r.co_departments),
                r.sla_profile.name,
                _yes(r.active),
            ],
        )
        for r in page.items
    ]
    return _list_page(
        title=_("Routing rules"),
        headers=[
            _("Category"),
            _("Area"),
            _("Lead department"),
            _("Co-handling"),
            _("SLA"),
            _("Active"),
        ],
        rows=rows,
        page=page,
        endpoint="admin.routing_rules",
        new_url=url_for("admin.new_routing_rule"),
        intro=_(
            "The most specific active rule wins: category before group, community before street "
            "before the whole district."
        ),
    )


def _rule_form(rule: RoutingRule | None) -> Any:
    data = None
    if rule is not None:
        data = {
            "category_code": rule.category.code,
            "area_code": rule.area.code if rule.area else "",
            "department_code": rule.department.code,
            "co_department_codes": [d.code for d in rule.co_departments],
            "sla_code": rule.sla_profile.code,
            "active": rule.active,
        }
    form = RoutingRuleForm(data=data)
    form.category_code.choices = _category_choices()
    form.area_code.choices = _area_choices()
    form.department_code.choices = _department_choices(with_none=False)
    form.co_department_codes.choices = _department_choices(with_none=False)
    form.sla_code.choices = [
        SelectChoice(p.code, f"{p.name} ({p.respond_hours} h / {p.resolve_hours} h)")
        for p in get_session().scalars(select(SlaProfile).order_by(SlaProfile.code))
    ]

    def save() -> Any:
        return services.save_routing_rule(
            get_session(),
            actor=_actor(),
            rule=rule,
            category_code=form.category_code.data or "",
            area_code=form.area_code.data or None,
            department_code=form.department_code.data or "",
            co_department_codes=form.co_department_codes.data or [],
            sla_code=form.sla_code.data or "",
            active=bool(form.active.data),
            ip=_ip(),
        )

    title = _("New routing rule") if rule is None else _("Edit routing rule")
    back = url_for("admin.routing_rules")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/rules/new", methods=["GET", "POST"])
def new_routing_rule() -> Any:
    return _rule_form(None)


@bp.route("/rules/<int:item_id>", methods=["GET", "POST"])
def edit_routing_rule(item_id: int) -> Any:
    return _rule_form(_get(RoutingRule, item_id))


# --- response templates ---------------------------------------------------------------------


@bp.route("/templates")
def response_templates() -> Any:
    page = _paginate(
        select(ResponseTemplate)
        .options(selectinload(ResponseTemplate.category))
        .order_by(ResponseTemplate.title, ResponseTemplate.id)
    )
    rows = [
        Row(
            url_for("admin.edit_response_template", item_id=t.id),
            [t.title, t.category.name if t.category else _("all categories"), _yes(t.active)],
        )
        for t in page.items
    ]
    return _list_page(
        title=_("Response templates"),
        headers=[_("Title"), _("Category"), _("Active")],
        rows=rows,
        page=page,
        endpoint="admin.response_templates",
        new_url=url_for("admin.new_response_template"),
    )


def _template_form(template: ResponseTemplate | None) -> Any:
    data = None
    if template is not None:
        data = {"category_code": template.category.code if template.category else ""}
    form = ResponseTemplateForm(obj=template, data=data)
    form.category_code.choices = _category_choices(with_none=True)

    def save() -> Any:
        return services.save_response_template(
            get_session(),
            actor=_actor(),
            template=template,
            category_code=form.category_code.data or None,
            title=form.title.data or "",
            body=form.body.data or "",
            active=bool(form.active.data),
            ip=_ip(),
        )

    title = _("New response template") if template is None else _("Edit response template")
    back = url_for("admin.response_templates")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)


@bp.route("/templates/new", methods=["GET", "POST"])
def new_response_template() -> Any:
    return _template_form(None)


@bp.route("/templates/<int:item_id>", methods=["GET", "POST"])
def edit_response_template(item_id: int) -> Any:
    return _template_form(_get(ResponseTemplate, item_id))


# --- settings -------------------------------------------------------------------------------


@bp.route("/settings", methods=["GET", "POST"])
def settings() -> Any:
    current = services.current_settings(get_session())
    form = SettingsForm(data=current)

    def save() -> Any:
        threshold = form.triage_confidence_threshold.data
        return services.update_settings(
            get_session(),
            actor=_actor(),
            values={
                "triage_confidence_threshold": float(threshold) if threshold is not None else None,
                "verdict_days": form.verdict_days.data,
                "transfer_needs_approval": bool(form.transfer_needs_approval.data),
            },
            ip=_ip(),
        )

    url = url_for("admin.settings")
    return _form_page(
        form, title=_("Settings"), save=save, done_url=url, back_url=url_for("admin.index")
    )


# --- users ----------------------------------------------------------------------------------


@bp.route("/users")
def users() -> Any:
    query = (request.args.get("q") or "").strip()[:120]
    role = request.args.get("role") or ""
    stmt = select(User).options(selectinload(User.department)).order_by(User.id)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        stmt = stmt.where(
            or_(
                User.email.ilike(pattern, escape="\\"),
                User.display_name.ilike(pattern, escape="\\"),
            )
        )
    if role in ROLE_LABELS:
        stmt = stmt.where(User.role == role)
    page = _paginate(stmt)
    rows = [
        Row(
            url_for("admin.edit_user", item_id=u.id),
            [
                u.id,
                u.display_name,
                u.email or "",
                ROLE_LABELS.get(u.role, u.role),
                u.department.name if u.department else "",
                _yes(u.active),
            ],
        )
        for u in page.items
    ]
    return render_template(
        "admin/users.html",
        rows=rows,
        result=page,
        query=query,
        role=role,
        roles=ROLE_LABELS,
        args={"q": query, "role": role} if query or role else {},
    )


@bp.route("/users/<int:item_id>", methods=["GET", "POST"])
def edit_user(item_id: int) -> Any:
    user: User = _get(User, item_id)
    form = UserAccessForm(
        data={
            "role": user.role,
            "department_code": user.department.code if user.department else "",
            "active": user.active,
        }
    )
    form.department_code.choices = _department_choices(with_none=True)

    def save() -> Any:
        return services.update_user_access(
            get_session(),
            actor=_actor(),
            user=user,
            role=form.role.data or "",
            department_code=form.department_code.data or None,
            active=bool(form.active.data),
            ip=_ip(),
        )

    title = _("Access of %(name)s (user %(id)d)", name=user.display_name, id=user.id)
    back = url_for("admin.users")
    return _form_page(form, title=title, save=save, done_url=back, back_url=back)
