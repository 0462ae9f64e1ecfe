"""Read a generated form back from the browser: values by field id, files by file field."""

from __future__ import annotations

from typing import Any

from flask import Request

from orchestrator.attachments import Upload


def submitted_values(form: list[dict[str, Any]], request: Request) -> dict[str, Any]:
    """One value per field; a checkbox sends a hidden 'false' then 'true' when ticked, so the last wins."""
    values: dict[str, Any] = {}
    for field in form:
        name = field["id"]
        if field.get("type") == "file" or "readonly" in (field.get("validation") or {}):
            continue
        sent = request.form.getlist(name)
        if sent:
            values[name] = sent[-1]
    return values


def submitted_files(form: list[dict[str, Any]], request: Request) -> dict[str, list[Upload]]:
    uploads: dict[str, list[Upload]] = {}
    for field in form:
        if field.get("type") != "file":
            continue
        files = [Upload(f.filename or "upload", f.read())
                 for f in request.files.getlist(field["id"]) if f and f.filename]
        if files:
            uploads[field["id"]] = files
    return uploads
