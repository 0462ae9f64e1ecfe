"""Files uploaded through `file` form fields: checked by content, stored with the case, read back by
whoever may read the case. The variable keeps only a reference, so task data stays small JSON."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, defer

from orchestrator.actors import Actor
from orchestrator.engine import CommandGroup
from orchestrator.errors import NotFound
from orchestrator.models import Attachment
from orchestrator.queries import readable_instance
from orchestrator.views import AttachmentFile, AttachmentView

MAX_FILENAME = 255


@dataclass(frozen=True)
class Upload:
    """One uploaded file as the web layer received it (its type is read from the bytes, not declared)."""

    filename: str
    data: bytes


def sniff_content_type(data: bytes) -> str | None:
    """The type the bytes really are (a renamed executable is not a photo); None when unknown."""
    signatures = (
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
    )
    for prefix, kind in signatures:
        if data.startswith(prefix):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return "text/csv" if data[:4096].count(b",") and b"\n" in data[:4096] else "text/plain"


def store_uploads(
    session: Session,
    *,
    instance_id: str,
    task_id: str | None,
    fields: list[dict[str, Any]],
    uploads: dict[str, list[Upload]],
    allowed_types: tuple[str, ...],
    max_bytes: int,
    actor: Actor,
    now: datetime,
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Add attachment rows for each file field; return (field → references, field → error).

    Rows are added to the caller's transaction: if the command fails, nothing is stored."""
    file_fields = {f["id"] for f in fields if f.get("type") == "file"}
    references: dict[str, list[dict[str, Any]]] = {}
    errors: dict[str, str] = {}
    for field_id, files in uploads.items():
        files = [f for f in files if f.data]
        if not files:
            continue
        if field_id not in file_fields:
            errors[field_id] = "is not a file field of this form"
            continue
        for upload in files:
            kind = sniff_content_type(upload.data)
            if len(upload.data) > max_bytes:
                errors[field_id] = f"{upload.filename}: larger than {max_bytes // (1024 * 1024)} MB"
            elif kind is None or kind not in allowed_types:
                errors[field_id] = f"{upload.filename}: file type not allowed (allowed: {', '.join(allowed_types)})"
        if field_id in errors:
            continue
        for upload in files:
            row = Attachment(
                id=str(uuid.uuid4()), instance_id=instance_id, task_id=task_id, field_id=field_id,
                filename=(upload.filename or "upload").replace("/", "_").replace("\\", "_")[:MAX_FILENAME],
                content_type=sniff_content_type(upload.data), size=len(upload.data),
                sha256=hashlib.sha256(upload.data).hexdigest(), content=upload.data,
                uploaded_by=actor.name, uploaded_at=now,
            )
            session.add(row)
            references.setdefault(field_id, []).append(reference(row))
    return references, errors


def reference(row: Attachment) -> dict[str, Any]:
    """What a process variable holds for an attachment."""
    return {"attachmentId": row.id, "filename": row.filename, "contentType": row.content_type,
            "size": row.size, "sha256": row.sha256}


def case_attachments(session: Session, instance_id: str) -> list[AttachmentView]:
    """Metadata of the files of a case the caller has checked the actor may read (content not loaded)."""
    return [AttachmentView.of(row) for row in session.scalars(
        select(Attachment).options(defer(Attachment.content))
        .where(Attachment.instance_id == instance_id).order_by(Attachment.uploaded_at, Attachment.id))]


class Attachments(CommandGroup):
    def attachments_of(self, actor: Actor, instance_id: str) -> list[AttachmentView]:
        """Metadata of a case's files (content not loaded), oldest first; NotFound unless the actor may read
        the case."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return case_attachments(session, instance_id)

    def attachment_for(self, actor: Actor, attachment_id: str) -> AttachmentFile:
        """One file with its content; NotFound unless the actor may read its case."""
        with self.core.db.reading() as session:
            instance_id = session.scalar(select(Attachment.instance_id).where(Attachment.id == attachment_id))
            try:
                if instance_id is None:
                    raise NotFound("no such attachment")
                readable_instance(session, actor, instance_id)
            except NotFound:
                raise NotFound(f"attachment '{attachment_id}' does not exist") from None
            return AttachmentFile.of(session.get(Attachment, attachment_id))
