"""Wire an Engine to its workers: in-process for the embedded mode, through Celery otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from celery import Celery

from orchestrator.actors import Actor
from orchestrator.service import Engine
from orchestrator.settings import Settings
from tasks.celery_app import create_celery
from tasks.embedded import EmbeddedRunner
from tasks.jobs import celery_waker, register_tasks


@dataclass
class Runtime:
    engine: Engine
    celery: Celery | None = None
    embedded: EmbeddedRunner | None = None

    def stop(self) -> None:
        if self.embedded is not None:
            self.embedded.stop()


def build_runtime(settings: Settings, *, start_embedded: bool = True) -> Runtime:
    """Create the engine; with no broker it gets an in-process worker and sweep, else a Celery waker."""
    engine = Engine(settings)
    if settings.embedded:
        runner = EmbeddedRunner(engine)
        if start_embedded:
            runner.start()
        return Runtime(engine, embedded=runner)
    celery = create_celery(settings)
    register_tasks(celery, lambda: engine)
    engine.wake = celery_waker(celery)
    return Runtime(engine, celery=celery)


def deploy_bundled_models(engine: Engine) -> tuple[list, list[str]]:
    """Deploy bpmn/ idempotently (unchanged files keep their version); a rejected file is reported, not fatal."""
    directory = engine.settings.bpmn_dir
    if not engine.settings.deploy_on_start or not directory.is_dir():
        return [], []
    problems: list[str] = []
    deployed = engine.deployments.deploy_directory(
        directory, actor=Actor.system("startup"),
        on_rejected=lambda path, exc: problems.extend(f"{path.name} not deployed: {p}" for p in exc.problems))
    return deployed, problems
