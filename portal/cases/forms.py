"""The resident intake form (two steps: check, then submit) and the public list's filters."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    HiddenField,
    MultipleFileField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional, ValidationError

import nlp

MAX_PHOTOS = 3
MAX_ADDRESS_CHARS = 200
MAX_CONTACT_NAME_CHARS = 60
MAX_PHONE_CHARS = 30

KIND_CHOICES = [
    SelectChoice("", _l("Let Shuzhi decide")),
    SelectChoice("complaint", _l("Complaint or problem report")),
    SelectChoice("inquiry", _l("Question")),
    SelectChoice("proposal", _l("Proposal")),
    SelectChoice("praise", _l("Praise")),
]


def _coordinate(low: float, high: float, label: Any):  # type: ignore[no-untyped-def]
    """A WTForms validator: empty, or a decimal number in [low, high]."""

    def check(form: FlaskForm, field: StringField) -> None:
        raw = (field.data or "").strip()
        if not raw:
            return
        try:
            value = float(raw)
        except ValueError:
            raise ValidationError(_l("%(label)s must be a decimal number.", label=label)) from None
        if not low <= value <= high:
            raise ValidationError(
                _l(
                    "%(label)s must be between %(low)s and %(high)s.",
                    label=label,
                    low=low,
                    high=high,
                )
            )

    return check


class IntakeForm(FlaskForm):
    """What a resident reports. Step ``check`` previews; step ``submit`` files the case."""

    step = HiddenField(default="check")
    text = TextAreaField(
        _l("What is the problem?"),
        description=_l(
            "Describe what happened, where and since when, in up to %(n)d characters. Personal "
            "details (names, phone and ID numbers) are hidden automatically on public pages.",
            n=nlp.MAX_TEXT_CHARS,
        ),
        validators=[
            DataRequired(_l("Please describe the problem.")),
            Length(
                max=nlp.MAX_TEXT_CHARS,
                message=_l(
                    "Please shorten the text to at most %(n)d characters.", n=nlp.MAX_TEXT_CHARS
                ),
            ),
        ],
    )
    kind = SelectField(_l("Type"), choices=KIND_CHOICES, default="", validators=[Optional()])
    category = SelectField(
        _l("Category"),
        description=_l("Optional: leave it to Shuzhi and the coordinators if you are unsure."),
        choices=[],
        validators=[Optional()],
        validate_choice=False,  # the intake service checks the code (one query, not the list)
    )
    address = StringField(
        _l("Where? (address or landmark)"),
        description=_l(
            "Only the street and community are shown publicly, never the exact address."
        ),
        validators=[Optional(), Length(max=MAX_ADDRESS_CHARS)],
    )
    lat = StringField(_l("Latitude"), validators=[Optional(), _coordinate(-90, 90, _l("Latitude"))])
    lon = StringField(
        _l("Longitude"), validators=[Optional(), _coordinate(-180, 180, _l("Longitude"))]
    )
    photos = MultipleFileField(
        _l("Photos (optional)"),
        description=_l(
            "Up to %(n)d photos, JPEG, PNG or WebP; location data in them is removed.", n=MAX_PHOTOS
        ),
    )
    contact_name = StringField(
        _l("Your name (optional)"), validators=[Optional(), Length(max=MAX_CONTACT_NAME_CHARS)]
    )
    contact_phone = StringField(
        _l("Phone number for the department (optional)"),
        validators=[Optional(), Length(max=MAX_PHONE_CHARS)],
    )
    show_name = BooleanField(
        _l("Show my display name on the public case page"),
        description=_l("Off by default: the public page then says “a resident”."),
    )
    consent = BooleanField(_l("I agree"))

    def validate_photos(self, field: MultipleFileField) -> None:
        files = [f for f in field.data or [] if getattr(f, "filename", "")]
        if len(files) > MAX_PHOTOS:
            raise ValidationError(_l("Please attach at most %(n)d photos.", n=MAX_PHOTOS))

    def coordinates(self) -> tuple[float | None, float | None]:
        lat = (self.lat.data or "").strip()
        lon = (self.lon.data or "").strip()
        return (float(lat) if lat else None, float(lon) if lon else None)


class CaseFilterForm(FlaskForm):
    """Filters of the public list; read from the query string, so no CSRF."""

    class Meta:
        csrf = False

    q = StringField(_l("Tracking number or words"), validators=[Optional(), Length(max=100)])
    group = SelectField(_l("Group"), validators=[Optional()], validate_choice=False)
    category = SelectField(_l("Category"), validators=[Optional()], validate_choice=False)
    status = SelectField(_l("Status"), validators=[Optional()], validate_choice=False)
    department = SelectField(_l("Department"), validators=[Optional()], validate_choice=False)
    street = SelectField(_l("Street"), validators=[Optional()], validate_choice=False)
    overdue = BooleanField(_l("Overdue only"))
