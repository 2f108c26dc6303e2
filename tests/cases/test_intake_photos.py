"""Photos at intake: checked by content, limited in number and size, stripped of metadata."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import func, select

from portal.cases.models import Attachment, Case
from portal.cases.photos import PhotoUpload, photo_path, prepare_photo, store_photos
from portal.cases.services import submit_case
from portal.errors import ValidationError

TEXT = "小区门口的路灯坏了一个多星期，晚上走路很黑。"
CANARY = "CanaryCamera-GPS-Owner"


def _jpeg_with_exif(size=(64, 48)) -> bytes:
    image = Image.new("RGB", size, (200, 30, 30))
    exif = Image.Exif()
    exif[0x010F] = CANARY  # Make
    exif[0x013B] = CANARY  # Artist
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (28.0, 12.0, 34.5)
    gps[3] = "E"
    gps[4] = (112.0, 54.0, 1.5)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif.tobytes())
    data = out.getvalue()
    assert CANARY.encode() in data
    return data


def _png_with_text() -> bytes:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", CANARY)
    out = io.BytesIO()
    Image.new("RGBA", (20, 20), (0, 0, 255, 128)).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def _webp() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (20, 20), (0, 200, 0)).save(out, "WEBP")
    return out.getvalue()


def _uploads_on_disk(app) -> list[Path]:
    folder = Path(app.config["UPLOAD_DIR"])
    return [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []


def test_photos_are_stored_without_metadata(app, session, jurisdiction, make_user) -> None:
    photos = [
        PhotoUpload("IMG_0001.JPG", "image/jpeg", _jpeg_with_exif()),
        PhotoUpload("scan.jpg", "image/jpeg", _png_with_text()),  # a PNG with a .jpg name
        PhotoUpload("x.webp", "image/webp", _webp()),
    ]
    case = submit_case(session, text=TEXT, channel="web", submitter=make_user(), photos=photos)
    session.commit()
    attachments = session.scalars(select(Attachment).where(Attachment.case_id == case.id)).all()
    assert [a.content_type for a in attachments] == ["image/jpeg", "image/png", "image/webp"]
    for attachment in attachments:
        assert "IMG_0001" not in attachment.storage_name and "scan" not in attachment.storage_name
        path = photo_path(app.config["UPLOAD_DIR"], attachment.storage_name)
        data = path.read_bytes()
        assert CANARY.encode() not in data
        assert len(data) == attachment.size
        with Image.open(path) as stored:
            assert not stored.getexif()
            assert "Comment" not in stored.info
    assert attachments[1].storage_name.endswith(".png")


@pytest.mark.parametrize(
    "photos",
    [
        [PhotoUpload("evil.jpg", "image/jpeg", b"#!/bin/sh\necho not a photo\n" * 10)],
        [PhotoUpload("doc.pdf", "application/pdf", b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200)],
        [PhotoUpload("anim.gif", "image/gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;")],
        [PhotoUpload("broken.png", "image/png", _png_with_text()[:60])],
        [PhotoUpload("big.jpg", "image/jpeg", b"\xff\xd8\xff" + b"0" * (5 * 1024 * 1024))],
        [PhotoUpload(f"{i}.webp", "image/webp", _webp()) for i in range(4)],
    ],
    ids=["script", "pdf", "gif", "truncated", "too-big", "four-photos"],
)
def test_bad_photos_are_refused_and_nothing_is_saved(
    app, session, jurisdiction, make_user, photos
) -> None:
    if len(photos) == 1:  # a good photo first: it must not be written either
        photos = [PhotoUpload("ok.webp", "image/webp", _webp()), *photos]
    with pytest.raises(ValidationError) as info:
        submit_case(session, text=TEXT, channel="web", submitter=make_user(), photos=photos)
    session.rollback()
    assert info.value.field == "photos"
    assert session.scalar(select(func.count()).select_from(Case)) == 0
    assert session.scalar(select(func.count()).select_from(Attachment)) == 0
    assert _uploads_on_disk(app) == []


def test_a_thirty_megabyte_photo_gets_a_clear_message(app) -> None:
    with pytest.raises(ValidationError) as info:
        prepare_photo(
            PhotoUpload("huge.jpg", "image/jpeg", b"0" * (30 * 1024 * 1024)),
            max_bytes=app.config["MAX_PHOTO_BYTES"],
        )
    assert "huge.jpg" in info.value.message and "MB" in info.value.message


def test_decompression_bombs_are_refused(app) -> None:
    out = io.BytesIO()
    Image.new("1", (10000, 10000)).save(out, "PNG")  # 100 Mpx, a few kB compressed
    with pytest.raises(ValidationError):
        prepare_photo(PhotoUpload("bomb.png", "image/png", out.getvalue()), max_bytes=10**7)


def test_written_photos_are_removed_when_the_transaction_rolls_back(
    app, session, make_case
) -> None:
    case = make_case()
    store_photos(
        session, case=case, photos=[PhotoUpload("a.webp", "image/webp", _webp())], uploaded_by=None
    )
    assert len(_uploads_on_disk(app)) == 1
    with session.begin_nested():  # a savepoint ending does not decide the photo's fate
        pass
    try:
        with session.begin_nested():
            raise RuntimeError("rolled back savepoint")
    except RuntimeError:
        pass
    assert len(_uploads_on_disk(app)) == 1
    session.rollback()
    assert _uploads_on_disk(app) == []
    store_photos(
        session, case=case, photos=[PhotoUpload("b.webp", "image/webp", _webp())], uploaded_by=None
    )
    session.commit()
    assert len(_uploads_on_disk(app)) == 1
    session.rollback()  # nothing pending any more: the committed photo stays
    assert len(_uploads_on_disk(app)) == 1


def test_photo_path_refuses_traversal(tmp_path) -> None:
    for bad in ("../etc/passwd", "", ".hidden", "a/b.jpg"):
        with pytest.raises(ValueError):
            photo_path(tmp_path, bad)
