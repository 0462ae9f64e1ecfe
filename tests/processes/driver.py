"""Drive one instance of a model in bpmn/ through the engine's commands, as staff and systems would."""

from __future__ import annotations

from pathlib import Path

from orchestrator.actors import Actor
from orchestrator.models import HumanTask
from orchestrator.service import Engine
from tests.conftest import ADMIN
from tests.support import inspect

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "bpmn"
CONNECTORS = ("tests.support.process_connectors",)
INTEGRATION = Actor("shop-integration", roles=frozenset({"integration"}))


def staff(group: str, name: str | None = None) -> Actor:
    """A user of one candidate group, as the inbox would authenticate them."""
    return Actor(name or f"{group}-user", groups=frozenset({group}), roles=frozenset({"staff"}))


def deploy_models(engine: Engine) -> None:
    engine.deployments.deploy_directory(MODELS, actor=ADMIN)


class Run:
    """One process instance driven through the engine's commands, with the assertions tests need."""

    def __init__(self, engine: Engine, instance_id: str):
        self.engine = engine
        self.id = instance_id
        self.done_jobs: list[tuple[str, str, dict, str]] = []

    @classmethod
    def start(
        cls,
        engine: Engine,
        key: str,
        variables: dict,
        business_key: str | None = None,
        actor: Actor | None = None,
    ) -> Run:
        row = engine.instances.start_instance(key, actor=actor or ADMIN, business_key=business_key, variables=variables)
        return cls(engine, row.id)

    # -- reading ---------------------------------------------------------------------------------
    @property
    def row(self):
        return inspect.instance(self.engine, self.id)

    @property
    def status(self) -> str:
        return self.row.status

    @property
    def variables(self) -> dict:
        return self.row.variables

    @property
    def path(self) -> list[str]:
        return inspect.completed_elements(self.engine, self.id)

    def open_tasks(self) -> list[HumanTask]:
        return inspect.open_tasks(self.engine, self.id)

    def open_task_ids(self) -> list[str]:
        return sorted(task.element_id for task in self.open_tasks())

    def task(self, element_id: str) -> HumanTask:
        found = [task for task in self.open_tasks() if task.element_id == element_id]
        assert len(found) == 1, f"expected one open '{element_id}', open: {self.open_task_ids()}"
        return found[0]

    def pending_jobs(self) -> list[tuple[str, str]]:
        return [(job.element_id, job.topic) for job in inspect.jobs(self.engine, self.id, status="pending")]

    # -- acting ----------------------------------------------------------------------------------
    def complete(self, element_id: str, values: dict, actor: Actor | None = None) -> HumanTask:
        task = self.task(element_id)
        actor = actor or staff(task.candidate_groups[0])
        return self.engine.tasks.complete_user_task(task.id, values, actor=actor)

    def run_jobs(self, *expected: str) -> list[tuple[str, str, dict, str]]:
        """Run each pending job once (also those the previous ones lead to); check which elements ran."""
        ran, tried = [], set()
        while True:
            pending = [
                job for job in inspect.jobs(self.engine, self.id, status="pending") if job.id not in tried
            ]
            if not pending:
                break
            for job in pending:
                tried.add(job.id)
                outcome = self.engine.jobs.run_job(job.id, "test-worker")
                ran.append((job.element_id, job.topic, dict(job.input or {}), outcome))
        self.done_jobs.extend(ran)
        if expected:
            assert [element for element, *_ in ran] == list(expected), ran
        return ran

    def job(self, element_id: str) -> tuple[str, dict]:
        """Topic and input of the (last) job issued for an element."""
        found = [job for job in inspect.jobs(self.engine, self.id) if job.element_id == element_id]
        assert found, f"no job for '{element_id}'"
        return found[-1].topic, dict(found[-1].input or {})

    def correlate(self, message: str, variables: dict | None = None, **keys):
        business_key = keys.pop("business_key", None)
        return self.engine.messages.correlate_message(
            message,
            actor=INTEGRATION,
            business_key=business_key,
            correlation_keys=keys or None,
            variables=variables or {},
        )
