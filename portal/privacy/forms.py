"""Privacy forms: the reason for a reveal, the confirmation of an account erasure."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.privacy.services import MAX_REASON_CHARS


class RevealForm(FlaskForm):
    reason = TextAreaField(
        _l("Why do you need the resident's details?"),
        validators=[DataRequired(), Length(max=MAX_REASON_CHARS)],
        description=_l("Recorded in the audit trail with your name and the time."),
    )


class EraseAccountForm(FlaskForm):
    password = PasswordField(_l("Your password"))
    confirmation = StringField(
        _l("Type DELETE to confirm"), validators=[DataRequired(), Length(max=20)]
    )
