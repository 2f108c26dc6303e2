"""Admin forms. Choices that come from the database are filled in by the views."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DecimalField,
    FloatField,
    IntegerField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.accounts.models import Role
from portal.admin.services import MAX_SLA_HOURS, MAX_VERDICT_DAYS
from portal.jurisdiction.models import AREA_LEVELS

LEVEL_LABELS = {"district": _l("District"), "street": _l("Street"), "community": _l("Community")}
PRIORITY_CHOICES = [
    SelectChoice("normal", _l("Normal")),
    SelectChoice("urgent", _l("Urgent")),
    SelectChoice("emergency", _l("Emergency")),
]
ROLE_LABELS = {
    Role.RESIDENT.value: _l("Resident"),
    Role.STAFF.value: _l("Department staff"),
    Role.HEAD.value: _l("Department head"),
    Role.COORDINATOR.value: _l("Coordinator (dispatch)"),
    Role.MODERATOR.value: _l("Moderator"),
    Role.ADMIN.value: _l("Administrator"),
}
NONE_CHOICE = SelectChoice("", _l("— none —"))


def _code_field() -> StringField:
    return StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])


def _name_field(label: object = None) -> StringField:
    return StringField(label or _l("Name"), validators=[DataRequired(), Length(max=80)])


def _name_en_field() -> StringField:
    return StringField(_l("English name"), validators=[Optional(), Length(max=120)])


class DepartmentForm(FlaskForm):
    code = _code_field()
    name = _name_field()
    name_en = _name_en_field()
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    area_code = SelectField(
        _l("Area served (street offices)"), choices=[], default="", validate_choice=True
    )
    active = BooleanField(_l("Active (uncheck to deactivate)"), default=True)


class AreaForm(FlaskForm):
    code = _code_field()
    name = _name_field()
    level = SelectField(
        _l("Level"),
        choices=[SelectChoice(lv, LEVEL_LABELS[lv]) for lv in AREA_LEVELS],
        default="community",
    )
    parent_code = SelectField(_l("Parent area"), choices=[], default="", validate_choice=True)
    centroid_lat = FloatField(
        _l("Latitude of the centre"), validators=[Optional(), NumberRange(min=-90, max=90)]
    )
    centroid_lon = FloatField(
        _l("Longitude of the centre"), validators=[Optional(), NumberRange(min=-180, max=180)]
    )


class CategoryForm(FlaskForm):
    code = StringField(
        _l("Code (Open311 service code)"), validators=[DataRequired(), Length(max=20)]
    )
    name = _name_field()
    name_en = _name_en_field()
    parent_code = SelectField(
        _l("Group (leave empty to make this a group)"),
        choices=[],
        default="",
        validate_choice=True,
    )
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    keywords = TextAreaField(
        _l("Keywords (one per line or separated by commas)"),
        validators=[Optional(), Length(max=3000)],
    )
    default_priority = SelectField(_l("Default priority"), choices=PRIORITY_CHOICES)
    active = BooleanField(_l("Active (uncheck to deactivate)"), default=True)


class SlaProfileForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=20)])
    name = _name_field()
    respond_hours = IntegerField(
        _l("Hours to respond (accept and contact)"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_SLA_HOURS)],
    )
    resolve_hours = IntegerField(
        _l("Hours to resolve"), validators=[InputRequired(), NumberRange(min=1, max=MAX_SLA_HOURS)]
    )


class RoutingRuleForm(FlaskForm):
    category_code = SelectField(_l("Category or group"), choices=[], validate_choice=True)
    area_code = SelectField(
        _l("Area (empty: the whole district)"), choices=[], default="", validate_choice=True
    )
    department_code = SelectField(_l("Lead department"), choices=[], validate_choice=True)
    co_department_codes = SelectMultipleField(
        _l("Co-handling departments"),
        choices=[],
        validate_choice=True,
        description=_l("Hold Ctrl (or ⌘) to select several, or to unselect one."),
    )
    sla_code = SelectField(_l("SLA profile"), choices=[], validate_choice=True)
    active = BooleanField(_l("Active"), default=True)


class ResponseTemplateForm(FlaskForm):
    category_code = SelectField(
        _l("Category or group (empty: all categories)"),
        choices=[],
        default="",
        validate_choice=True,
    )
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=80)])
    body = TextAreaField(
        _l("Text ({tracking_number}, {category}, {department} and {date} are filled in)"),
        validators=[DataRequired(), Length(max=4000)],
    )
    active = BooleanField(_l("Active"), default=True)


class SettingsForm(FlaskForm):
    triage_confidence_threshold = DecimalField(
        _l("Triage confidence threshold (cases below it go to the dispatch centre)"),
        places=2,
        validators=[InputRequired(), NumberRange(min=0, max=1)],
    )
    verdict_days = IntegerField(
        _l("Days a resident has to rate a resolution"),
        validators=[InputRequired(), NumberRange(min=1, max=MAX_VERDICT_DAYS)],
    )
    transfer_needs_approval = BooleanField(_l("Transfers need a coordinator's approval"))


class UserAccessForm(FlaskForm):
    role = SelectField(
        _l("Role"), choices=[SelectChoice(v, label) for v, label in ROLE_LABELS.items()]
    )
    department_code = SelectField(_l("Department"), choices=[], default="", validate_choice=True)
    active = BooleanField(_l("Active (uncheck to block sign-in)"), default=True)
