"""Batch operations on cases (migrate to another version, cancel, retry) with a dry run and progress."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("batch_pages", __name__)
