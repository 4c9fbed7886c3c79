"""Evidence files: accepted by what their bytes are, kept outside the web root under random keys.

Nothing a user sends decides where a file goes or what it is served as: the type comes from
the file's first bytes (never its name or the browser's declared type), the path from a
random key, and the user's file name is only cleaned up for display and as a download name.
"""

import hashlib
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from portal.disputes.errors import AttachmentRefused

#: The types we keep, recognised by their leading bytes, with the extensions a name may carry.
SIGNATURES = (
    (b"%PDF-", "application/pdf", (".pdf",)),
    (b"\x89PNG\r\n\x1a\n", "image/png", (".png",)),
    (b"\xff\xd8\xff", "image/jpeg", (".jpg", ".jpeg")),
)
MAX_FILES_PER_MESSAGE = 5
MAX_DISPLAY_NAME = 120
_KEY = re.compile(r"[0-9a-f]{64}")
# Characters that mean something in a header, a path or a shell, shown as "_" instead.
_AWKWARD = re.compile(r'["\'<>:|?*;%`$\\/]')


@dataclass(frozen=True)
class Upload:
    """A file as the browser sent it: the name it gave, and a stream of its bytes."""

    filename: str
    stream: BinaryIO


@dataclass(frozen=True)
class CheckedFile:
    """An upload that passed every check, ready to store."""

    display_name: str
    content_type: str
    data: bytes

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()


def check_upload(upload: Upload, *, max_bytes: int) -> CheckedFile:
    """Read and check one upload; `AttachmentRefused` if it is empty, too large or not a PDF, PNG or JPEG."""
    # One byte more than allowed is enough to know it is too large, without reading it all.
    data = upload.stream.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise AttachmentRefused(f"{upload.filename!r} is larger than {max_bytes} bytes", code="attachment_too_large",
                                field="attachments")
    if not data:
        raise AttachmentRefused(f"{upload.filename!r} is empty", code="attachment_empty", field="attachments")
    for signature, content_type, extensions in SIGNATURES:
        if data.startswith(signature):
            return CheckedFile(display_name=display_name(upload.filename, extensions), content_type=content_type,
                               data=data)
    raise AttachmentRefused(f"{upload.filename!r} is not a PDF, PNG or JPEG file", code="attachment_type",
                            field="attachments")


def display_name(filename: str | None, extensions: tuple[str, ...] = (".pdf",)) -> str:
    """The user's file name made safe to show and to offer as a download name; never a path.

    Only the last path component is kept, control and awkward characters go, and the name
    ends with an extension that matches what the file really is ("scan.exe" becomes
    "scan.exe.pdf"), so a download cannot pose as another kind of file.
    """
    name = unicodedata.normalize("NFKC", filename or "")
    name = re.split(r"[/\\]", name)[-1]
    name = "".join(ch for ch in name if not unicodedata.category(ch).startswith("C"))
    name = " ".join(_AWKWARD.sub("_", name).split()).strip(". ")
    if not name.lower().endswith(extensions):
        name = f"{name or 'attachment'}{extensions[0]}"
    if len(name) > MAX_DISPLAY_NAME:
        stem, extension = os.path.splitext(name)
        name = stem[: MAX_DISPLAY_NAME - len(extension)] + extension
    return name


class AttachmentStore:
    """Files under `directory`, each named by a random key: never by anything a user chose."""

    def __init__(self, directory: str | os.PathLike):
        self.directory = Path(directory)

    def save(self, data: bytes) -> str:
        """Write `data` under a new random key, returned; the file appears whole or not at all."""
        key = secrets.token_hex(32)
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o750)
        partial = path.with_name(path.name + ".part")
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
        return key

    def path(self, key: str) -> Path:
        """Where the file of `key` lives; refuses anything that is not one of our keys."""
        if not _KEY.fullmatch(key):
            raise ValueError("not an attachment storage key")
        return self.directory / key[:2] / key

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)
