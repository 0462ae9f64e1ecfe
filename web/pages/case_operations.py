"""The case page's repair forms read and written: each variable as a typed row (text, number, yes/no, JSON), what
a person changed turned into one edit of the case's data, the name/value rows a delivered message carries, and
the "Move the case" form (skip the step the case waits in, or go back to a step it completed) with its POST."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from flask import flash, redirect, request, url_for
from flask_babel import gettext as _

from orchestrator.authorization import Permission, can
from orchestrator.case_facts import variable_labels
from orchestrator.case_repair import VariableEdit
from orchestrator.definitions import ParsedProcess
from orchestrator.errors import EngineError, Forbidden, InvalidInput
from orchestrator.instances import VARIABLE_NAME
from orchestrator.token_moves import BACK, SKIP, MoveChoice, TokenMove
from orchestrator.token_moves import KINDS as MOVE_KINDS
from web.pages.common import engine, person, refused

KINDS = ("text", "number", "boolean", "json")
NEW_ROWS = 1  # empty rows to add a variable with
MESSAGE_ROWS = 3  # name/value rows of a message form
_INTEGER = re.compile(r"^[+-]?\d+$")


@dataclass
class VariableRow:
    """One variable in the edit form: its name, its label where the model has one, how it is typed and shown."""

    name: str
    label: str | None
    kind: str
    text: str
    original: str = ""  # the text the page showed, to tell what the person changed
    remove: bool = False
    error: str | None = None


@dataclass
class RepairForm:
    """The edit form as shown (again, with what was entered and each field's error)."""

    rows: list[VariableRow]
    new_rows: list[VariableRow] = field(default_factory=list)
    comment: str = ""
    comment_error: str | None = None
    error: str | None = None
    retry: bool = True
    moves: list[MoveChoice] = field(default_factory=list)  # the "Move the case" form's steps


def kind_of(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "text"
    return "json"


def text_of(value: Any, kind: str) -> str:
    """The value as the form's field shows it for its kind."""
    if kind == "text" and isinstance(value, str):
        return value
    if kind == "boolean" and isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


def parse_value(text: str, kind: str) -> Any:
    """The value a field holds; ValueError with what is wrong, in the reader's language."""
    if kind == "text":
        return text
    stripped = text.strip()
    if kind == "number":
        try:
            return int(stripped) if _INTEGER.match(stripped) else float(stripped)
        except ValueError:
            raise ValueError(_("is not a number")) from None
    if kind == "boolean":
        if stripped.lower() in ("true", "yes", "1"):
            return True
        if stripped.lower() in ("false", "no", "0"):
            return False
        raise ValueError(_("choose yes or no"))
    try:
        return json.loads(stripped)
    except ValueError:
        raise ValueError(_("is not valid JSON (text in \"quotes\", numbers, true/false, null, [lists], {objects})")) \
            from None


def editable(variables: dict[str, Any]) -> dict[str, Any]:
    """The case's top-level variables a person may change (not the engine's own, which start with _)."""
    return {name: value for name, value in sorted((variables or {}).items()) if VARIABLE_NAME.match(name)}


def repair_form(model: ParsedProcess, variables: dict[str, Any]) -> RepairForm:
    """The edit form for the case's variables as they are now."""
    labels = variable_labels(model)
    rows = []
    for name, value in editable(variables).items():
        kind = kind_of(value)
        text = text_of(value, kind)
        rows.append(VariableRow(name, labels.get(name), kind, text, original=f"{kind}:{text}"))
    return RepairForm(rows, [VariableRow("", None, "text", "") for _n in range(NEW_ROWS)], moves=move_choices())


def read_repair_form(form, model: ParsedProcess, variables: dict[str, Any]) -> tuple[RepairForm, VariableEdit]:
    """The form as entered, with each field's problem, and the edit it asks for: only what the person changed
    (a variable the process changed meanwhile keeps its value unless the person changed it too)."""
    labels = variable_labels(model)
    current = editable(variables)
    rows, values, remove = [], {}, []
    for name in form.getlist("name"):
        if name not in current:
            continue
        kind = form.get(f"kind.{name}", "text")
        kind = kind if kind in KINDS else "text"
        row = VariableRow(name, labels.get(name), kind, form.get(f"value.{name}", ""),
                          original=form.get(f"original.{name}", ""), remove=form.get(f"remove.{name}") == "1")
        rows.append(row)
        if row.remove:
            remove.append(name)
        elif f"{row.kind}:{row.text}" != row.original:
            try:
                values[name] = parse_value(row.text, row.kind)
            except ValueError as exc:
                row.error = str(exc)
    new_rows = []
    for index, name in enumerate(form.getlist("new_name")):
        kinds, texts = form.getlist("new_kind"), form.getlist("new_value")
        kind = kinds[index] if index < len(kinds) and kinds[index] in KINDS else "text"
        row = VariableRow(name.strip(), None, kind, texts[index] if index < len(texts) else "")
        new_rows.append(row)
        if not row.name and not row.text:
            continue
        if not VARIABLE_NAME.match(row.name):
            row.error = _("a name has letters, digits and _, and starts with a letter")
        elif row.name in current:
            row.error = _("the case has this variable already: change it above")
        else:
            try:
                values[row.name] = parse_value(row.text, row.kind)
            except ValueError as exc:
                row.error = str(exc)
    shown = RepairForm(rows, new_rows, comment=form.get("comment", ""), retry=form.get("retry") == "1",
                       moves=move_choices())
    return shown, VariableEdit(shown.comment, values, tuple(remove))


def has_errors(shown: RepairForm) -> bool:
    return any(row.error for row in (*shown.rows, *shown.new_rows)) or bool(shown.comment_error or shown.error)


def place_errors(shown: RepairForm, errors: dict[str, str], message: str) -> None:
    """Put the engine's field errors (`values.x`, `remove.x`, `comment`) on the form's fields."""
    by_name = {row.name: row for row in (*shown.rows, *shown.new_rows) if row.name}
    placed = False
    for key, problem in errors.items():
        head, _dot, name = key.partition(".")
        if head == "comment":
            shown.comment_error = problem
            placed = True
        elif name in by_name:
            by_name[name].error = problem
            placed = True
    if not placed:
        shown.error = "; ".join(errors.values()) or message


def message_variables(form) -> tuple[dict[str, Any], dict[str, str]]:
    """The name/value rows of a message form (values read as JSON when they are, text otherwise) and each bad
    row's problem by its index."""
    values, errors = {}, {}
    names, texts = form.getlist("var_name"), form.getlist("var_value")
    for index, name in enumerate(names):
        name = name.strip()
        text = texts[index] if index < len(texts) else ""
        if not name and not text:
            continue
        if not VARIABLE_NAME.match(name):
            errors[str(index)] = _("a name has letters, digits and _, and starts with a letter")
            continue
        try:
            values[name] = json.loads(text)
        except ValueError:
            values[name] = text
    return values, errors


# --- moving the case's token -----------------------------------------------------------------------------------

def move_choices() -> list[MoveChoice]:
    """The steps the case of this request waits in, each with the completed steps it can go back to; empty for
    a person who may not move it or a case that has ended."""
    instance_id = (request.view_args or {}).get("instance_id") if request else None
    if not instance_id or not can(person(), Permission.MANAGE_INSTANCES):
        return []
    try:
        return engine().case_repair.token_move_choices(instance_id, actor=person())
    except EngineError:
        return []


def move_token_page(instance_id: str):
    """Skip the step the case waits in, or go back to a step it completed, with a required reason; a refusal is
    flashed on the case page (a role that may not gets 403), never a 500."""
    back = url_for("case_pages.instance_page", instance_id=instance_id) + "#case-operations"
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return refused(Forbidden("may not move cases"), back)
    form = request.form
    kind = form.get("kind", "")
    comment = form.get("comment", "").strip()
    source = form.get("from_element", "").strip()
    target = (form.get("to_element", "").strip() or None) if kind == BACK else None
    if kind not in MOVE_KINDS or not source:
        flash(_("Choose a step to move the case from; it was not moved."), "error")
        return redirect(back)
    if not comment:
        flash(_("Say why the case is moved; it was not moved."), "error")
        return redirect(back)
    if kind == BACK and target is None:
        flash(_("Choose the step to go back to; the case was not moved."), "error")
        return redirect(back)
    try:
        engine().case_repair.move_token(instance_id, TokenMove(source, target, comment[:4000], kind), actor=actor)
    except InvalidInput as exc:
        flash(_("The case was not moved: %(problem)s", problem="; ".join(exc.errors.values()) or exc.message),
              "error")
        return redirect(back)
    except EngineError as exc:
        return refused(exc, back)
    flash(_("The case skipped the step.") if kind == SKIP else _("The case went back to the chosen step."), "info")
    return redirect(back)


def register_routes(blueprint) -> None:
    """Add the "Move the case" POST to the case pages' blueprint (which checks sign-in and CSRF on every POST)."""
    blueprint.add_url_rule("/instances/<string:instance_id>/move-token", "move_token", move_token_page,
                           methods=["POST"])
