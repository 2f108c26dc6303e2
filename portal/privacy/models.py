"""Privacy records: which retention steps were applied to which case or proposal; keyed-hash
maintenance.

The flush listeners keep the lookup hashes (``CaseContact.phone_hash``,
``ChannelIdentity.external_id_hash``) in step with the encrypted values they index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column

from portal.accounts.models import ChannelIdentity
from portal.cases.models import CaseContact
from portal.db import Base, UTCDateTime, utcnow
from portal.privacy.crypto import identity_lookup_hash, phone_lookup_hash


class RetentionMark(Base):
    """One retention step (a data class) applied to one case, written in the same transaction
    as the anonymisation itself: a case has the mark if and only if the step is complete."""

    __tablename__ = "retention_marks"
    __table_args__ = (UniqueConstraint("case_id", "data_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: contacts | raw_text | coordinates | comments (the case's thread masked and closed)
    data_class: Mapped[str] = mapped_column(String(20))
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_id: Mapped[int | None] = mapped_column(Integer)  # the audit entry of the run that did it


class ProposalRetentionMark(Base):
    """One retention step (``raw_text`` or ``coordinates``) applied to one finished proposal and
    its comments, written in the same transaction as the anonymisation itself (as for cases)."""

    __tablename__ = "proposal_retention_marks"
    __table_args__ = (UniqueConstraint("proposal_id", "data_class"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    data_class: Mapped[str] = mapped_column(String(20))  # raw_text | coordinates
    applied_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    run_id: Mapped[int | None] = mapped_column(Integer)  # the audit entry of the run that did it


@event.listens_for(CaseContact, "before_insert")
@event.listens_for(CaseContact, "before_update")
def _hash_contact_phone(_mapper: Any, _connection: Any, contact: CaseContact) -> None:
    contact.phone_hash = phone_lookup_hash(contact.phone)


@event.listens_for(ChannelIdentity, "before_insert")
@event.listens_for(ChannelIdentity, "before_update")
def _hash_external_id(_mapper: Any, _connection: Any, identity: ChannelIdentity) -> None:
    identity.external_id_hash = identity_lookup_hash(identity.channel, identity.external_id)
