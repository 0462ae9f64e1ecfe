"""The `loopline` command: serve, worker, beat, deploy, db upgrade."""

from __future__ import annotations

import logging
import signal
import threading
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


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Serve the web app; with no broker configured, also run jobs and timers in this process."""
    from waitress import serve as waitress_serve

    from web.app import create_app

    settings = Settings.from_env()
    upgrade(settings.database_url)
    runtime = build_runtime(settings)
    for deployed in deploy_bundled_models(runtime.engine):
        click.echo(f"deployed {deployed.key} v{deployed.version}{' (new)' if deployed.new else ''}")
    mode = "embedded (SQLite, in-process worker and timers)" if settings.embedded else "distributed (Celery)"
    click.echo(f"Loopline on http://{host}:{port}/ — {mode}; database {settings.database_url}")
    try:
        waitress_serve(create_app(settings, runtime.engine), host=host, port=port, threads=threads)
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
                results.extend(runtime.engine.deploy_directory(path, actor=actor))
            else:
                files.append(read_model_file(path))
        if files:
            results.extend(runtime.engine.deploy(files, actor=actor))
    except EngineError as exc:
        for problem in exc.details.get("problems", [exc.message]):
            click.echo(f"error: {problem}", err=True)
        raise SystemExit(2) from exc
    for deployed in results:
        click.echo(f"{deployed.key} v{deployed.version} ({'new' if deployed.new else 'unchanged'})")


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
