"""Residents' photos: checked by content (Pillow, not the file name), re-encoded without
metadata (EXIF, GPS, comments), stored under the upload folder with random names."""

from __future__ import annotations

import hashlib
import io
import secrets
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from PIL import Image, ImageOps, UnidentifiedImageError
from sqlalchemy import event
from sqlalchemy.orm import Session

from portal.accounts.models import User
from portal.cases.models import Attachment, Case
from portal.db import utcnow
from portal.errors import ValidationError

MAX_PHOTOS = 3
#: Pillow format → (content type, file extension).
ACCEPTED_FORMATS = {
    "JPEG": ("image/jpeg", ".jpg"),
    "PNG": ("image/png", ".png"),
    "WEBP": ("image/webp", ".webp"),
}
MAX_PIXELS = 40_000_000  # refuse decompression bombs long before Pillow's own limit
MAX_SIDE = 2560  # larger photos are scaled down: plenty for a pothole, kind to storage


@dataclass(frozen=True)
class PhotoUpload:
    """A photo as received from a form, the API (base64-decoded) or the bot."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class PreparedPhoto:
    """A validated, re-encoded photo ready to be written."""

    storage_name: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size(self) -> int:
        return len(self.data)


def prepare_photos(uploads: Sequence[PhotoUpload], *, max_bytes: int) -> list[PreparedPhoto]:
    """Validate every upload and re-encode it; raises ValidationError(field="photos")."""
    uploads = [u for u in uploads if u.data]
    if len(uploads) > MAX_PHOTOS:
        raise ValidationError(
            _("You can attach at most %(n)d photos.", n=MAX_PHOTOS), field="photos"
        )
    return [prepare_photo(upload, max_bytes=max_bytes) for upload in uploads]


def prepare_photo(upload: PhotoUpload, *, max_bytes: int) -> PreparedPhoto:
    name = upload.filename or _("photo")
    if len(upload.data) > max_bytes:
        raise ValidationError(
            _(
                "The photo %(name)s is too large (%(size)s MB); the limit is %(limit)s MB.",
                name=name,
                size=f"{len(upload.data) / 1048576:.1f}",
                limit=f"{max_bytes / 1048576:.0f}",
            ),
            field="photos",
        )
    not_an_image = ValidationError(
        _("The file %(name)s is not a JPEG, PNG or WebP photo.", name=name), field="photos"
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(upload.data)) as probe:
                fmt = probe.format
                if fmt not in ACCEPTED_FORMATS:
                    raise not_an_image
                if probe.width * probe.height > MAX_PIXELS:
                    raise ValidationError(
                        _("The photo %(name)s has too many pixels.", name=name), field="photos"
                    )
                probe.verify()
            with Image.open(io.BytesIO(upload.data)) as image:
                image.load()
                image = ImageOps.exif_transpose(image)
                data = _reencode(image, fmt)
    except ValidationError:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as exc:
        raise not_an_image from exc
    content_type, extension = ACCEPTED_FORMATS[fmt]
    return PreparedPhoto(
        storage_name=secrets.token_hex(16) + extension,
        content_type=content_type,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _reencode(image: Image.Image, fmt: str) -> bytes:
    """Draw the pixels into a fresh file: no EXIF, GPS, ICC comments or text chunks survive."""
    if max(image.size) > MAX_SIDE:
        image.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    if fmt == "JPEG":
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(out, "JPEG", quality=85, optimize=True)
    elif fmt == "PNG":
        if image.mode not in ("RGB", "RGBA", "L", "LA", "P"):
            image = image.convert("RGBA")
        image.save(out, "PNG", optimize=True)
    else:
        if image.mode not in ("RGB", "RGBA"):
            image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
        image.save(out, "WEBP", quality=85)
    return out.getvalue()


def photo_path(upload_dir: str | Path, storage_name: str) -> Path:
    """Where a stored photo lives; refuses names that are not ours (no path tricks)."""
    if not storage_name or "/" in storage_name or "\\" in storage_name or storage_name[0] == ".":
        raise ValueError("bad storage name")
    return Path(upload_dir) / storage_name


_PENDING_KEY = "shuzhi_pending_photo_files"


def write_photos(
    session: Session, photos: Sequence[PreparedPhoto], upload_dir: str | Path
) -> list[Path]:
    """Write photos to disk and tie them to the session's transaction: removed again if it
    rolls back, kept once it commits."""
    written: list[Path] = []
    try:
        for photo in photos:
            path = photo_path(upload_dir, photo.storage_name)
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "xb") as fh:
                fh.write(photo.data)
            written.append(path)
    except OSError:
        remove_files(written)
        raise
    pending: list[Path] = session.info.setdefault(_PENDING_KEY, [])
    pending.extend(written)
    if not session.info.get(_PENDING_KEY + "_hooked"):
        event.listen(session, "after_commit", _forget_pending)
        event.listen(session, "after_rollback", _remove_pending)
        session.info[_PENDING_KEY + "_hooked"] = True
    return written


def upload_settings() -> tuple[int, Path]:
    """(MAX_PHOTO_BYTES, UPLOAD_DIR) of the current app."""
    from flask import current_app

    return int(current_app.config["MAX_PHOTO_BYTES"]), Path(current_app.config["UPLOAD_DIR"])


def attach_prepared(
    session: Session,
    *,
    case: Case,
    photos: Sequence[PreparedPhoto],
    uploaded_by: User | None,
    public: bool = True,
) -> list[Attachment]:
    """Write validated photos and add their Attachment rows (flushed; files removed on failure)."""
    if not photos:
        return []
    _max_bytes, upload_dir = upload_settings()
    written = write_photos(session, photos, upload_dir)
    attachments = [
        Attachment(
            case=case,
            uploaded_by_id=uploaded_by.id if uploaded_by is not None else None,
            storage_name=photo.storage_name,
            content_type=photo.content_type,
            size=photo.size,
            sha256=photo.sha256,
            public=public,
            created_at=utcnow(),
        )
        for photo in photos
    ]
    session.add_all(attachments)
    try:
        session.flush()
    except Exception:
        remove_files(written)
        raise
    return attachments


def store_photos(
    session: Session,
    *,
    case: Case,
    photos: Sequence[PhotoUpload],
    uploaded_by: User | None,
    public: bool = True,
) -> list[Attachment]:
    """Validate, re-encode and store photos for ``case`` (at most three per call)."""
    max_bytes, _upload_dir = upload_settings()
    return attach_prepared(
        session,
        case=case,
        photos=prepare_photos(photos, max_bytes=max_bytes),
        uploaded_by=uploaded_by,
        public=public,
    )


def remove_files(paths: Sequence[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)


def _forget_pending(session: Session) -> None:
    if session.in_nested_transaction():  # a savepoint: the outer transaction decides
        return
    session.info.pop(_PENDING_KEY, None)


def _remove_pending(session: Session) -> None:
    if session.in_nested_transaction():
        return
    remove_files(session.info.pop(_PENDING_KEY, []))
