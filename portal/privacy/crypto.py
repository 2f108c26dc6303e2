"""Encryption at rest of sensitive columns: the key ring, ``EncryptedText`` and keyed hashes.

Ciphertext layout (stored as ASCII text so one column type serves SQLite and PostgreSQL)::

    enc:v1:<key id>:<base64url(12-byte nonce + AES-256-GCM ciphertext and tag)>

The additional authenticated data is ``"<table>.<column>|v1|<key id>"``: a ciphertext copied into
another column, or relabelled with another key id, fails authentication instead of decrypting.

Keys never live in the database. They come from ``SHUZHI_DATA_KEYS`` (JSON ``{"kid": "base64
32-byte key"}``), ``SHUZHI_DATA_KEY_ACTIVE`` and ``SHUZHI_DATA_HASH_KEY``; without them (development)
a key file ``<instance>/keys.json`` is generated once with 0600 permissions. Rotation: add a key
and make it active (``keys rotate``), rewrite rows (``keys reencrypt``), then retire the old key
(``keys retire KID``) once no row uses it. Until then every key in the ring stays readable.
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
from dataclasses import dataclass, field
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


def new_kid(existing: Mapping[str, Any]) -> str:
    """A key id not yet in ``existing``: ``k<n>`` counting up."""
    n = len(existing) + 1
    while f"k{n}" in existing:
        n += 1
    return f"k{n}"


@dataclass
class KeyRing:
    """Data keys by id (one active for new writes) and the separate HMAC key for lookups."""

    keys: dict[str, bytes]
    active: str
    hash_key: bytes
    source: str = "settings"  # "settings" (env / settings.json) or the path of a key file
    _ciphers: dict[str, AESGCM] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if not self.keys:
            raise KeyRingError("the data key ring is empty")
        for kid in self.keys:
            if not KID_RE.match(kid):
                raise KeyRingError(f"invalid data key id {kid!r} (letters, digits, - and _)")
        if self.active not in self.keys:
            raise KeyRingError(f"the active data key {self.active!r} is not in the key ring")
        if len(self.hash_key) < 32:
            raise KeyRingError("the lookup hash key must be at least 32 bytes")
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

    def lookup_hash(self, value: str, *, purpose: str) -> str:
        """HMAC-SHA256 of a normalised value, domain-separated by ``purpose`` (hex, 64 chars)."""
        message = f"{purpose}\x00{value}".encode()
        return hmac.new(self.hash_key, message, hashlib.sha256).hexdigest()


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


# --- loading ------------------------------------------------------------------------------------


def _ring_from_mapping(
    data: Mapping[str, Any], *, active: str | None, hash_key: str | None, source: str
) -> KeyRing:
    keys = {str(kid): _b64decode_key(str(kid), str(value)) for kid, value in data.items()}
    if not hash_key:
        raise KeyRingError("SHUZHI_DATA_HASH_KEY is required with SHUZHI_DATA_KEYS")
    try:
        hash_bytes = base64.b64decode(hash_key, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KeyRingError("the lookup hash key is not valid base64") from exc
    return KeyRing(keys=keys, active=active or sorted(keys)[-1], hash_key=hash_bytes, source=source)


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
        data = json.loads(configured) if isinstance(configured, str) else dict(configured)
        if not isinstance(data, dict):
            raise KeyRingError('SHUZHI_DATA_KEYS must be a JSON object {"kid": "base64key"}')
        return _ring_from_mapping(
            data,
            active=settings.get("DATA_KEY_ACTIVE") or None,
            hash_key=settings.get("DATA_HASH_KEY") or None,
            source="settings",
        )
    if settings.get("ENV") == "production":
        raise KeyRingError(
            "SHUZHI_DATA_KEYS, SHUZHI_DATA_KEY_ACTIVE and SHUZHI_DATA_HASH_KEY must be set in "
            "production (keys are kept outside the database); see `flask --app portal keys rotate`."
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
        content["keys"], active=content["active"], hash_key=content["hash_key"], source=str(path)
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
    """Keyed hash for equality lookups of a sensitive value (phone digits, a Telegram id)."""
    return current_key_ring().lookup_hash(value, purpose=purpose)


def phone_lookup_hash(phone: str | None) -> str | None:
    """Keyed hash of a phone number's digits (``139 1234-5678`` and ``13912345678`` match)."""
    if not phone:
        return None
    digits = re.sub(r"\D", "", phone)
    if digits.startswith("86") and len(digits) == 13:
        digits = digits[2:]
    return lookup_hash(digits, purpose="phone") if digits else None


def identity_lookup_hash(channel: str, external_id: str) -> str:
    return lookup_hash(f"{channel}:{external_id}", purpose="channel_identity")


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
