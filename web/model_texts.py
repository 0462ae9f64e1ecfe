"""The models' own words (process, step and field names, help texts, option names) in the reader's language.

The language is the page's (web/i18n.py: the person's setting, else the browser's); a text the model's
translation file lacks is shown in the model's English."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask_babel import get_locale, gettext

from orchestrator.errors import NotFound
from orchestrator.model_texts import LocalizedProcess, language_of
from web.pages.common import engine
from web.pages.labels import label


def reader_language() -> str:
    return language_of(get_locale())


def in_reader_language(model: Any) -> LocalizedProcess:
    """The parsed process as the reader reads it; pass it where a page shows labels or option names."""
    if isinstance(model, LocalizedProcess):
        return model
    return LocalizedProcess(model, reader_language())


def model_of(definition_id: int) -> LocalizedProcess | None:
    try:
        return in_reader_language(engine().queries.process_model(definition_id))
    except NotFound:
        return None


def process_title(definition: Any) -> str:
    """A deployed definition's process name in the reader's language."""
    model = model_of(definition.id)
    return model.title if model is not None else (definition.name or definition.key)


def step_name(definition_id: int, element_id: str | None, fallback: str | None = None) -> str | None:
    """A step's name (task, event, gateway) in the reader's language; `fallback` when the model has none, else
    what kind of step it is ("Exclusive gateway"): its id means nothing to a reader."""
    model = model_of(definition_id)
    shown = model.step_name(element_id, fallback) if model is not None else fallback
    if shown or not element_id:
        return shown
    kind = model.element_kinds.get(element_id) if model is not None else None
    return label("element", kind) if kind else gettext("Step")


def init_model_texts(app: Flask) -> None:
    app.jinja_env.globals.update(process_title=process_title, step_name=step_name)
