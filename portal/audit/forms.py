"""The audit log's search form (GET filters)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, SelectField, StringField
from wtforms.validators import Length, Optional


class AuditSearchForm(FlaskForm):
    """GET filters for the audit log (no CSRF: it changes nothing)."""

    class Meta:
        csrf = False

    actor = StringField(_l("Actor (name or user id)"), validators=[Optional(), Length(max=120)])
    action = SelectField(_l("Action"), choices=[], default="", validate_choice=True)
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("To (inclusive)"), validators=[Optional()])
