"""Encryption at rest of sensitive columns: the key ring, ``EncryptedText`` and keyed hashes.

Ciphertext layout (stored as ASCII text so one column type serves SQLite and PostgreSQL)::

    enc:v1:<key id>:<base64url(12-byte nonce + AES-256-GCM ciphertext and tag)>

The additional authenticated data is ``"<table>.<column>|v1|<key id>"``: a ciphertext copied into
another column, or relabelled with another key id, fails authentication instead of decrypting.

Lookup hashes (HMAC-SHA256, hex) are stored as ``<hash key id>:<hex>``; a bare 64-character hex
value belongs to the legacy hash key ``h1`` (the single ``SHUZHI_DATA_HASH_KEY`` of old), which
therefore keeps writing bare values: workers of an older release find what newer ones wrote.

Keys never live in the database. They come from ``SHUZHI_DATA_KEYS`` (JSON ``{"kid": "base64
32-byte key"}``), ``SHUZHI_DATA_KEY_ACTIVE``, ``SHUZHI_DATA_HASH_KEYS`` (JSON ``{"h2": "base64
32+ bytes", "h1": …}``) and ``SHUZHI_DATA_HASH_KEY_ACTIVE`` (``SHUZHI_DATA_HASH_KEY``, if set, is
the hash key ``h1``); without them (development) a key file ``<instance>/keys.json`` is generated
once with 0600 permissions. Rotation: add a key and make it active (``keys rotate [--hash]``),
rewrite rows (``keys reencrypt`` / ``keys rehash``), then retire the old key (``keys retire
[--hash] KID``) once no row uses it. Until then every key in the ring stays readable, and lookups
match a hash made under any hash key of the ring.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import InitVar, dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import Text, TypeDecorator

PREFIX = "enc:v1:"
VERSION = "v1"
KEY_BYTES = 32
NONCE_BYTES = 12
KID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")
KEY_FILE_NAME = "keys.json"
#: The id of the single lookup hash key of old (``SHUZHI_DATA_HASH_KEY``, a key file's
#: ``hash_key``); hashes made under it are stored bare (64 hex characters, no key id).
LEGACY_HASH_KID = "h1"
HASH_HEX_CHARS = 64
MIN_HASH_KEY_BYTES = 32


class KeyRingError(RuntimeError):
    """The key ring is missing, malformed or lacks a key a ciphertext needs."""


class DecryptionError(KeyRingError):
    """A stored ciphertext failed authentication (tampered, moved to another column, wrong key)."""


def _b64decode_key(kid: str, value: str) -> bytes:
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError(f"data key {kid!r} is not valid base64") from exc
    if len(key) != KEY_BYTES:
        raise KeyRingError(f"data key {kid!r} must be {KEY_BYTES} bytes (AES-256)")
    return key


def new_key() -> str:
    """A fresh random 256-bit key, base64-encoded as the key ring stores it."""
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def new_kid(existing: Mapping[str, Any], prefix: str = "k") -> str:
    """A key id not yet in ``existing``: ``k<n>`` (``h<n>`` for hash keys) counting up."""
    n = len(existing) + 1
    while f"{prefix}{n}" in existing:
        n += 1
    return f"{prefix}{n}"


@dataclass
class KeyRing:
    """Data keys by id (one active for new writes) and the separate HMAC keys for lookups (one
    active for new hashes; lookups try them all).

    ``hash_key`` is the single lookup key of old: it joins ``hash_keys`` as ``h1``.
    """

    keys: dict[str, bytes]
    active: str
    hash_key: InitVar[bytes | None] = None
    source: str = "settings"  # "settings" (env / settings.json) or the path of a key file
    hash_keys: dict[str, bytes] = field(default_factory=dict)
    hash_active: str = ""
    #: Where ``h1`` came from when configured as ``SHUZHI_DATA_HASH_KEY`` / a file's ``hash_key``.
    legacy_hash_key: bool = False
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self, hash_key: bytes | None) -> None:
        if not self.keys:
            raise KeyRingError("the data key ring is empty")
        for kid in self.keys:
            if not KID_RE.match(kid):
                raise KeyRingError(f"invalid data key id {kid!r} (letters, digits, - and _)")
        if self.active not in self.keys:
            raise KeyRingError(f"the active data key {self.active!r} is not in the key ring")
        self.hash_keys = dict(self.hash_keys)
        if hash_key is not None:
            known = self.hash_keys.get(LEGACY_HASH_KID)
            if known is not None and known != hash_key:
                raise KeyRingError(
                    f"SHUZHI_DATA_HASH_KEY is the hash key {LEGACY_HASH_KID!r}, but "
                    f"SHUZHI_DATA_HASH_KEYS gives {LEGACY_HASH_KID!r} another value: keep one"
                )
            self.hash_keys[LEGACY_HASH_KID] = hash_key
            self.legacy_hash_key = True
        if not self.hash_keys:
            raise KeyRingError(
                "no lookup hash key: set SHUZHI_DATA_HASH_KEYS (or SHUZHI_DATA_HASH_KEY)"
            )
        for kid, key in self.hash_keys.items():
            if not KID_RE.match(kid):
                raise KeyRingError(f"invalid hash key id {kid!r} (letters, digits, - and _)")
            if len(key) < MIN_HASH_KEY_BYTES:
                raise KeyRingError(
                    f"the lookup hash key {kid!r} must be at least {MIN_HASH_KEY_BYTES} bytes"
                )
        self.hash_active = self.hash_active or sorted(self.hash_keys)[-1]
        if self.hash_active not in self.hash_keys:
            raise KeyRingError(
                f"the active hash key {self.hash_active!r} is not in the hash key ring "
                f"({', '.join(sorted(self.hash_keys))})"
            )
        self._ciphers = {kid: AESGCM(key) for kid, key in self.keys.items()}

    # --- encryption ---------------------------------------------------------------------------

    def encrypt(self, plaintext: str, *, aad: str) -> str:
        kid = self.active
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, plaintext.encode("utf-8"), _aad(aad, kid))
        return f"{PREFIX}{kid}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str, *, aad: str) -> str:
        kid, blob = split_ciphertext(stored)
        cipher = self._ciphers.get(kid)
        if cipher is None:
            raise KeyRingError(f"data key {kid!r} is not in the key ring (retired too early?)")
        try:
            raw = base64.urlsafe_b64decode(blob.encode("ascii"))
            plain = cipher.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(aad, kid))
        except (InvalidTag, binascii.Error, ValueError) as exc:
            raise DecryptionError(f"a value of {aad} failed authentication") from exc
        return plain.decode("utf-8")

    # --- lookups ------------------------------------------------------------------------------

    def hash_under(self, kid: str, value: str, *, purpose: str) -> str:
        """The stored form of the keyed hash of ``value`` under hash key ``kid``."""
        message = f"{purpose}\x00{value}".encode()
        digest = hmac.new(self.hash_keys[kid], message, hashlib.sha256).hexdigest()
        return digest if kid == LEGACY_HASH_KID else f"{kid}:{digest}"

    def lookup_hash(self, value: str, *, purpose: str) -> str:
        """The hash to store: HMAC-SHA256 of a normalised value under the active hash key,
        domain-separated by ``purpose``, as ``<kid>:<hex>`` (bare hex for ``h1``)."""
        return self.hash_under(self.hash_active, value, purpose=purpose)

    def lookup_hashes(self, value: str, *, purpose: str) -> tuple[str, ...]:
        """The hashes to look for: one per hash key of the ring, the active key's first."""
        order = [self.hash_active, *sorted(k for k in self.hash_keys if k != self.hash_active)]
        return tuple(self.hash_under(kid, value, purpose=purpose) for kid in order)


def _aad(aad: str, kid: str) -> bytes:
    return f"{aad}|{VERSION}|{kid}".encode()


def split_ciphertext(stored: str) -> tuple[str, str]:
    """``(key id, base64 blob)`` of a stored ciphertext; ``KeyRingError`` if it is not one."""
    if not stored.startswith(PREFIX):
        raise KeyRingError("not an encrypted value")
    kid, sep, blob = stored[len(PREFIX) :].partition(":")
    if not sep or not KID_RE.match(kid):
        raise KeyRingError("malformed encrypted value")
    return kid, blob


def is_ciphertext(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


def hash_kid(stored: str) -> str:
    """The id of the hash key that made a stored lookup hash (bare hex: the legacy ``h1``)."""
    kid, sep, _digest = stored.partition(":")
    return kid if sep else LEGACY_HASH_KID


# --- loading ------------------------------------------------------------------------------------


def _b64decode_hash_key(kid: str, value: object) -> bytes:
    try:
        return base64.b64decode(str(value), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError(f"the lookup hash key {kid!r} is not valid base64") from exc


def _json_object(value: Any, name: str, shape: str) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError as exc:
            raise KeyRingError(f"{name} is not valid JSON: it must be an object {shape}") from exc
    if not isinstance(value, Mapping):
        raise KeyRingError(f"{name} must be a JSON object {shape}")
    return dict(value)


def _ring_from_mapping(
    data: Mapping[str, Any],
    *,
    active: str | None,
    hash_key: str | None,
    source: str,
    hash_keys: Any = None,
    hash_active: str | None = None,
) -> KeyRing:
    keys = {str(kid): _b64decode_key(str(kid), str(value)) for kid, value in data.items()}
    ring_of_hashes = (
        _json_object(hash_keys, "SHUZHI_DATA_HASH_KEYS", '{"h2": "base64key", "h1": …}')
        if hash_keys
        else {}
    )
    if not hash_key and not ring_of_hashes:
        raise KeyRingError(
            "SHUZHI_DATA_HASH_KEYS (or SHUZHI_DATA_HASH_KEY) is required with SHUZHI_DATA_KEYS"
        )
    if hash_active and not ring_of_hashes:
        raise KeyRingError(
            "SHUZHI_DATA_HASH_KEY_ACTIVE is set but SHUZHI_DATA_HASH_KEYS is not: list the hash "
            "keys in SHUZHI_DATA_HASH_KEYS"
        )
    return KeyRing(
        keys=keys,
        active=active or sorted(keys)[-1],
        hash_key=_b64decode_hash_key(LEGACY_HASH_KID, hash_key) if hash_key else None,
        source=source,
        hash_keys={
            str(kid): _b64decode_hash_key(str(kid), value) for kid, value in ring_of_hashes.items()
        },
        hash_active=hash_active or "",
    )


def read_key_file(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def write_key_file(path: Path, content: dict[str, Any]) -> None:
    """Write the key file atomically with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(content, handle, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def load_key_ring(settings: Mapping[str, Any]) -> KeyRing:
    """The key ring from settings (``DATA_KEYS`` …) or, outside production, ``<instance>/keys.json``
    (created on first use). Production refuses to start without explicit keys."""
    configured = settings.get("DATA_KEYS")
    if configured:
        data = _json_object(configured, "SHUZHI_DATA_KEYS", '{"kid": "base64key"}')
        return _ring_from_mapping(
            data,
            active=settings.get("DATA_KEY_ACTIVE") or None,
            hash_key=settings.get("DATA_HASH_KEY") or None,
            source="settings",
            hash_keys=settings.get("DATA_HASH_KEYS") or None,
            hash_active=settings.get("DATA_HASH_KEY_ACTIVE") or None,
        )
    if settings.get("ENV") == "production":
        raise KeyRingError(
            "SHUZHI_DATA_KEYS, SHUZHI_DATA_KEY_ACTIVE and SHUZHI_DATA_HASH_KEYS (or "
            "SHUZHI_DATA_HASH_KEY) must be set in production (keys are kept outside the "
            "database); see `flask --app portal keys rotate`."
        )
    stray = [
        f"SHUZHI_{name}"
        for name in ("DATA_HASH_KEYS", "DATA_HASH_KEY_ACTIVE", "DATA_HASH_KEY", "DATA_KEY_ACTIVE")
        if settings.get(name)
    ]
    if stray:
        raise KeyRingError(
            f"{', '.join(stray)} set without SHUZHI_DATA_KEYS: configure the whole key ring in "
            f"the environment, or none of it to use {KEY_FILE_NAME} in the instance folder"
        )
    path = Path(settings["INSTANCE_PATH"]) / KEY_FILE_NAME
    with _FILE_LOCK:
        if not path.exists():
            write_key_file(
                path,
                {"keys": {"k1": new_key()}, "active": "k1", "hash_key": new_key()},
            )
        content = read_key_file(path)
    return _ring_from_mapping(
        content["keys"],
        active=content["active"],
        hash_key=content.get("hash_key"),
        source=str(path),
        hash_keys=content.get("hash_keys"),
        hash_active=content.get("hash_active"),
    )


_FILE_LOCK = threading.Lock()
#: The ring of the most recently created app: used when no app context is active (scripts).
_process_ring: KeyRing | None = None


def install_key_ring(app: Any) -> KeyRing:
    """Load the app's key ring into ``app.extensions['data_keys']`` (and as process default)."""
    global _process_ring
    ring = load_key_ring(app.config)
    app.extensions["data_keys"] = ring
    _process_ring = ring
    return ring


def current_key_ring() -> KeyRing:
    from flask import current_app, has_app_context

    if has_app_context():
        ring = current_app.extensions.get("data_keys")
        if ring is not None:
            return ring
    if _process_ring is None:
        raise KeyRingError("no data key ring loaded (create the app first)")
    return _process_ring


def lookup_hash(value: str, *, purpose: str) -> str:
    """Keyed hash to store for equality lookups of a sensitive value (phone digits, a Telegram
    id), under the active hash key."""
    return current_key_ring().lookup_hash(value, purpose=purpose)


def lookup_hashes(value: str, *, purpose: str) -> tuple[str, ...]:
    """Every hash a stored row of ``value`` may carry (one per hash key): match any of them."""
    return current_key_ring().lookup_hashes(value, purpose=purpose)


PHONE_PURPOSE = "phone"
IDENTITY_PURPOSE = "channel_identity"


def phone_digits(phone: str | None) -> str | None:
    """The digits a phone hash is made of (``+86 139 1234-5678`` → ``13912345678``)."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return digits or None


def phone_lookup_hash(phone: str | None) -> str | None:
    """Keyed hash of a phone number's digits (``139 1234-5678`` and ``13912345678`` match)."""
    digits = phone_digits(phone)
    return lookup_hash(digits, purpose=PHONE_PURPOSE) if digits else None


def phone_lookup_hashes(phone: str | None) -> tuple[str, ...]:
    """The phone hashes to match (``CaseContact.phone_hash.in_(…)``); empty without digits."""
    digits = phone_digits(phone)
    return lookup_hashes(digits, purpose=PHONE_PURPOSE) if digits else ()


def identity_value(channel: str, external_id: str) -> str:
    return f"{channel}:{external_id}"


def identity_lookup_hash(channel: str, external_id: str) -> str:
    return lookup_hash(identity_value(channel, external_id), purpose=IDENTITY_PURPOSE)


def identity_lookup_hashes(channel: str, external_id: str) -> tuple[str, ...]:
    """The channel-identity hashes to match (``ChannelIdentity.external_id_hash.in_(…)``)."""
    return lookup_hashes(identity_value(channel, external_id), purpose=IDENTITY_PURPOSE)


#: purpose → the value hashed, from the plaintexts of a row's source columns (None: no hash).
HASH_VALUES: dict[str, Any] = {
    PHONE_PURPOSE: lambda phone: phone_digits(phone),
    IDENTITY_PURPOSE: lambda channel, external_id: (
        identity_value(channel, external_id) if channel and external_id else None
    ),
}


def lookup_hash_column(purpose: str, *sources: str, meaning: str) -> dict[str, Any]:
    """``info=`` of a lookup-hash column, so that ``keys rehash`` / ``status`` / ``retire``
    find it: the ``purpose`` (a key of ``HASH_VALUES``), the columns of the same row its value
    is made of (``EncryptedText`` ones are decrypted) and what breaks if it stops matching.

    ``phone_hash: Mapped[str | None] = mapped_column(String(100), info=lookup_hash_column(
    "phone", "phone", meaning="contacts found by phone number"))``
    """
    if purpose not in HASH_VALUES:
        raise ValueError(f"unknown lookup-hash purpose {purpose!r}")
    return {"lookup_hash": {"purpose": purpose, "sources": sources, "meaning": meaning}}


class EncryptedText(TypeDecorator[str]):
    """A text column stored encrypted (AES-256-GCM) with ``aad`` = ``"table.column"``.

    Reading a value without the ciphertext prefix returns it unchanged: rows written before the
    column was encrypted stay readable until ``keys reencrypt`` rewrites them.
    """

    impl = Text
    cache_ok = True

    def __init__(self, aad: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if "." not in aad:
            raise ValueError("EncryptedText needs aad='table.column'")
        self.aad = aad

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return current_key_ring().encrypt(str(value), aad=self.aad)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None or not is_ciphertext(value):
            return value
        return current_key_ring().decrypt(value, aad=self.aad)

    def copy(self, **kw: Any) -> EncryptedText:
        return EncryptedText(self.aad)
