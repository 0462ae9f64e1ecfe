"""The `loopline` command: serve, worker, beat, deploy, audit, db upgrade."""

from __future__ import annotations

import json
import logging
import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import click

from orchestrator.actors import Actor
from orchestrator.definitions import ModelFile
from orchestrator.deployments import read_model_file
from orchestrator.errors import EngineError
from orchestrator.migrate import upgrade
from orchestrator.settings import Settings
from tasks.runtime import build_runtime, deploy_bundled_models
from tasks.scheduler import run_scheduler


@click.group()
@click.option("--log-level", default="INFO", show_default=True)
def main(log_level: str) -> None:
    """Loopline: BPMN orchestration for returns, recalls and CAPA."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if log_level.upper() != "DEBUG":
        # SpiffWorkflow logs every task state change at INFO; Loopline's history already records them
        logging.getLogger("spiff").setLevel(logging.WARNING)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web app; with no broker configured, also run jobs and timers in this process."""
    from waitress import serve as waitress_serve

    from web.app import create_app
    from web.auth.demo import DEMO_PASSWORD, seed_demo_users
    from web.auth.users import ensure_roles_and_groups
    from web.demo_instances import seed_demo_instances

    settings = Settings.from_env()
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    deployed_models, problems = deploy_bundled_models(runtime.engine)
    for deployed in deployed_models:
        click.echo(f"deployed {deployed.key} v{deployed.version}{' (new)' if deployed.new else ''}")
    for problem in problems:
        click.echo(f"warning: {problem}", err=True)
    indexed = runtime.engine.case_index.index_unsearchable_cases()
    if indexed:
        click.echo(f"made {indexed} earlier case(s) searchable")
    app = create_app(settings, runtime.engine)
    with app.app_context():
        datastore = app.extensions["security"].datastore
        ensure_roles_and_groups(datastore)
        if settings.embedded and settings.environment != "production":
            for email in seed_demo_users(datastore):
                click.echo(f"demo user {email} (password: {DEMO_PASSWORD})")
            for business_key in seed_demo_instances(runtime.engine):
                click.echo(f"demo case {business_key}")
    mode = "embedded (SQLite, in-process worker and timers)" if settings.embedded else "distributed (Celery)"
    click.echo(f"Loopline on http://{host}:{port}/ — {mode}; database {settings.database_url}")
    try:
        waitress_serve(app, host=host, port=port, threads=threads)
    finally:
        runtime.stop()


@main.command()
@click.option("--concurrency", default=2, show_default=True, type=int)
@click.option("--pool", default="prefork", show_default=True)
def worker(concurrency: int, pool: str) -> None:
    """Run a Celery worker for service-task jobs (needs CELERY_BROKER_URL)."""
    settings = _distributed_settings()
    runtime = build_runtime(settings)
    runtime.celery.worker_main(["worker", f"--concurrency={concurrency}", f"--pool={pool}", "--loglevel=INFO",
                                "--without-gossip", "--without-mingle"])


@main.command()
def beat() -> None:
    """Fire due timers (about every second, earlier when one is due) and relay pending jobs."""
    settings = _distributed_settings()
    runtime = build_runtime(settings)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    click.echo("loopline beat: sweeping timers and the job outbox")
    run_scheduler(runtime.engine, stop)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
def deploy(paths: tuple[Path, ...]) -> None:
    """Deploy BPMN/DMN files as one bundle (a folder deploys each BPMN file with the folder's DMN files)."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    runtime = build_runtime(settings, start_embedded=False)
    actor = Actor.system("cli")
    files: list[ModelFile] = []
    results = []
    try:
        for path in paths:
            if path.is_dir():
                results.extend(runtime.engine.deployments.deploy_directory(path, actor=actor))
            else:
                files.append(read_model_file(path))
        if files:
            results.extend(runtime.engine.deployments.deploy(files, actor=actor))
    except EngineError as exc:
        for problem in exc.details.get("problems", [exc.message]):
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from exc
    for deployed in results:
        click.echo(f"{deployed.key} v{deployed.version} ({'new' if deployed.new else 'unchanged'})")


@main.group()
def apikey() -> None:
    """Integration API keys (stored hashed; the token is shown once)."""


@apikey.command("create")
@click.argument("name")
@click.option("--role", default="integration", show_default=True)
@click.option("--group", "groups", multiple=True, help="staff group whose tasks the key may work on")
@click.option("--expires-in-days", type=int, default=None)
def apikey_create(name: str, role: str, groups: tuple[str, ...], expires_in_days: int | None) -> None:
    from datetime import timedelta

    from web.auth.apikeys import create_api_key
    from web.extensions import ENGINE_KEY
    from web.extensions import db as web_db

    with _app_context() as app:
        now = app.extensions[ENGINE_KEY].now()
        expires = now + timedelta(days=expires_in_days) if expires_in_days else None
        issued = _run(lambda: create_api_key(web_db.session, name, role, created_by="cli", now=now,
                                             groups=list(groups), expires_at=expires))
        web_db.session.commit()
        click.echo(f"API key {issued.key.id} '{name}' ({role}); keep this token, it is not shown again:")
        click.echo(issued.token)


@apikey.command("list")
def apikey_list() -> None:
    from sqlalchemy import select

    from web.auth.models import ApiKey
    from web.extensions import db as web_db

    with _app_context():
        for key in web_db.session.scalars(select(ApiKey).order_by(ApiKey.id)):
            state = "revoked" if key.revoked_at else f"expires {key.expires_at:%Y-%m-%d}" if key.expires_at else "active"
            click.echo(f"{key.id}\t{key.name}\t{key.role}\t{','.join(key.groups or [])}\t{state}")


@apikey.command("revoke")
@click.argument("key_id", type=int)
def apikey_revoke(key_id: int) -> None:
    from web.auth.apikeys import revoke_api_key
    from web.extensions import ENGINE_KEY
    from web.extensions import db as web_db

    with _app_context() as app:
        _run(lambda: revoke_api_key(web_db.session, key_id, app.extensions[ENGINE_KEY].now()))
        web_db.session.commit()
        click.echo(f"API key {key_id} revoked")


@main.group()
def user() -> None:
    """People: create, add to groups, list."""


@user.command("create")
@click.argument("email")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", "roles", multiple=True, default=("staff",), show_default=True)
@click.option("--group", "groups", multiple=True)
def user_create(email: str, password: str, roles: tuple[str, ...], groups: tuple[str, ...]) -> None:
    from web.auth.users import create_user, ensure_roles_and_groups

    with _app_context() as app:
        datastore = app.extensions["security"].datastore
        ensure_roles_and_groups(datastore)
        _run(lambda: create_user(datastore, email, password, roles=roles, groups=groups))
        click.echo(f"user {email} created ({', '.join(roles)}; groups: {', '.join(groups) or 'none'})")


@user.command("add-group")
@click.argument("email")
@click.argument("group")
def user_add_group(email: str, group: str) -> None:
    from web.auth.users import add_group

    with _app_context() as app:
        datastore = app.extensions["security"].datastore
        person = datastore.find_user(email=email)
        if person is None:
            raise click.ClickException(f"no user {email}")
        _run(lambda: add_group(datastore, person, group))
        datastore.commit()
        click.echo(f"{email} is now in {group}")


@user.command("list")
def user_list() -> None:
    from sqlalchemy import select

    from web.auth.models import User
    from web.extensions import db as web_db

    with _app_context():
        for person in web_db.session.scalars(select(User).order_by(User.email)):
            click.echo(f"{person.email}\t{','.join(r.name for r in person.roles)}\t"
                       f"{','.join(g.name for g in person.groups)}")


@contextmanager
def _app_context():
    from web.app import create_app

    settings = Settings.from_env()
    upgrade(settings.database_url)
    runtime = build_runtime(settings, start_embedded=False)
    app = create_app(settings, runtime.engine)
    with app.app_context():
        yield app


def _run(action):
    try:
        return action()
    except EngineError as exc:
        details = "; ".join(f"{k}: {v}" for k, v in (getattr(exc, "errors", None) or {}).items())
        raise click.ClickException(f"{exc.message}{(' — ' + details) if details else ''}") from exc


@main.group()
def audit() -> None:
    """Tamper evidence: verify every case's history, write signed checkpoints."""


@audit.command("verify")
@click.option("--json", "as_json", is_flag=True, help="print the report as JSON")
def audit_verify(as_json: bool) -> None:
    """Recompute every chain and check heads, signatures and the last checkpoint; exit 1 on any failure."""
    from orchestrator.audit import verify_all

    settings, database = _audit_database()
    try:
        report = verify_all(database, settings.audit_signing_key)
    finally:
        database.dispose()
    if as_json:
        click.echo(json.dumps(report.as_json(), indent=2))
    else:
        for failure in report.failures:
            seq = "" if failure.seq is None else f"seq {failure.seq}"
            click.echo(f"FAILED {failure.check}\t{failure.instance_id or ''}\t{failure.business_key or ''}\t{seq}"
                       f"\t{failure.detail}")
        against = f" against checkpoint #{report.checkpoint_id}" if report.checkpoint_id else " (no checkpoint yet)"
        verdict = "intact" if report.ok else f"{len(report.failures)} failure(s)"
        click.echo(f"{report.cases} cases, {report.events} events verified{against}: {verdict}")
    if not report.ok:
        raise SystemExit(1)


@audit.command("checkpoint")
def audit_checkpoint() -> None:
    """Record every case's head and event count, signed; keep the printed digest somewhere else too."""
    from orchestrator.checkpoints import write_checkpoint
    from orchestrator.clock import SystemClock

    settings, database = _audit_database()
    try:
        with database.engine.begin() as connection:
            checkpoint = write_checkpoint(connection, settings.audit_signing_key, SystemClock().now())
    finally:
        database.dispose()
    click.echo(f"checkpoint #{checkpoint.id} at {checkpoint.created_at.isoformat()}: {len(checkpoint.entries)} "
               f"cases, digest {checkpoint.digest}")


@audit.command("sign-heads")
def audit_sign_heads() -> None:
    """Sign the heads of cases recorded before heads were signed (run `audit verify` first)."""
    from orchestrator.audit import sign_unsigned_heads

    settings, database = _audit_database()
    try:
        signed = sign_unsigned_heads(database, settings.audit_signing_key)
    finally:
        database.dispose()
    click.echo(f"signed {signed} head(s)")


@audit.command("reexecute")
@click.argument("instance_id", required=False)
@click.option("--all", "every_case", is_flag=True, help="every completed case")
@click.option("--json", "as_json", is_flag=True, help="print the reports as JSON")
def audit_reexecute(instance_id: str | None, every_case: bool, as_json: bool) -> None:
    """Run a case (or every completed case) again from its recorded inputs on the version it ran on and compare
    each step with its history; exit 1 if any step differs. Changes nothing."""
    from orchestrator.service import Engine
    from web.api.schemas import ReexecutionReportSchema

    if every_case == bool(instance_id):
        raise click.UsageError("give a case's id or --all")
    settings = Settings.from_env()
    upgrade(settings.database_url)
    engine = Engine(settings)
    auditor = Actor("system:audit", roles=frozenset({"auditor"}))
    reports, failures = [], 0
    try:
        ids = engine.reexecution.readable_case_ids(actor=auditor) if every_case else [instance_id]
        for case_id in ids:
            try:
                report = engine.reexecution.reexecute(case_id, actor=auditor)
            except EngineError as exc:
                if not every_case:
                    raise click.ClickException(exc.message) from exc
                failures += 1
                click.echo(f"FAILED\t{case_id}\t{exc.message}", err=True)
                continue
            failures += 0 if report.ok else 1
            if as_json:
                reports.append(ReexecutionReportSchema().dump(report))
            else:
                _echo_reexecution(report)
    finally:
        engine.db.dispose()
    if as_json:
        click.echo(json.dumps({"ok": not failures, "cases": len(ids), "differing": failures, "reports": reports},
                              indent=2, ensure_ascii=False))
    else:
        click.echo(f"{len(ids)} case(s) re-executed: {'all match' if not failures else f'{failures} differ'}")
    if failures:
        raise SystemExit(1)


def _echo_reexecution(report) -> None:
    """One line per case, and one per differing step: which case, which step, what differs."""
    case = f"{report.instance_id}\t{report.business_key or ''}\t{report.definition_key} v{report.definition_version}"
    if report.ok:
        click.echo(f"OK\t{case}\t{len(report.steps)} steps")
        return
    click.echo(f"DIFFERS\t{case}")
    for step in report.differing_steps:
        what = []
        if step.recorded_path != step.re_executed_path:
            what.append("path " + _path_text(step.recorded_path) + " -> " + _path_text(step.re_executed_path))
        if step.recorded_waiting != step.re_executed_waiting:
            what.append(f"waiting {list(step.recorded_waiting or [])} -> {list(step.re_executed_waiting or [])}")
        what.extend(f"{d.name}: {d.recorded_change} {json.dumps(d.recorded, default=str)} -> "
                    f"{d.re_executed_change} {json.dumps(d.re_executed, default=str)}"
                    for d in step.variable_differences)
        if step.error:
            what.append(f"could not be re-executed: {step.error}")
        element = f" {step.element_id}" if step.element_id else ""
        click.echo(f"  step {step.number} (seq {step.seq}, {step.input}{element}): {'; '.join(what)}")
    for difference in report.final_differences:
        click.echo(f"  final variable {difference.name}: {json.dumps(difference.recorded, default=str)} -> "
                   f"{json.dumps(difference.re_executed, default=str)}")
    if report.error and not report.differing_steps:
        click.echo(f"  {report.error}")


def _path_text(path) -> str:
    return "[" + ", ".join(step.element_id if step.kind == "element_completed" else
                           f"{step.element_id or ''} ({step.kind})".lstrip() for step in path) + "]"


def _audit_database():
    from orchestrator.db import Database

    settings = Settings.from_env()
    upgrade(settings.database_url)
    return settings, Database(settings.database_url)


@main.group()
def metrics() -> None:
    """Management figures: the per-case metric rows and the time spent per element."""


@metrics.command("rebuild")
def metrics_rebuild() -> None:
    """Recompute every case's figures from its stored data and history (after an upgrade or a change of a
    model's metric.* properties)."""
    from orchestrator.service import Engine

    settings = Settings.from_env()
    upgrade(settings.database_url)
    engine = Engine(settings)
    try:
        report = engine.metric_rebuild.rebuild()
    finally:
        engine.db.dispose()
    click.echo(f"{report.cases} case(s) and {report.passes} element pass(es) counted again")


@main.group()
def db() -> None:
    """Database schema commands."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply all migrations."""
    settings = Settings.from_env()
    upgrade(settings.database_url)
    click.echo(f"database at head: {settings.database_url}")


def _distributed_settings() -> Settings:
    settings = Settings.from_env()
    if settings.embedded:
        raise click.UsageError("set CELERY_BROKER_URL (e.g. redis://localhost:6379/0); "
                               "without a broker `loopline serve` runs jobs in-process")
    upgrade(settings.database_url)
    return settings


if __name__ == "__main__":
    main()
