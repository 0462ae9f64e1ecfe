"""Batch operations over the API: migration with a dry run, cancel and retry of many cases, their progress."""

from __future__ import annotations

from flask_smorest import Blueprint

blp = Blueprint("batches", __name__, url_prefix="/api/v1", description="Batch operations")
