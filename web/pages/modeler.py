"""The browser modeler: open a deployed version or a template, keep drafts per person, validate, deploy."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import asdict

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.routing import BuildError

from orchestrator.authorization import Permission, can
from orchestrator.errors import EngineError, Forbidden, InvalidInput, InvalidModel, NotFound
from orchestrator.model_drafts import structured_problems
from web.browser_security import CONTENT_SECURITY_POLICY
from web.pages.common import engine, person, refusal, signed_in_pages

bp = Blueprint("modeler_pages", __name__)
signed_in_pages(bp)

# The style attributes the editors write as HTML (the properties panel's containers; dmn-js's watermark and its
# logo), which the site's policy would drop: the editor page allows exactly these values and no other inline style.
EDITOR_STYLE_ATTRIBUTES = ("height: 100%", "flex: none; height: auto", "vertical-align:middle",
                           "position: absolute; bottom: 15px; right: 15px; z-index: 100;")
EDITOR_POLICY = CONTENT_SECURITY_POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-hashes' " + " ".join(
    f"'sha256-{base64.b64encode(hashlib.sha256(value.encode()).digest()).decode()}'"
    for value in EDITOR_STYLE_ATTRIBUTES))


def _refused():
    """Only those who deploy models (process owners, admins) see the modeler."""
    return render_template("errors/message.html", heading=_("Modeler"),
                           message=_("Your role does not allow editing or deploying models."), back=None), 403


def _not_found():
    return render_template("errors/not_found.html", what=_("draft")), 404


@bp.get("/modeler")
def landing():
    """The person's drafts, the deployed processes and decisions to open, and a new process from a template."""
    actor = person()
    if not can(actor, Permission.DEPLOY):
        return _refused()
    drafts = engine().model_drafts.list_drafts(actor)
    latest: dict[str, object] = {}
    for definition in engine().queries.list_definitions():  # newest first per key
        latest.setdefault(definition.key, definition)
    decisions = engine().model_drafts.deployed_decisions(actor=actor)
    return render_template("modeler/landing.html", drafts=drafts, processes=list(latest.values()),
                           decisions=decisions)


@bp.post("/modeler/new")
def new_process():
    """A draft of a new process from the template (start → user task → end)."""
    try:
        draft = engine().model_drafts.new_process(request.form.get("key", ""), request.form.get("name", ""),
                                                  actor=person())
    except Forbidden:
        return _refused()
    except InvalidInput as exc:
        flash(_("The new process needs an id (letters, digits, _ . -, starting with a letter) and a name.")
              + " " + "; ".join(f"{k}: {v}" for k, v in exc.errors.items()), "error")
        return redirect(url_for(".landing"))
    return redirect(url_for(".editor", draft_id=draft.id))


@bp.route("/modeler/open", methods=["GET", "POST"])
def open_deployed():
    """A deployed version (?key=&version=) or decision (?decision=) as the person's draft: the existing draft
    when there is one, else (on POST, from the button this page shows) a new draft of the deployed file."""
    actor = person()
    if not can(actor, Permission.DEPLOY):
        return _refused()
    values = request.form if request.method == "POST" else request.args
    key, decision = values.get("key", "").strip(), values.get("decision", "").strip()
    version = values.get("version", type=int)
    try:
        if decision:
            if request.method == "GET":
                return render_template("modeler/open.html", key=None, decision=decision, version=None)
            draft = engine().model_drafts.open_decision(decision, actor=actor)
        else:
            draft = engine().model_drafts.open_deployed(key, version, actor=actor, create=request.method == "POST")
            if draft is None:
                return render_template("modeler/open.html", key=key, version=version, decision=None)
    except NotFound as exc:
        return render_template("errors/message.html", heading=_("Not deployed"), message=exc.message,
                               back=url_for(".landing")), 404
    except InvalidInput as exc:
        flash(refusal(exc), "error")
        return redirect(url_for(".landing"))
    return redirect(url_for(".editor", draft_id=draft.id))


@bp.get("/modeler/drafts/<int(max=2147483647):draft_id>")
def editor(draft_id: int):
    """The editor: bpmn-js with the Camunda 7 properties panel (or dmn-js for a DMN file)."""
    actor = person()
    if not can(actor, Permission.DEPLOY):
        return _refused()
    try:
        draft = engine().model_drafts.open_draft(draft_id, actor=actor)
    except NotFound:
        return _not_found()
    return render_template("modeler/editor.html", draft=draft), {"Content-Security-Policy": EDITOR_POLICY}


@bp.post("/modeler/drafts/<int(max=2147483647):draft_id>/delete")
def delete_draft(draft_id: int):
    try:
        engine().model_drafts.delete_draft(draft_id, actor=person())
    except Forbidden:
        return _refused()
    except NotFound:
        return _not_found()
    flash(_("The draft was deleted."), "success")
    return redirect(url_for(".landing"))


@bp.post("/modeler/drafts/<int(max=2147483647):draft_id>/save")
def save_draft(draft_id: int):
    """Save the posted XML (a fetch from the editor page): JSON with the time it was saved."""
    try:
        draft = engine().model_drafts.save_draft(draft_id, request.form.get("content", ""), actor=person())
    except EngineError as exc:
        return _json_refusal(exc)
    return jsonify(saved=True, updatedAt=draft.updated_at.isoformat())


@bp.post("/modeler/drafts/<int(max=2147483647):draft_id>/validate")
def validate_draft(draft_id: int):
    """Save the posted XML, then run every check a deploy runs: JSON with each problem and its element."""
    drafts = engine().model_drafts
    try:
        if request.form.get("content"):
            drafts.save_draft(draft_id, request.form["content"], actor=person())
        problems = drafts.validate_draft(draft_id, actor=person())
    except EngineError as exc:
        return _json_refusal(exc)
    return jsonify(valid=not problems, problems=[_problem(p) for p in problems])


@bp.post("/modeler/drafts/<int(max=2147483647):draft_id>/deploy")
def deploy_draft(draft_id: int):
    """Save the posted XML and deploy it as a new version; refused: 422 with the problems, nothing deployed."""
    drafts = engine().model_drafts
    try:
        if request.form.get("content"):
            drafts.save_draft(draft_id, request.form["content"], actor=person())
        deployed = drafts.deploy_draft(draft_id, actor=person())
    except InvalidModel as exc:
        return jsonify(deployed=[], problems=[_problem(p) for p in structured_problems(exc.problems)],
                       message=_("The deploy was refused; nothing was changed.")), 422
    except EngineError as exc:
        return _json_refusal(exc)
    return jsonify(deployed=[{"key": d.key, "version": d.version, "new": d.new, "name": d.name,
                              "url": _version_url(d.key, d.version)} for d in deployed],
                   problems=[], landing=url_for(".landing"))


def _problem(problem) -> dict:
    view = asdict(problem)
    return {"elementId": view["element_id"], "file": view["file"], "message": view["message"]}


def _json_refusal(exc: EngineError):
    message = refusal(exc)
    return jsonify(message=message, errors=getattr(exc, "errors", None) or {}), exc.status


def _version_url(key: str, version: int) -> str:
    """Where a deployed version is shown: the process owner's version page, else its start form."""
    try:
        return url_for("process_pages.version_page", key=key, version=version)
    except BuildError:
        return url_for("task_pages.start_page", key=key)
