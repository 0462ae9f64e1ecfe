"""The browser modeler: open a deployed version or a template, keep drafts per person, validate, deploy."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("modeler_pages", __name__)
