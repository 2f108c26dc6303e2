"""Discussion threads on proposals and public cases: comments with a stance, nested replies,
edit window, soft delete, likes, sorting, and the safe rendering of comment bodies.

Bodies are stored raw. Rendering escapes everything, then turns bare http(s) URLs into links,
then passes the result through ``nh3.clean`` with an allow-list of ``<a href>`` and ``<br>`` as
the final guard. Checks (prohibited words) run on ``nlp.normalize``d text, so full-width
``＜script＞`` is seen as ``<script>``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import nh3
from flask_babel import gettext as _
from markupsafe import Markup, escape
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

import nlp
from portal import permissions
from portal.accounts.models import User
from portal.cases.models import Case
from portal.db import utcnow
from portal.deliberation.models import (
    HELD,
    HIDDEN,
    STANCES,
    VISIBLE,
    Comment,
    CommentLike,
    Proposal,
)
from portal.deliberation.participation import require_participation
from portal.errors import InvalidTransition, NotFound, PermissionDenied, ValidationError
from portal.jurisdiction.services import get_setting
from portal.privacy.models import ProposalRetentionMark, RetentionMark

MIN_COMMENT_CHARS = 2
MAX_COMMENT_CHARS = 2000
MAX_DEPTH = 3
SORTS = ("newest", "liked")
THREAD_PAGE = 50

#: An http(s) URL in *escaped* text: it ends at whitespace, CJK punctuation or an escaped quote
#: or angle bracket (so ``https://x/"onmouseover=…`` links only ``https://x/``).
_URL = re.compile(
    r"https?://(?:(?!&(?:#34|#39|#x27|quot|lt|gt);)[^\s<>\"'，。；！？、）】])+", re.IGNORECASE
)


# --- rendering ------------------------------------------------------------------------------


def linkify_escaped(escaped: str) -> str:
    """Wrap http(s) URLs found in already-escaped text in ``<a>``; nothing else becomes markup."""

    def link(match: re.Match[str]) -> str:
        url = match.group(0)
        trail = ""
        while url and url[-1] in ".,;:!?)":
            trail = url[-1] + trail
            url = url[:-1]
        return f'<a href="{url}" rel="nofollow noopener noreferrer">{url}</a>{trail}'

    return _URL.sub(link, escaped)


def render_body(body: str) -> Markup:
    """Escaped text with clickable http(s) links and line breaks; nh3 is the last guard."""
    escaped = str(escape(body))
    html = linkify_escaped(escaped).replace("\n", "<br>")
    cleaned = nh3.clean(
        html,
        tags={"a", "br"},
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="nofollow noopener noreferrer",
    )
    return Markup(cleaned)


# --- posting --------------------------------------------------------------------------------


def _clean_body(body: str | None) -> str:
    text = (body or "").strip()
    if len(text) > MAX_COMMENT_CHARS:
        raise ValidationError(
            _(
                "The comment is too long: at most %(max)d characters, you wrote %(n)d.",
                max=MAX_COMMENT_CHARS,
                n=len(text),
            ),
            field="body",
            code="comment_too_long",
        )
    if len(re.sub(r"\s+", "", nlp.normalize(text) if text else "")) < MIN_COMMENT_CHARS:
        raise ValidationError(
            _("The comment is too short: write at least %(n)d characters.", n=MIN_COMMENT_CHARS),
            field="body",
            code="comment_too_short",
        )
    return text


def prohibited_words_in(session: Session, text: str) -> list[str]:
    """The configured prohibited words found in the normalised text (case-insensitive)."""
    words = get_setting(session, "prohibited_words") or []
    normalized = nlp.normalize(text).casefold()
    return [
        w
        for w in words
        if isinstance(w, str) and w.strip() and nlp.normalize(w).casefold() in normalized
    ]


def thread_retained(session: Session, proposal_id: int) -> bool:
    """True once retention replaced the personal data of the proposal and its thread (the
    ``raw_text`` step, :mod:`portal.privacy.retention`): the thread is closed for good, since a
    comment written afterwards would keep its personal data."""
    mark = session.scalar(
        select(ProposalRetentionMark.id).where(
            ProposalRetentionMark.proposal_id == proposal_id,
            ProposalRetentionMark.data_class == "raw_text",
        )
    )
    return mark is not None


def case_thread_retained(session: Session, case_id: int) -> bool:
    """True once retention masked the comments of a closed case's thread (the ``comments`` step,
    :mod:`portal.privacy.retention`): the thread is closed for good, as for proposals."""
    mark = session.scalar(
        select(RetentionMark.id).where(
            RetentionMark.case_id == case_id, RetentionMark.data_class == "comments"
        )
    )
    return mark is not None


def _lock_thread_target(
    session: Session, *, proposal_id: int | None = None, case_id: int | None = None
) -> None:
    """Key-share lock the proposal (case) row of a thread (PostgreSQL): a retention step running
    on it holds ``FOR UPDATE``, so this waits for its commit and then sees its mark; a step
    starting later waits for this transaction and masks what it wrote. Supports (``FOR NO KEY
    UPDATE``) are not blocked."""
    if proposal_id is not None:
        session.execute(
            select(Proposal.id)
            .where(Proposal.id == proposal_id)
            .with_for_update(read=True, key_share=True)
        )
    elif case_id is not None:
        session.execute(
            select(Case.id).where(Case.id == case_id).with_for_update(read=True, key_share=True)
        )


def _refuse_retained_thread(
    session: Session, *, proposal_id: int | None = None, case_id: int | None = None
) -> None:
    """Refuse an edit in a thread retention has processed (the thread row locked first)."""
    _lock_thread_target(session, proposal_id=proposal_id, case_id=case_id)
    if proposal_id is not None:
        if thread_retained(session, proposal_id):
            raise InvalidTransition(
                _("This proposal is closed for comments."), code="thread_closed"
            )
    elif case_id is not None and case_thread_retained(session, case_id):
        raise InvalidTransition(_("This case is closed for comments."), code="thread_closed")


def _target_open(
    session: Session, *, proposal: Proposal | None, case: Case | None, user: User
) -> None:
    if proposal is not None:
        if proposal.moderation == HIDDEN:
            raise NotFound(_("No such proposal."))
    elif case is not None:
        if not permissions.is_public_case(case) or not permissions.can_view_case(user, case):
            raise NotFound(_("No such case."))
    else:
        raise ValueError("a comment needs a proposal or a case")
    target = {
        "proposal_id": proposal.id if proposal is not None else None,
        "case_id": case.id if proposal is None and case is not None else None,
    }
    _lock_thread_target(session, **target)
    closed = thread_closed(session, **target)  # the rule the thread pages show
    if closed is not None:
        raise InvalidTransition(closed, code="thread_closed")


def post_comment(
    session: Session,
    *,
    author: User,
    body: str,
    stance: str = "neutral",
    proposal: Proposal | None = None,
    case: Case | None = None,
    parent_id: int | None = None,
) -> Comment:
    """Add a comment or a reply (depth ≤ 3). A prohibited word holds it for review. Flushes."""
    require_participation(session, author, "comment")
    if stance not in STANCES:
        raise ValidationError(_("Choose for, neutral or against."), field="stance")
    text = _clean_body(body)
    _target_open(session, proposal=proposal, case=case, user=author)
    depth = 1
    if parent_id is not None:
        parent = session.get(Comment, parent_id) if 0 < parent_id < 2**31 else None
        same_target = parent is not None and (
            (proposal is not None and parent.proposal_id == proposal.id)
            or (case is not None and parent.case_id == case.id)
        )
        if parent is None or not same_target:
            raise ValidationError(_("The comment you reply to does not exist."), field="parent_id")
        if parent.depth >= MAX_DEPTH:
            raise ValidationError(
                _("Replies can be nested at most %(n)d levels deep.", n=MAX_DEPTH),
                field="parent_id",
            )
        depth = parent.depth + 1
    held = prohibited_words_in(session, text)
    comment = Comment(
        proposal_id=proposal.id if proposal is not None else None,
        case_id=case.id if case is not None else None,
        parent_id=parent_id,
        depth=depth,
        author_id=author.id,
        stance=stance,
        body=text,
        moderation=HELD if held else VISIBLE,
        moderation_reason="prohibited_words" if held else None,
        created_at=utcnow(),
    )
    session.add(comment)
    session.flush()
    return comment


def edit_window(session: Session) -> timedelta:
    return timedelta(minutes=int(get_setting(session, "comment_edit_window_minutes")))


def can_still_edit(session: Session, comment: Comment, now: datetime | None = None) -> bool:
    return (now or utcnow()) - comment.created_at <= edit_window(session)


def edit_comment(
    session: Session, *, comment: Comment, user: User, body: str, stance: str | None = None
) -> Comment:
    """The author may edit within the window (the comment then shows "edited")."""
    if not permissions.can_edit_comment(user, comment):
        raise PermissionDenied(_("You can edit only your own comments."))
    if not can_still_edit(session, comment):
        raise PermissionDenied(
            _(
                "Comments can be edited for %(n)d minutes after posting.",
                n=int(get_setting(session, "comment_edit_window_minutes")),
            ),
            code="edit_window_closed",
        )
    if stance is not None and stance not in STANCES:
        raise ValidationError(_("Choose for, neutral or against."), field="stance")
    text = _clean_body(body)
    _refuse_retained_thread(session, proposal_id=comment.proposal_id, case_id=comment.case_id)
    comment.body = text
    if stance is not None:
        comment.stance = stance
    comment.edited_at = utcnow()
    if prohibited_words_in(session, text) and comment.moderation == VISIBLE:
        comment.moderation, comment.moderation_reason = HELD, "prohibited_words"
    session.flush()
    return comment


def delete_comment(session: Session, *, comment: Comment, user: User) -> Comment:
    """Soft delete by its author: the text goes, the place in the thread (and replies) stays."""
    if not permissions.can_delete_comment(user, comment):
        raise PermissionDenied(_("You can delete only your own comments."))
    comment.deleted_at = utcnow()
    session.flush()
    return comment


def like_comment(session: Session, *, comment: Comment, user: User) -> bool:
    """Like once (UNIQUE); True if the like is new. The counter moves with the row, atomically."""
    if not getattr(user, "is_authenticated", False):
        raise PermissionDenied(_("Please sign in first."), code="sign_in_required")
    if comment.deleted_at is not None or comment.moderation != VISIBLE:
        raise InvalidTransition(_("This comment cannot be liked."))
    try:
        with session.begin_nested():
            session.add(CommentLike(comment_id=comment.id, user_id=user.id, created_at=utcnow()))
            session.flush()
    except IntegrityError:
        return False
    session.execute(
        update(Comment)
        .where(Comment.id == comment.id)
        .values(like_count=Comment.like_count + 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(comment, ["like_count"])
    return True


def unlike_comment(session: Session, *, comment: Comment, user: User) -> bool:
    deleted = session.execute(
        delete(CommentLike)
        .where(CommentLike.comment_id == comment.id, CommentLike.user_id == user.id)
        .execution_options(synchronize_session=False)
    )
    if deleted.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.execute(
        update(Comment)
        .where(Comment.id == comment.id)
        .values(like_count=Comment.like_count - 1)
        .execution_options(synchronize_session=False)
    )
    session.refresh(comment, ["like_count"])
    return True


def get_comment(session: Session, comment_id: int) -> Comment:
    comment = session.get(Comment, comment_id) if 0 < comment_id < 2**31 else None
    if comment is None:
        raise NotFound(_("No such comment."))
    return comment


# --- reading a thread -----------------------------------------------------------------------


@dataclass
class ThreadNode:
    comment: Comment
    shown: bool  # False: deleted or hidden → the placeholder is shown instead of the text
    placeholder: str | None
    liked: bool
    editable: bool
    replies: list[ThreadNode] = field(default_factory=list)


@dataclass
class Thread:
    nodes: list[ThreadNode]
    total: int  # top-level comments
    page: int
    per_page: int
    sort: str
    closed: str | None = None  # why nobody can comment, reply or edit any more (None: open)


def thread_closed(
    session: Session, *, proposal_id: int | None = None, case_id: int | None = None
) -> str | None:
    """Why the thread takes no more comments or replies (what posting enforces; edits are refused
    once retention has processed it), or ``None`` while it is open: a withdrawn or archived
    proposal, or a thread that retention has processed."""
    if proposal_id is not None:
        status = session.scalar(select(Proposal.status).where(Proposal.id == proposal_id))
        if status in ("withdrawn", "archived") or thread_retained(session, proposal_id):
            return _("This proposal is closed for comments.")
    elif case_id is not None and case_thread_retained(session, case_id):
        return _("This case is closed for comments.")
    return None


def _placeholder(comment: Comment, viewer: User | None) -> str | None:
    if comment.deleted_at is not None:
        return _("Comment deleted by its author.")
    if comment.moderation == HIDDEN:
        return _("Hidden by moderator.")
    if comment.moderation == HELD:
        is_author = viewer is not None and getattr(viewer, "id", None) == comment.author_id
        if is_author or permissions.can_moderate(viewer):
            return None
        return _("Waiting for a moderator's review.")
    return None


def load_thread(
    session: Session,
    *,
    proposal_id: int | None = None,
    case_id: int | None = None,
    viewer: User | None = None,
    sort: str = "newest",
    page: int = 1,
    per_page: int = THREAD_PAGE,
) -> Thread:
    """The thread as a tree; top-level comments are paginated and sorted (replies oldest first)."""
    if sort not in SORTS:
        sort = "newest"
    page, per_page = max(1, page), min(max(1, per_page), 100)
    target = (
        Comment.proposal_id == proposal_id
        if proposal_id is not None
        else Comment.case_id == case_id
    )
    rows: Sequence[Comment] = session.scalars(
        select(Comment).where(target).options(selectinload(Comment.author)).order_by(Comment.id)
    ).all()
    viewer_id = getattr(viewer, "id", None) if getattr(viewer, "is_authenticated", False) else None
    liked: set[int] = set()
    if viewer_id is not None and rows:
        liked = set(
            session.scalars(
                select(CommentLike.comment_id).where(
                    CommentLike.user_id == viewer_id,
                    CommentLike.comment_id.in_([c.id for c in rows]),
                )
            )
        )
    now = utcnow()
    window = edit_window(session)
    closed = thread_closed(session, proposal_id=proposal_id, case_id=case_id)
    nodes = {}
    for c in rows:
        placeholder = _placeholder(c, viewer)
        nodes[c.id] = ThreadNode(
            comment=c,
            shown=placeholder is None,
            placeholder=placeholder,
            liked=c.id in liked,
            editable=closed is None
            and viewer_id == c.author_id
            and c.deleted_at is None
            and now - c.created_at <= window,
        )
    top: list[ThreadNode] = []
    for c in rows:
        node = nodes[c.id]
        if c.parent_id is not None and c.parent_id in nodes:
            nodes[c.parent_id].replies.append(node)
        else:
            top.append(node)
    if sort == "liked":
        top.sort(key=lambda n: (n.comment.like_count, n.comment.id), reverse=True)
    else:
        top.sort(key=lambda n: n.comment.id, reverse=True)
    start = (page - 1) * per_page
    return Thread(
        nodes=top[start : start + per_page],
        total=len(top),
        page=page,
        per_page=per_page,
        sort=sort,
        closed=closed,
    )


def comment_resource(node: ThreadNode) -> dict[str, object]:
    """Public JSON of one comment and its replies (API and bot)."""
    c = node.comment
    return {
        "id": c.id,
        "parent_id": c.parent_id,
        "depth": c.depth,
        "stance": c.stance,
        "author": c.author.display_name if node.shown else None,
        "body": c.body if node.shown else None,
        "placeholder": node.placeholder,
        "likes": c.like_count,
        "created_at": c.created_at.isoformat(),
        "edited": c.edited_at is not None,
        "replies": [comment_resource(r) for r in node.replies],
    }
