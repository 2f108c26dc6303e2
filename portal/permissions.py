"""Who may see and do what: pure predicates over a user and a case, used by views and services.

Predicates take the signed-in user (or ``None``/an anonymous user) and never touch the session
themselves; relationships they read (``case.tasks``) are loaded by the ORM as needed.
Each feature appends its own section below the core one.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from portal.accounts.models import STAFF_ROLES, Role

if TYPE_CHECKING:
    from portal.accounts.models import User
    from portal.cases.models import Case

#: Groups whose cases never appear on public pages (reports about officials' conduct).
NON_PUBLIC_GROUPS = frozenset({"G15"})

#: Task states in which a department still has a share of the case.
ACTIVE_TASK_STATES = frozenset({"open", "accepted", "done"})


# --- core: roles ----------------------------------------------------------------------------


def _signed_in(user: Any) -> bool:
    return (
        user is not None
        and bool(getattr(user, "is_authenticated", False))
        and bool(getattr(user, "is_active", False))
    )


def has_role(user: User | None, *roles: Role) -> bool:
    return _signed_in(user) and user is not None and user.role in {str(r) for r in roles}


def is_staff(user: User | None) -> bool:
    """Department staff (clerk or head) attached to a department."""
    return has_role(user, *STAFF_ROLES) and user is not None and user.department_id is not None


def is_head(user: User | None) -> bool:
    return has_role(user, Role.HEAD) and user is not None and user.department_id is not None


def is_coordinator(user: User | None) -> bool:
    return has_role(user, Role.COORDINATOR)


def is_moderator(user: User | None) -> bool:
    return has_role(user, Role.MODERATOR, Role.ADMIN)


def is_admin(user: User | None) -> bool:
    return has_role(user, Role.ADMIN)


# --- core: cases ----------------------------------------------------------------------------


def is_public_case(case: Case) -> bool:
    """Whether the case may appear on public pages (masked text only, as every public case)."""
    category = case.category
    return category is None or category.group.code not in NON_PUBLIC_GROUPS


def is_submitter(user: User | None, case: Case) -> bool:
    return _signed_in(user) and user is not None and case.submitter_id == user.id


def department_has_task(department_id: int | None, case: Case) -> bool:
    """Whether the department has (or had, up to completion) a share of the case."""
    if department_id is None:
        return False
    if case.lead_department_id == department_id:
        return True
    return any(
        t.department_id == department_id and t.status in ACTIVE_TASK_STATES for t in case.tasks
    )


def can_view_case_internal(user: User | None, case: Case) -> bool:
    """Raw text, exact location, internal notes: staff of a department with a task on the case,
    coordinators and admins."""
    if is_coordinator(user) or is_admin(user):
        return True
    return is_staff(user) and user is not None and department_has_task(user.department_id, case)


def can_view_case(user: User | None, case: Case) -> bool:
    """The public page of a case: everyone for public cases; otherwise its submitter and those
    who may see it internally (others get a 404, never a 403)."""
    return is_public_case(case) or is_submitter(user, case) or can_view_case_internal(user, case)


def can_view_contact(user: User | None, case: Case) -> bool:
    """The resident's name and phone: need-to-know only — coordinators and staff of a
    department currently handling the case (not admins, not moderators)."""
    if is_coordinator(user):
        return True
    if not is_staff(user) or user is None:
        return False
    return case.lead_department_id == user.department_id or any(
        t.department_id == user.department_id and t.status in {"open", "accepted"}
        for t in case.tasks
    )


def can_follow_case(user: User | None, case: Case) -> bool:
    """Press "me too" / follow: any signed-in person who can see the case."""
    return _signed_in(user) and can_view_case(user, case)


# --- workbench: triage, department work, transfers, figures, verdicts -----------------------
# Role rules for workbench actions. Status rules live in portal.workbench.services (they raise
# InvalidTransition); these only answer "may this person, in this role, do it to this case".

#: Actions of the lead department's staff (clerks and the head).
LEAD_DEPARTMENT_ACTIONS = frozenset(
    {"accept", "contact", "reply", "note", "request_co", "return", "transfer", "resolve", "attach"}
)
#: Actions of the dispatch centre (coordinators; administrators may stand in for them).
DISPATCH_CENTRE_ACTIONS = frozenset({"dispatch", "close_invalid", "transfer", "note"})
#: Actions of a co-handling department on its share of the case.
CO_DEPARTMENT_ACTIONS = frozenset({"co_done", "note"})
WORKBENCH_ACTIONS = LEAD_DEPARTMENT_ACTIONS | DISPATCH_CENTRE_ACTIONS | CO_DEPARTMENT_ACTIONS


def is_dispatch_centre(user: User | None) -> bool:
    """Coordinators run triage and approve transfers; administrators may stand in for them."""
    return has_role(user, Role.COORDINATOR, Role.ADMIN)


def leads_case(user: User | None, case: Case) -> bool:
    """The user is a clerk or the head of the case's lead department (主办单位)."""
    return (
        is_staff(user)
        and user is not None
        and case.lead_department_id is not None
        and user.department_id == case.lead_department_id
    )


def co_handles_case(user: User | None, case: Case) -> bool:
    """The user's department has an unfinished co-handling task (协办) on the case."""
    return (
        is_staff(user)
        and user is not None
        and any(
            t.role == "co"
            and t.department_id == user.department_id
            and t.status in {"open", "accepted"}
            for t in case.tasks
        )
    )


def can_use_workbench(user: User | None) -> bool:
    """Department staff see their department's queue."""
    return is_staff(user)


def can_triage(user: User | None) -> bool:
    return is_dispatch_centre(user)


def can_decide_transfer(user: User | None) -> bool:
    return is_dispatch_centre(user)


def can_take_workbench_action(user: User | None, case: Case, action: str) -> bool:
    """Role rule for one workbench action on one case (see the action sets above)."""
    if action not in WORKBENCH_ACTIONS:
        return False
    if action in DISPATCH_CENTRE_ACTIONS and is_dispatch_centre(user):
        return True
    if action in LEAD_DEPARTMENT_ACTIONS and leads_case(user, case):
        return True
    return action in CO_DEPARTMENT_ACTIONS and co_handles_case(user, case)


def can_see_department_figures(user: User | None, department_id: int | None) -> bool:
    """A department head sees their own department's figures; the dispatch centre sees all."""
    if is_dispatch_centre(user):
        return department_id is not None
    return is_head(user) and user is not None and user.department_id == department_id


def can_give_verdict(user: User | None, case: Case) -> bool:
    """Only the resident who submitted the case rates its resolution (回访)."""
    return is_submitter(user, case)


# --- admin and audit: low-code administration, the audit log ----------------------------------


def can_administer(user: User | None) -> bool:
    """Edit the jurisdiction, settings, templates and users' roles, and search and export the
    audit log (the /admin pages). Nobody may edit the audit log, administrators included."""
    return is_admin(user)

# --- deliberation: proposals, threads, moderation --------------------------------------------
# Participation levels and blocks live in portal.deliberation.participation (they need the
# settings); these are the role and ownership rules.


def is_proposal_author(user: User | None, proposal: Any) -> bool:
    return _signed_in(user) and user is not None and proposal.author_id == user.id


def can_view_proposal_content(user: User | None, proposal: Any) -> bool:
    """Title and text: everyone while visible; once held or hidden by moderation, its author and
    moderators only (others see "hidden by moderator" in their place)."""
    return proposal.moderation == "visible" or is_moderator(user) or is_proposal_author(user, proposal)


def can_answer_proposal(user: User | None, proposal: Any) -> bool:
    """The official answer and implementation updates: staff of the department leading the
    proposal's linked case (the same department that has it in its workbench queue)."""
    case = proposal.case
    return case is not None and leads_case(user, case)


def can_moderate(user: User | None) -> bool:
    return is_moderator(user)


def can_edit_comment(user: User | None, comment: Any) -> bool:
    """Its author only (the edit window is checked by the service); never once deleted."""
    return (
        _signed_in(user)
        and user is not None
        and comment.author_id == user.id
        and comment.deleted_at is None
    )


def can_delete_comment(user: User | None, comment: Any) -> bool:
    return can_edit_comment(user, comment)


def can_issue_verification_codes(user: User | None) -> bool:
    """Issue, list and revoke the community offices' one-time verification codes: administrators
    only. No role runs a community office (coordinators are the 12345 dispatch centre), so an
    administrator issues and prints the codes the office hands out."""
    return is_admin(user)


def can_read_audit_log(user: User | None) -> bool:
    """Search, export and check the audit log. Nobody may edit it, administrators included."""
    return is_admin(user)


# --- api: keys and channels -----------------------------------------------------------------


def can_manage_api_keys(user: User | None) -> bool:
    """Create, list and revoke API keys (the bot's, a city app's): administrators only."""
    return is_admin(user)


# --- privacy: need-to-know reveals ------------------------------------------------------------


def can_reveal_personal_data(user: User | None, case: Case) -> bool:
    """Contact details, raw text and exact address, behind an audited reveal with a reason:
    staff of a department with a share of the case (lead or co task), coordinators and admins."""
    if is_coordinator(user) or is_admin(user):
        return True
    return is_staff(user) and user is not None and department_has_task(user.department_id, case)


# --- hotspots: early-warning alerts -------------------------------------------------------------


def can_see_hotspots(user: User | None) -> bool:
    """Hotspot alerts (预警) and acting on them: coordinators and admins."""
    return is_coordinator(user) or is_admin(user)
