"""The two fakes the bot tests may use: Telegram's servers (a ``BaseRequest`` that records every
call and answers with valid Bot API JSON) and an in-memory portal implementing ``PortalGateway``.
"""

from __future__ import annotations

import itertools
import json
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from telegram.request import BaseRequest, RequestData

from bot.gateway import (
    CaseNotFound,
    CasePage,
    CaseSubmission,
    CaseView,
    ConflictError,
    InvalidRequest,
    NotificationBatch,
    PortalNotification,
    PortalUnavailable,
    ProposalPage,
    Resident,
)

BOT_USER = {"id": 999, "is_bot": True, "first_name": "Shuzhi", "username": "shuzhi_bot"}


@dataclass
class Call:
    """One Bot API call the bot made."""

    method: str
    params: dict[str, Any]

    @property
    def text(self) -> str:
        return str(self.params.get("text", ""))

    @property
    def buttons(self) -> list[tuple[str, str]]:
        """(label, callback_data or '') of the inline or reply keyboard sent with this call."""
        markup = self.params.get("reply_markup") or {}
        rows = markup.get("inline_keyboard") or markup.get("keyboard") or []
        return [(b["text"], b.get("callback_data", "")) for row in rows for b in row]

    @property
    def keyboard(self) -> dict[str, Any]:
        return self.params.get("reply_markup") or {}


class FakeTelegram(BaseRequest):
    """Telegram's Bot API at the transport seam. ``fail`` queues error answers per method."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.fail: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.files: dict[str, bytes] = {}
        self.downloads: list[str] = []
        self._message_ids = itertools.count(1000)

    @property
    def read_timeout(self) -> float | None:
        return 5.0

    async def initialize(self) -> None:
        return None

    async def shutdown(self) -> None:
        return None

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = None,
        write_timeout: Any = None,
        connect_timeout: Any = None,
        pool_timeout: Any = None,
    ) -> tuple[int, bytes]:
        url = unquote(url)
        if "/file/bot" in url:
            path = url.split("/file/bot", 1)[1].split("/", 1)[1]
            self.downloads.append(path)
            return 200, self.files[path]
        endpoint = url.rsplit("/", 1)[-1]
        params: dict[str, Any] = {}
        if request_data is not None:
            for key, value in request_data.json_parameters.items():
                try:
                    params[key] = json.loads(value)
                except ValueError:
                    params[key] = value
        self.calls.append(Call(endpoint, params))
        if self.fail.get(endpoint):
            error = self.fail[endpoint].pop(0)
            return int(error["error_code"]), json.dumps(error).encode()
        return 200, json.dumps({"ok": True, "result": self._result(endpoint, params)}).encode()

    def _result(self, endpoint: str, params: dict[str, Any]) -> Any:
        if endpoint == "getMe":
            return BOT_USER
        if endpoint == "getFile":
            file_id = params["file_id"]
            return {
                "file_id": file_id,
                "file_unique_id": f"u{file_id}",
                "file_size": 10,
                "file_path": f"photos/{file_id}.jpg",
            }
        if endpoint.startswith("send") or endpoint.startswith("edit"):
            return {
                "message_id": params.get("message_id") or next(self._message_ids),
                "date": int(time.time()),
                "chat": {"id": params.get("chat_id", 1), "type": "private"},
                "from": BOT_USER,
                "text": params.get("text", ""),
            }
        return True

    # --- transcript helpers ---------------------------------------------------------------------

    def sent(self, *methods: str) -> list[Call]:
        methods = methods or ("sendMessage", "editMessageText")
        return [c for c in self.calls if c.method in methods]

    def texts(self) -> list[str]:
        return [c.text for c in self.sent()]

    def answers(self) -> list[str]:
        return [
            str(c.params.get("text", "")) for c in self.calls if c.method == "answerCallbackQuery"
        ]


# --- the portal -----------------------------------------------------------------------------------

CATALOGUE = [
    {
        "code": "G01",
        "name": "城乡建设",
        "name_en": "Urban construction",
        "categories": [
            {"code": "G01-01", "name": "路灯照明", "name_en": "Street lights"},
            {"code": "G01-02", "name": "道路维修", "name_en": "Road repair"},
        ],
    },
    {
        "code": "G02",
        "name": "环境保护",
        "name_en": "Environment",
        "categories": [{"code": "G02-01", "name": "噪声污染", "name_en": "Noise"}],
    },
]
DEPARTMENT = {"code": "urban", "name": "区城管局", "name_en": "Urban Management Bureau"}


@dataclass
class FakePortal:
    """An in-memory portal behind the ``PortalGateway`` protocol.

    ``down`` makes every call fail as unreachable; ``similar`` is returned by previews;
    ``submissions`` keeps each accepted payload; idempotency keys replay the first answer.
    """

    down: bool = False
    similar: list[dict[str, Any]] = field(default_factory=list)
    cases: dict[str, CaseView] = field(default_factory=dict)
    submissions: list[tuple[Resident, CaseSubmission, str]] = field(default_factory=list)
    by_key: dict[str, str] = field(default_factory=dict)
    followers: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    verdicts: list[tuple[str, bool, int]] = field(default_factory=list)
    feed: list[dict[str, Any]] = field(default_factory=list)
    acked: set[int] = field(default_factory=set)
    ack_failures: int = 0
    proposal_list: list[dict[str, Any]] = field(default_factory=list)
    supporters: dict[int, set[int]] = field(default_factory=lambda: defaultdict(set))
    comments: list[tuple[int, int, str, str]] = field(default_factory=list)
    verified: set[int] = field(default_factory=set)
    #: telegram id → the phone number the portal recorded from the resident's own contact.
    phones: dict[int, str] = field(default_factory=dict)
    proposal_followers: set[tuple[int, int]] = field(default_factory=set)
    calls: list[str] = field(default_factory=list)
    _sequence: itertools.count = field(default_factory=lambda: itertools.count(1))

    def _enter(self, name: str) -> None:
        self.calls.append(name)
        if self.down:
            raise PortalUnavailable("portal unreachable: ConnectError")

    async def catalogue(self, *, locale: str) -> list[dict[str, Any]]:
        self._enter("catalogue")
        return json.loads(json.dumps(CATALOGUE))

    async def preview(
        self, resident: Resident, *, text: str, lat: float | None = None, lon: float | None = None
    ) -> dict[str, Any]:
        self._enter("preview")
        if len(text.strip()) < 5:
            raise InvalidRequest(
                "Please describe the problem in a few more words (at least 5 characters).",
                code="text_too_short",
                status=422,
                field="text",
            )
        light = "路灯" in text or "light" in text.lower()
        return {
            "kind": "proposal" if "建议" in text else "complaint",
            "group": {"code": "G01", "name": "城乡建设", "name_en": "Urban construction"},
            "category": {"code": "G01-01", "name": "路灯照明", "name_en": "Street lights"}
            if light
            else None,
            "department": DEPARTMENT if light else None,
            "urgency": "normal",
            "priority": "normal",
            "confidence": 0.9,
            "explanation": [],
            "masked_text": text,
            "similar": list(self.similar),
        }

    def add_case(self, *, submitter: int | None = None, **view: Any) -> CaseView:
        n = next(self._sequence)
        number = view.pop("tracking_number", f"LJ-2611-{n:04d}-{n % 10}")
        case: CaseView = {
            "tracking_number": number,
            "kind": "complaint",
            "status": "triage",
            "status_label": "Waiting for dispatch",
            "group": None,
            "category": None,
            "department": None,
            "title": "路灯坏了",
            "text": "路灯坏了",
            "created_at": "2026-11-29T10:00:00+00:00",
            "due_at": "2026-12-03T10:00:00+00:00",
            "overdue": False,
            "me_too_count": 0,
            "timeline": [],
            "latest_reply": None,
            "url": f"http://portal.test/cases/{number}",
        }
        case.update(view)
        self.cases[number] = case
        if submitter is not None:
            self.followers[number].add(submitter)
        return case

    async def submit_case(
        self, resident: Resident, submission: CaseSubmission, *, idempotency_key: str
    ) -> CaseView:
        self._enter("submit_case")
        if idempotency_key in self.by_key:
            return self.cases[self.by_key[idempotency_key]]
        if submission.lat is not None and not 27 < submission.lat < 29:
            raise InvalidRequest(
                "This place is outside our district. Please report it to the local hotline of the place where it is.",
                code="outside_jurisdiction",
                status=422,
                field="location",
            )
        if submission.contact_phone and not submission.consent:
            raise InvalidRequest("consent", code="consent_required", status=422, field="consent")
        case = self.add_case(
            submitter=resident.telegram_id,
            kind=submission.kind or "complaint",
            title=submission.text[:20],
            text=submission.text,
            category={"code": submission.category_code, "name": submission.category_code}
            if submission.category_code
            else None,
        )
        self.submissions.append((resident, submission, idempotency_key))
        self.by_key[idempotency_key] = case["tracking_number"]
        return case

    def _case(self, number: str) -> CaseView:
        case = self.cases.get(number.strip().upper())
        if case is None:
            raise CaseNotFound(
                f"No case has the tracking number {number}.", code="not_found", status=404
            )
        return case

    async def follow_case(self, resident: Resident, tracking_number: str) -> CaseView:
        self._enter("follow_case")
        case = self._case(tracking_number)
        if resident.telegram_id not in self.followers[case["tracking_number"]]:
            self.followers[case["tracking_number"]].add(resident.telegram_id)
            case["me_too_count"] += 1
        return case

    async def get_case(self, resident: Resident, tracking_number: str) -> CaseView:
        self._enter("get_case")
        return self._case(tracking_number)

    async def my_cases(self, resident: Resident, *, page: int = 1, per_page: int = 5) -> CasePage:
        self._enter("my_cases")
        mine = [
            c for n, c in reversed(self.cases.items()) if resident.telegram_id in self.followers[n]
        ]
        pages = (len(mine) + per_page - 1) // per_page
        return CasePage(mine[(page - 1) * per_page : page * per_page], page, pages, len(mine))

    async def post_verdict(
        self, resident: Resident, tracking_number: str, *, resolved: bool, satisfaction: int
    ) -> CaseView:
        self._enter("post_verdict")
        case = self._case(tracking_number)
        if any(v[0] == case["tracking_number"] for v in self.verdicts):
            raise ConflictError("You have already rated this case.", code="conflict", status=409)
        self.verdicts.append((case["tracking_number"], resolved, satisfaction))
        case["status"] = "closed" if resolved else "accepted"
        return case

    async def link_account(self, resident: Resident, code: str) -> dict[str, Any]:
        self._enter("link_account")
        if code != "ABCD2345":
            raise InvalidRequest(
                "This linking code is not valid.", code="invalid", status=422, field="code"
            )
        return {"linked": True, "display_name": "Wang"}

    def notify(
        self,
        telegram_id: int,
        kind: str,
        number: str,
        *,
        status: str | None = None,
        note: str | None = None,
        event: str | None = None,
    ) -> int:
        item_id = len(self.feed) + 1
        self.feed.append(
            {
                "id": item_id,
                "recipient": f"telegram:{telegram_id}",
                "kind": kind,
                "tracking_number": number,
                "status": status,
                "event": event,
                "note": note,
                "url": f"http://portal.test/cases/{number}",
            }
        )
        return item_id

    async def notifications(self, *, after: str, limit: int = 50) -> NotificationBatch:
        self._enter("notifications")
        items = [i for i in self.feed if i["id"] > int(after) and i["id"] not in self.acked][:limit]
        return NotificationBatch(
            [PortalNotification.from_json(i) for i in items],
            str(items[-1]["id"]) if items else after,
        )

    async def ack_notifications(self, ids: Sequence[int]) -> int:
        self._enter("ack_notifications")
        if self.ack_failures:
            self.ack_failures -= 1
            raise PortalUnavailable("portal error 503", status=503)
        self.acked.update(ids)
        return len(ids)

    # --- proposals ------------------------------------------------------------------------------

    def add_proposal(
        self, title: str, *, distance_m: float | None = None, threshold: int = 50
    ) -> dict[str, Any]:
        proposal = {
            "id": len(self.proposal_list) + 1,
            "title": title,
            "status": "open",
            "status_label": "Open for support",
            "support_count": 0,
            "support_threshold": threshold,
            "distance_m": distance_m,
            "url": f"/proposals/{len(self.proposal_list) + 1}",
        }
        self.proposal_list.append(proposal)
        return proposal

    async def proposals(
        self,
        resident: Resident,
        *,
        lat: float | None = None,
        lon: float | None = None,
        page: int = 1,
        per_page: int = 5,
    ) -> ProposalPage:
        self._enter("proposals")
        items = [
            dict(p, distance_m=p["distance_m"] if lat is not None else None)
            for p in self.proposal_list
        ]
        if lat is not None:
            items = sorted(
                (p for p in items if p["distance_m"] is not None), key=lambda p: p["distance_m"]
            )
        pages = (len(items) + per_page - 1) // per_page
        return ProposalPage(items[(page - 1) * per_page : page * per_page], page, pages, len(items))

    def _proposal(self, proposal_id: int) -> dict[str, Any]:
        for proposal in self.proposal_list:
            if proposal["id"] == proposal_id:
                return proposal
        raise CaseNotFound("No such proposal.", code="not_found", status=404)

    def _require_verified(self, resident: Resident) -> None:
        if resident.telegram_id not in self.verified:
            raise InvalidRequest(
                "This needs the level “verified resident”; your account is “registered”. Enter the code "
                "from your community office on the verification page.",
                code="verification_required",
                status=403,
            )

    async def support_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        self._enter("support_proposal")
        proposal = self._proposal(proposal_id)
        self._require_verified(resident)
        self.supporters[proposal_id].add(resident.telegram_id)
        proposal["support_count"] = len(self.supporters[proposal_id])
        return dict(proposal)

    async def comment_on_proposal(
        self, resident: Resident, proposal_id: int, *, body: str, stance: str
    ) -> dict[str, Any]:
        self._enter("comment_on_proposal")
        self._proposal(proposal_id)
        self._require_verified(resident)
        self.comments.append((proposal_id, resident.telegram_id, stance, body))
        return {
            "id": len(self.comments),
            "body": body,
            "stance": stance,
            "held_for_review": "http" in body,
        }

    async def get_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        self._enter("get_proposal")
        proposal = self._proposal(proposal_id)
        stances = [s for pid, _r, s, _b in self.comments if pid == proposal_id]
        return dict(
            proposal,
            body=proposal.get("body", "建议内容"),
            overview={
                "counts": {s: stances.count(s) for s in ("for", "neutral", "against")},
                "terms": proposal.get("terms", {"for": [], "against": []}),
            },
            answer=proposal.get("answer"),
            following=(proposal_id, resident.telegram_id) in self.proposal_followers,
            supported=resident.telegram_id in self.supporters[proposal_id],
        )

    async def follow_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        self._enter("follow_proposal")
        proposal = self._proposal(proposal_id)
        self.proposal_followers.add((proposal_id, resident.telegram_id))
        return dict(proposal, following=True)

    async def verify_resident(self, resident: Resident, code: str) -> dict[str, Any]:
        self._enter("verify_resident")
        if code != "QS-1234":
            raise InvalidRequest(
                "This code is not valid or has been used.", code="invalid", status=422, field="code"
            )
        self.verified.add(resident.telegram_id)
        return {"verification_level": 2, "label": "verified resident"}

    async def confirm_phone(
        self, resident: Resident, *, phone_number: str, contact_user_id: int
    ) -> dict[str, Any]:
        """Like the portal: only the resident's own card counts; a repeat changes nothing."""
        self._enter("confirm_phone")
        if contact_user_id != resident.telegram_id:
            raise InvalidRequest(
                "This is not your own contact.", code="not_own_contact", status=422
            )
        changed = self.phones.get(resident.telegram_id) != phone_number
        self.phones[resident.telegram_id] = phone_number
        if resident.telegram_id in self.verified:
            return {"verification_level": 2, "label": "verified resident", "changed": changed}
        return {"verification_level": 1, "label": "phone confirmed", "changed": changed}
