"""Message texts per kind and language: Jinja files, HTML autoescaped, a missing variable is an error.

Files live in `templates/<kind>/<lang>.subject|.txt|.html|.sms`: e-mail uses the subject, the plain-text
part and the HTML part; SMS uses `.sms` (short) or else `.txt`. A language with no files falls back to
English, so a recipient never goes without a notice.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError, select_autoescape

TEMPLATE_DIR = Path(__file__).parent / "templates"
DEFAULT_LANGUAGE = "en"
URGENT_CLASSES = frozenset({"I", "II"})
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,60}$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")
_ROMAN = {"1": "I", "2": "II", "3": "III", "I": "I", "II": "II", "III": "III"}


class TemplateProblem(ValueError):
    """The message cannot be rendered: unknown kind, or a variable the template needs is missing."""


@dataclass(frozen=True)
class RenderedMessage:
    kind: str
    language: str
    subject: str | None
    text: str
    html: str | None


@lru_cache(maxsize=1)
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def kinds() -> list[str]:
    """The message kinds there are templates for."""
    return sorted(p.name for p in TEMPLATE_DIR.iterdir() if p.is_dir() and not p.name.startswith("_"))


def resolve_language(kind: str, wanted: str | None) -> str:
    """The language the message will be written in: `zh-CN` → `zh` → English."""
    check_kind(kind)
    candidates = []
    if wanted and _LANGUAGE.match(wanted):
        candidates += [wanted.replace("_", "-"), wanted.split("-")[0].split("_")[0].lower()]
    for language in [*candidates, DEFAULT_LANGUAGE]:
        if (TEMPLATE_DIR / kind / f"{language}.txt").is_file():
            return language
    raise TemplateProblem(f"template '{kind}' has no {DEFAULT_LANGUAGE} text")


def check_kind(kind: str) -> None:
    if not isinstance(kind, str) or not _NAME.match(kind) or not (TEMPLATE_DIR / kind).is_dir():
        raise TemplateProblem(f"unknown message template {kind!r}; known: {', '.join(kinds())}")


def recall_class(value: Any) -> str | None:
    """'I', 'II' or 'III' from `1`, `"2"`, `"class II"`, `"II"`; None if not a recall class."""
    if value is None:
        return None
    text = str(value).strip().upper().removeprefix("CLASS").strip()
    return _ROMAN.get(text)


def render(kind: str, language: str | None, channel: str, variables: dict[str, Any]) -> RenderedMessage:
    """Render one message; `ackUrl` is always defined (None without an acknowledgement link)."""
    resolved = resolve_language(kind, language)
    context = {"ackUrl": None, **variables}
    if "recallClass" in context:
        context["recallClass"] = recall_class(context["recallClass"]) or context["recallClass"]
        context["urgent"] = context["recallClass"] in URGENT_CLASSES
    try:
        if channel == "sms":
            name = f"{kind}/{resolved}.sms"
            if not (TEMPLATE_DIR / name).is_file():
                name = f"{kind}/{resolved}.txt"
            return RenderedMessage(kind, resolved, None, _render(name, context), None)
        subject = " ".join(_render(f"{kind}/{resolved}.subject", context).split())
        return RenderedMessage(kind, resolved, subject, _render(f"{kind}/{resolved}.txt", context),
                               _render(f"{kind}/{resolved}.html", context))
    except TemplateError as exc:
        raise TemplateProblem(f"template '{kind}' ({resolved}): {exc.message or exc}") from None


def _render(name: str, context: dict[str, Any]) -> str:
    return _environment().get_template(name).render(context).strip() + "\n"
