"""Workbench forms: triage, the case actions, transfer decisions, queue filters and the verdict."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.workbench.handling import MAX_NOTE_CHARS, MIN_REASON_CHARS

PRIORITY_CHOICES = [
    SelectChoice("", _l("Keep the engine's reading")),
    SelectChoice("emergency", _l("Emergency")),
    SelectChoice("urgent", _l("Urgent")),
    SelectChoice("normal", _l("Normal")),
]
CLOSE_REASON_CHOICES = [
    SelectChoice("invalid", _l("Invalid (no actionable request)")),
    SelectChoice("duplicate", _l("Duplicate of another case")),
    SelectChoice("out_of_scope", _l("Outside our remit")),
]
CONTACT_METHOD_CHOICES = [
    SelectChoice("phone", _l("Phone call")),
    SelectChoice("visit", _l("Visit")),
    SelectChoice("message", _l("Message")),
    SelectChoice("other", _l("Other")),
]
SATISFACTION_CHOICES = [
    SelectChoice("5", _l("5 — very satisfied")),
    SelectChoice("4", _l("4 — satisfied")),
    SelectChoice("3", _l("3 — neutral")),
    SelectChoice("2", _l("2 — dissatisfied")),
    SelectChoice("1", _l("1 — very dissatisfied")),
]


def _text(label: str, *, required: bool = True, minimum: int = 1) -> TextAreaField:
    validators = (
        [DataRequired(), Length(min=minimum, max=MAX_NOTE_CHARS)]
        if required
        else [
            Optional(),
            Length(max=MAX_NOTE_CHARS),
        ]
    )
    return TextAreaField(label, validators=validators)


class DispatchForm(FlaskForm):
    """Confirm or correct category and department; co-departments split the responsibility."""

    category = SelectField(_l("Category"), validators=[DataRequired()])
    department = SelectField(_l("Lead department"), validators=[Optional()])
    co_departments = SelectMultipleField(_l("Co-handling departments"), validators=[Optional()])
    priority = SelectField(_l("Priority"), choices=PRIORITY_CHOICES, validators=[Optional()])
    note = _text(_l("Internal note"), required=False)


class CloseInvalidForm(FlaskForm):
    reason = SelectField(_l("Why close it"), choices=CLOSE_REASON_CHOICES)
    duplicate_of = StringField(
        _l("Duplicate of (tracking number)"), validators=[Optional(), Length(max=24)]
    )
    note = _text(_l("Explanation shown on the case"), required=False)


class AcceptForm(FlaskForm):
    pass


class ContactForm(FlaskForm):
    method = SelectField(_l("How"), choices=CONTACT_METHOD_CHOICES)
    note = _text(_l("What was said or agreed"))


class ReplyForm(FlaskForm):
    template = SelectField(_l("Start from a template"), validators=[Optional()], coerce=str)
    body = _text(_l("Text"))
    public = BooleanField(
        _l("Public reply to the resident (unticked: internal note)"), default=True
    )


class CoHandlingForm(FlaskForm):
    department = SelectField(_l("Department"), validators=[DataRequired()])
    note = _text(_l("What do you need from them?"), minimum=MIN_REASON_CHARS)


class CoDoneForm(FlaskForm):
    note = _text(_l("What your department did"))


class ReturnForm(FlaskForm):
    reason = _text(_l("Why is this not for your department?"), minimum=MIN_REASON_CHARS)


class TransferForm(FlaskForm):
    department = SelectField(_l("To department"), validators=[DataRequired()])
    reason = _text(_l("Reason"), minimum=MIN_REASON_CHARS)


class ResolveForm(FlaskForm):
    summary = _text(_l("Public summary of what was done"), minimum=MIN_REASON_CHARS)


class PhotoForm(FlaskForm):
    photos = MultipleFileField(_l("Photos"))
    public = BooleanField(_l("Show on the public case page"), default=True)


class TransferDecisionForm(FlaskForm):
    decision = HiddenField(validators=[DataRequired()])
    note = _text(_l("Note (required when rejecting)"), required=False)


class VerdictForm(FlaskForm):
    """The resident's 回访: two questions and an optional comment."""

    resolved = RadioField(
        _l("Was your problem resolved?"),
        choices=[SelectChoice("yes", _l("Yes")), SelectChoice("no", _l("No"))],
        validators=[InputRequired()],
    )
    satisfaction = RadioField(
        _l("How satisfied are you with how it was handled?"),
        choices=SATISFACTION_CHOICES,
        validators=[InputRequired()],
    )
    comment = TextAreaField(_l("Comment (optional)"), validators=[Optional(), Length(max=2000)])
