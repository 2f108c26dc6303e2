"""How the bot talks to the portal: the ``PortalGateway`` protocol and its HTTP implementation.

Handlers depend on the protocol only. ``HttpPortalGateway`` calls ``/api/v1`` with the bot's
``channel:telegram`` key, acting for one resident at a time (``X-Shuzhi-Resident``), retries
connection errors and 5xx answers with backoff, and maps the portal's ``{"code", "message"}``
errors to the exceptions below. ``PortalGateway`` is made of one protocol per concern: cases,
notifications and proposals (deliberation).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote

import httpx

from bot.i18n import accept_language

#: A case as ``/api/v1`` shows it (public fields only; see the API contract).
CaseView = dict[str, Any]


class PortalError(Exception):
    """The portal refused the call; ``message`` is meant for the resident."""

    def __init__(
        self, message: str, *, code: str = "error", status: int = 0, field: str | None = None
    ):
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.field = field


class PortalUnavailable(PortalError):
    """The portal could not be reached or failed (network, timeout, 5xx, 429): try again later."""

    def __init__(self, message: str, *, status: int = 0, retry_after: float | None = None):
        super().__init__(message, code="unavailable", status=status)
        self.retry_after = retry_after


class CaseNotFound(PortalError):
    """404: no such case, or one this resident may not see."""


class InvalidRequest(PortalError):
    """400/413/415/422: the input was refused; ``field`` says which part."""


class ConflictError(PortalError):
    """409: e.g. a verdict given twice, or the same submission still in progress."""


class AccessDenied(PortalError):
    """401, or 403 for the key's scope: the bot's API key is wrong, revoked or lacks a scope
    (an operator problem). Other 403s (a resident may not do that) are InvalidRequest."""


@dataclass(frozen=True)
class Resident:
    """The Telegram user the bot acts for."""

    telegram_id: int
    name: str = ""
    locale: str = "zh_Hans_CN"

    @property
    def reference(self) -> str:
        return f"telegram:{self.telegram_id}"


@dataclass(frozen=True)
class Photo:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class CaseSubmission:
    """What the resident confirmed in the chat."""

    text: str
    kind: str | None = None
    category_code: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    photos: Sequence[Photo] = ()
    contact_name: str | None = None
    contact_phone: str | None = None
    consent: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"text": self.text, "anonymous": True}
        for name in (
            "kind",
            "category_code",
            "address",
            "lat",
            "lon",
            "contact_name",
            "contact_phone",
        ):
            value = getattr(self, name)
            if value is not None:
                body[name] = value
        if self.contact_phone is not None:
            body["consent"] = self.consent
        if self.photos:
            body["photos"] = [
                {
                    "filename": p.filename,
                    "content_type": p.content_type,
                    "data_base64": base64.b64encode(p.data).decode("ascii"),
                }
                for p in self.photos
            ]
        return body


@dataclass(frozen=True)
class CasePage:
    items: list[CaseView]
    page: int
    pages: int
    total: int


@dataclass(frozen=True)
class PortalNotification:
    id: int
    telegram_id: int
    kind: str
    tracking_number: str | None
    status: str | None
    event: str | None
    note: str | None
    url: str | None

    @classmethod
    def from_json(cls, item: dict[str, Any]) -> PortalNotification:
        recipient = str(item.get("recipient") or "")
        _, _, external = recipient.partition(":")
        return cls(
            id=int(item["id"]),
            telegram_id=int(external) if external.isdigit() else 0,
            kind=str(item.get("kind") or "status_changed"),
            tracking_number=item.get("tracking_number"),
            status=item.get("status"),
            event=item.get("event"),
            note=item.get("note"),
            url=item.get("url"),
        )


@dataclass(frozen=True)
class NotificationBatch:
    items: list[PortalNotification] = field(default_factory=list)
    next_cursor: str = "0"


class CaseGateway(Protocol):
    """Cases: the catalogue, preview, submit, follow, look-up, the resident's list and verdicts."""

    async def catalogue(self, *, locale: str) -> list[dict[str, Any]]: ...

    async def preview(
        self, resident: Resident, *, text: str, lat: float | None = None, lon: float | None = None
    ) -> dict[str, Any]: ...

    async def submit_case(
        self, resident: Resident, submission: CaseSubmission, *, idempotency_key: str
    ) -> CaseView: ...

    async def follow_case(self, resident: Resident, tracking_number: str) -> CaseView: ...

    async def get_case(self, resident: Resident, tracking_number: str) -> CaseView: ...

    async def my_cases(
        self, resident: Resident, *, page: int = 1, per_page: int = 5
    ) -> CasePage: ...

    async def post_verdict(
        self, resident: Resident, tracking_number: str, *, resolved: bool, satisfaction: int
    ) -> CaseView: ...

    async def link_account(self, resident: Resident, code: str) -> dict[str, Any]: ...


class NotificationGateway(Protocol):
    """The notifications feed for Telegram residents, acknowledged after delivery."""

    async def notifications(self, *, after: str, limit: int = 50) -> NotificationBatch: ...

    async def ack_notifications(self, ids: Sequence[int]) -> int: ...


@dataclass(frozen=True)
class ProposalPage:
    items: list[dict[str, Any]]
    page: int
    pages: int
    total: int


class ProposalGateway(Protocol):
    """Deliberation: proposals near a place, support, comments, and the resident's verification."""

    async def proposals(
        self,
        resident: Resident,
        *,
        lat: float | None = None,
        lon: float | None = None,
        page: int = 1,
        per_page: int = 5,
    ) -> ProposalPage: ...

    async def support_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]: ...

    async def comment_on_proposal(
        self, resident: Resident, proposal_id: int, *, body: str, stance: str
    ) -> dict[str, Any]: ...

    async def verify_resident(self, resident: Resident, code: str) -> dict[str, Any]: ...

    async def confirm_phone(
        self, resident: Resident, *, phone_number: str, contact_user_id: int
    ) -> dict[str, Any]:
        """The resident shared their own contact card: record the number, level 1 (idempotent)."""
        ...

    async def get_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        """One proposal with its for/against overview, official answer and history."""
        ...

    async def follow_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]: ...


class PortalGateway(CaseGateway, NotificationGateway, ProposalGateway, Protocol):
    """Everything the bot asks of the portal."""


Sleep = Callable[[float], Awaitable[None]]


class HttpPortalGateway:
    """``PortalGateway`` over HTTP with ``httpx.AsyncClient``.

    Args:
        base_url: the portal, e.g. ``https://shuzhi.example.org``.
        api_key: a key with the ``channel:telegram`` scope.
        attempts: tries per call for connection errors and 5xx answers (backoff 0.5 s, 1 s, 2 s…).
        transport: an httpx transport (tests); ``sleep`` replaces ``asyncio.sleep`` in backoff.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 15.0,
        attempts: int = 3,
        backoff: float = 0.5,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {api_key}", "User-Agent": "shuzhi-bot"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )
        self._attempts = max(1, attempts)
        self._backoff = backoff
        self._sleep = sleep

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- transport --------------------------------------------------------------------------

    @staticmethod
    def _resident_headers(resident: Resident | None) -> dict[str, str]:
        if resident is None:
            return {}
        headers = {
            "X-Shuzhi-Resident": resident.reference,
            "Accept-Language": accept_language(resident.locale),
        }
        if resident.name:
            headers["X-Shuzhi-Resident-Name"] = quote(resident.name[:80], safe="")
        return headers

    async def _call(
        self,
        method: str,
        path: str,
        *,
        resident: Resident | None = None,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        all_headers = self._resident_headers(resident)
        all_headers.update(headers or {})
        last: PortalUnavailable | None = None
        for attempt in range(self._attempts):
            if attempt:
                await self._sleep(self._backoff * 2 ** (attempt - 1))
            try:
                response = await self._client.request(
                    method, path, json=json, params=params, headers=all_headers
                )
            except httpx.TransportError as error:
                last = PortalUnavailable(f"portal unreachable: {type(error).__name__}")
                continue
            if response.status_code >= 500:
                last = PortalUnavailable(
                    f"portal error {response.status_code}", status=response.status_code
                )
                continue
            if response.status_code == 429:
                raise PortalUnavailable(
                    "portal rate limit", status=429, retry_after=_retry_after(response)
                )
            if response.status_code >= 400:
                raise _error_from(response)
            try:
                return response.json()
            except ValueError:
                raise PortalUnavailable("portal answered with something that is not JSON") from None
        assert last is not None
        raise last

    # --- cases ------------------------------------------------------------------------------

    async def catalogue(self, *, locale: str) -> list[dict[str, Any]]:
        data = await self._call(
            "GET", "/catalogue", headers={"Accept-Language": accept_language(locale)}
        )
        return list(data.get("groups") or [])

    async def preview(
        self, resident: Resident, *, text: str, lat: float | None = None, lon: float | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"text": text}
        if lat is not None and lon is not None:
            body.update(lat=lat, lon=lon)
        return dict(await self._call("POST", "/preview", resident=resident, json=body))

    async def submit_case(
        self, resident: Resident, submission: CaseSubmission, *, idempotency_key: str
    ) -> CaseView:
        return dict(
            await self._call(
                "POST",
                "/cases",
                resident=resident,
                json=submission.to_json(),
                headers={"Idempotency-Key": idempotency_key},
            )
        )

    async def follow_case(self, resident: Resident, tracking_number: str) -> CaseView:
        return dict(
            await self._call(
                "POST", f"/cases/{_segment(tracking_number)}/follow", resident=resident
            )
        )

    async def get_case(self, resident: Resident, tracking_number: str) -> CaseView:
        return dict(
            await self._call("GET", f"/cases/{_segment(tracking_number)}", resident=resident)
        )

    async def my_cases(self, resident: Resident, *, page: int = 1, per_page: int = 5) -> CasePage:
        data = await self._call(
            "GET", "/me/cases", resident=resident, params={"page": page, "per_page": per_page}
        )
        return CasePage(
            items=list(data.get("items") or []),
            page=int(data.get("page") or page),
            pages=int(data.get("pages") or 0),
            total=int(data.get("total") or 0),
        )

    async def post_verdict(
        self, resident: Resident, tracking_number: str, *, resolved: bool, satisfaction: int
    ) -> CaseView:
        return dict(
            await self._call(
                "POST",
                f"/cases/{_segment(tracking_number)}/verdict",
                resident=resident,
                json={"resolved": resolved, "satisfaction": satisfaction},
            )
        )

    async def link_account(self, resident: Resident, code: str) -> dict[str, Any]:
        return dict(await self._call("POST", "/me/link", resident=resident, json={"code": code}))

    # --- proposals --------------------------------------------------------------------------

    async def proposals(
        self,
        resident: Resident,
        *,
        lat: float | None = None,
        lon: float | None = None,
        page: int = 1,
        per_page: int = 5,
    ) -> ProposalPage:
        params: dict[str, Any] = {"page": page, "per_page": per_page}
        if lat is not None and lon is not None:
            params.update(lat=lat, lon=lon)
        data = await self._call("GET", "/proposals", resident=resident, params=params)
        return ProposalPage(
            items=list(data.get("items") or []),
            page=int(data.get("page") or page),
            pages=int(data.get("pages") or 0),
            total=int(data.get("total") or 0),
        )

    async def support_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        return dict(
            await self._call("POST", f"/proposals/{int(proposal_id)}/support", resident=resident)
        )

    async def comment_on_proposal(
        self, resident: Resident, proposal_id: int, *, body: str, stance: str
    ) -> dict[str, Any]:
        return dict(
            await self._call(
                "POST",
                f"/proposals/{int(proposal_id)}/comments",
                resident=resident,
                json={"body": body, "stance": stance},
            )
        )

    async def verify_resident(self, resident: Resident, code: str) -> dict[str, Any]:
        return dict(
            await self._call("POST", "/me/verification", resident=resident, json={"code": code})
        )

    async def confirm_phone(
        self, resident: Resident, *, phone_number: str, contact_user_id: int
    ) -> dict[str, Any]:
        return dict(
            await self._call(
                "POST",
                "/me/phone",
                resident=resident,
                json={"phone_number": phone_number, "contact_user_id": int(contact_user_id)},
            )
        )

    async def get_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        return dict(await self._call("GET", f"/proposals/{int(proposal_id)}", resident=resident))

    async def follow_proposal(self, resident: Resident, proposal_id: int) -> dict[str, Any]:
        return dict(
            await self._call("POST", f"/proposals/{int(proposal_id)}/follow", resident=resident)
        )

    # --- notifications ----------------------------------------------------------------------

    async def notifications(self, *, after: str, limit: int = 50) -> NotificationBatch:
        data = await self._call(
            "GET", "/notifications", params={"channel": "telegram", "after": after, "limit": limit}
        )
        return NotificationBatch(
            items=[PortalNotification.from_json(item) for item in data.get("items") or []],
            next_cursor=str(data.get("next_cursor") or after),
        )

    async def ack_notifications(self, ids: Sequence[int]) -> int:
        if not ids:
            return 0
        data = await self._call("POST", "/notifications/ack", json={"ids": list(ids)})
        return int(data.get("acked") or 0)


#: Refusals that mean the bot itself is set up wrongly (key, scope), not the resident's input.
_OPERATOR_CODES = {"unauthenticated", "insufficient_scope", "resident_required"}
#: The portal's error bodies carry no field; these codes say which part of a report was refused.
_FIELD_BY_CODE = {
    "outside_jurisdiction": "location",
    "empty_text": "text",
    "text_too_short": "text",
    "text_too_long": "text",
    "consent_required": "consent",
}


def _segment(tracking_number: str) -> str:
    return quote(tracking_number.strip()[:40], safe="")


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("Retry-After", "")))
    except ValueError:
        return None


def _error_from(response: httpx.Response) -> PortalError:
    try:
        body = response.json()
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    message = str(body.get("message") or f"portal answered {response.status_code}")
    code = str(body.get("code") or "error")
    field_name = body.get("field")
    if not isinstance(field_name, str):
        field_name = _FIELD_BY_CODE.get(code)
    status = response.status_code
    if status == 404:
        return CaseNotFound(message, code=code, status=status)
    if status == 409:
        return ConflictError(message, code=code, status=status)
    if status == 401 or code in _OPERATOR_CODES:
        return AccessDenied(message, code=code, status=status)
    if status == 403:  # e.g. "only the resident who reported this case can rate it"
        return InvalidRequest(message, code=code, status=status)
    return InvalidRequest(message, code=code, status=status, field=field_name)
