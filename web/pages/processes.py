"""The process owner's list of processes: every definition with its versions, counts, diagrams, files and diffs."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("process_pages", __name__)
