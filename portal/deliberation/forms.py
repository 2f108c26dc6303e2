"""Web forms of the deliberation pages (CSRF through Flask-WTF; the services validate again)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import DateField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from portal.deliberation.models import ANSWER_OUTCOMES
from portal.deliberation.services import MAX_BODY_CHARS, MAX_TITLE_CHARS
from portal.deliberation.threads import MAX_COMMENT_CHARS

#: (value, label) pairs for templates; the form fields use SelectChoice.
STANCE_CHOICES = [
    ("for", _l("For")),
    ("neutral", _l("Neutral")),
    ("against", _l("Against")),
]


class ProposalForm(FlaskForm):
    title = StringField(_l("Title"), validators=[DataRequired(), Length(max=MAX_TITLE_CHARS)])
    body = TextAreaField(
        _l("Your proposal: what should change, and why?"),
        validators=[DataRequired(), Length(max=MAX_BODY_CHARS)],
    )
    category_code = SelectField(_l("Category"), validators=[DataRequired()], choices=[])
    area_code = SelectField(_l("Area"), validators=[Optional()], choices=[])


class CommentForm(FlaskForm):
    body = TextAreaField(
        _l("Your comment"), validators=[DataRequired(), Length(max=MAX_COMMENT_CHARS)]
    )
    stance = SelectField(
        _l("Your stance"),
        choices=[SelectChoice(v, t) for v, t in STANCE_CHOICES],
        default="neutral",
    )
    parent_id = HiddenField()


class AnswerForm(FlaskForm):
    outcome = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice(o, label)
            for o, label in zip(
                ANSWER_OUTCOMES,
                (_l("Accepted"), _l("Partly accepted"), _l("Rejected")),
                strict=True,
            )
        ],
    )
    answer = TextAreaField(_l("Official answer"), validators=[DataRequired(), Length(max=4000)])
    reasons = TextAreaField(_l("Reasons"), validators=[DataRequired(), Length(max=4000)])


class ProgressForm(FlaskForm):
    progress = IntegerField(_l("Progress (%)"), validators=[NumberRange(0, 100)])
    milestone = StringField(_l("Milestone"), validators=[DataRequired(), Length(max=200)])
    on_date = DateField(_l("Date"), validators=[Optional()])


class CodeBatchForm(FlaskForm):
    """Issue a batch of one-time verification codes (the admin's community-office page)."""

    area_code = SelectField(_l("Area"), validators=[Optional()], choices=[])
    count = IntegerField(
        _l("Number of codes"), default=20, validators=[DataRequired(), NumberRange(1, 500)]
    )
    level = SelectField(_l("Level the codes grant"), choices=[], coerce=int)
    valid_days = IntegerField(
        _l("Valid for (days)"), default=30, validators=[DataRequired(), NumberRange(1, 365)]
    )
    issued_by = StringField(
        _l("Handed out by"),
        description=_l("The office that hands the codes out, e.g. 青松社区居委会."),
        validators=[DataRequired(), Length(max=120)],
    )
    request_token = HiddenField()


class RevokeCodeForm(FlaskForm):
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=40)])
