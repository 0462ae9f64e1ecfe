"""Batch operations on cases (migrate to another version, cancel, retry) with a dry run and progress."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext

from orchestrator.authorization import Permission, can
from orchestrator.batch_operations import BatchRequest
from orchestrator.errors import EngineError, NotFound
from orchestrator.query_filters import InstanceFilter
from web.pages.common import engine, person, refusal, refused, signed_in_pages
from web.pages.list_args import day_range

bp = Blueprint("batch_pages", __name__)
signed_in_pages(bp)

SHOWN_CASES = 200  # a dry run lists this many cases of each kind; the counts cover all
FILTER_FIELDS = ("process", "status", "from", "to", "q")
WORDS = {  # orchestrator.batch_models: BatchKind and BatchStatus
    "migrate": lazy_gettext("move to another version"), "cancel": lazy_gettext("cancel"),
    "retry": lazy_gettext("retry incidents"), "queued": lazy_gettext("queued"), "running": lazy_gettext("running"),
    "done": lazy_gettext("done"), "failed": lazy_gettext("failed"),
}


@bp.context_processor
def _batch_words():
    return {"batch_word": lambda code: str(WORDS.get(code, code))}


def _refused():
    """Only those who manage cases (process owners, admins) see batches and migrations."""
    return render_template("errors/message.html", heading=_("Batch operations"),
                           message=_("Your role does not allow changing many cases at once.")), 403


def _versions(key: str) -> list[int]:
    return sorted((d.version for d in engine().queries.list_definitions(key)), reverse=True)


def _mapping(choices) -> dict[str, str]:
    """The mapping the form chose: `map-<source id>` = target id, for the elements that do not keep their id."""
    mapping = {}
    for choice in choices:
        target = (request.values.get(f"map-{choice.element_id}") or "").strip()
        if target and target != choice.element_id:
            mapping[choice.element_id] = target
    return mapping


def _version_arg(name: str, default: int | None) -> int | None:
    value = request.values.get(name, "")
    return int(value) if value.isdigit() else default


@bp.get("/processes/<string:key>/migrate")
def migrate_page(key: str):
    """Choose from and to versions and the element mapping (only elements the target lacks need a choice), then
    a dry run lists the cases that can move and why the others cannot."""
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return _refused()
    versions = _versions(key)
    if not versions:
        return render_template("errors/not_found.html", what=_("process %(key)s", key=key)), 404
    to_version = _version_arg("to", versions[0])
    from_version = _version_arg("from", versions[1] if len(versions) > 1 else versions[0])
    choices, dry, error = [], None, None
    if len(versions) < 2:
        error = _("Only one version of this process is deployed: there is nowhere to move its cases.")
    else:
        try:
            choices = engine().case_migration.element_choices(key, from_version, to_version, actor=actor)
            if request.args.get("dry"):
                dry = engine().case_migration.dry_run(key, from_version, to_version, _mapping(choices), actor=actor)
        except EngineError as exc:
            error = refusal(exc)
    differing = [c for c in choices if c.default_target is None]
    chosen = {c.element_id: request.values.get(f"map-{c.element_id}", c.default_target or "") for c in choices}
    return render_template("batches/migrate.html", key=key, versions=versions, from_version=from_version,
                           to_version=to_version, choices=choices, differing=differing, chosen=chosen, dry=dry,
                           error=error, shown=SHOWN_CASES)


@bp.post("/processes/<string:key>/migrate")
def migrate(key: str):
    """Queue a migration batch of the cases the dry run finds movable now (each is checked again as it moves)."""
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return _refused()
    from_version, to_version = _version_arg("from", None), _version_arg("to", None)
    back = url_for("batch_pages.migrate_page", key=key, **{"from": from_version, "to": to_version})
    if from_version is None or to_version is None:
        flash(_("Choose the versions to move from and to."), "error")
        return redirect(back)
    try:
        choices = engine().case_migration.element_choices(key, from_version, to_version, actor=actor)
        mapping = _mapping(choices)
        dry = engine().case_migration.dry_run(key, from_version, to_version, mapping, actor=actor)
        movable = [case.instance_id for case in dry.movable]
        if not movable:
            flash(_("No case can move with this mapping."), "error")
            return redirect(back)
        batch = engine().batches.create_batch(BatchRequest("migrate", {
            "process_key": key, "from_version": from_version, "to_version": to_version, "mapping": mapping,
        }, instance_ids=movable), actor=actor)
    except EngineError as exc:
        return refused(exc, back)
    return redirect(url_for("batch_pages.batch_page", batch_id=batch.id))


def _posted_filter() -> tuple[InstanceFilter, dict[str, str]]:
    """The case list's filter as its batch form posts it (the same fields as the list's query string)."""
    args = {name: request.form.get(name, "").strip() for name in FILTER_FIELDS if request.form.get(name, "").strip()}
    after, before = day_range(args)
    return InstanceFilter(definition_key=args.get("process"), status=args.get("status"), text=args.get("q"),
                          started_after=after, started_before=before), args


@bp.post("/batches")
def create_from_list():
    """Apply cancel (with a reason), retry incidents or migrate (to a version) to every case the list's filter
    matches now."""
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return _refused()
    criteria, args = _posted_filter()
    back = url_for("case_pages.instance_list", **args)
    kind = request.form.get("kind", "")
    parameters: dict = {}
    if kind == "cancel":
        parameters["reason"] = request.form.get("reason", "")
    elif kind == "migrate":
        if not criteria.definition_key:
            flash(_("Filter the list by one process to move its cases to another version."), "error")
            return redirect(back)
        parameters["to_version"] = _version_arg("to_version", 0)
    try:
        batch = engine().batches.create_batch(BatchRequest(kind, parameters, criteria=criteria), actor=actor)
    except EngineError as exc:
        return refused(exc, back)
    return redirect(url_for("batch_pages.batch_page", batch_id=batch.id))


@bp.get("/batches")
def batch_list():
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return _refused()
    return render_template("batches/list.html", batches=engine().batches.list_batches(actor=actor))


@bp.get("/batches/<int(max=2147483647):batch_id>")
def batch_page(batch_id: int):
    """A batch's progress (done, failed, total) and its failures; the page refreshes itself until it is done."""
    actor = person()
    if not can(actor, Permission.MANAGE_INSTANCES):
        return _refused()
    try:
        batch = engine().batches.get_batch(batch_id, actor=actor)
    except NotFound:
        return render_template("errors/not_found.html", what=_("batch %(id)s", id=batch_id)), 404
    return render_template("batches/detail.html", batch=batch)
