"""Two people complete the same task at the same moment: exactly one wins, the other gets a conflict."""

from __future__ import annotations

import threading

from orchestrator.actors import Actor
from orchestrator.errors import Conflict
from tests.support import inspect

MANAGERS = [Actor(name, groups=frozenset({"sales_manager"}), roles=frozenset({"staff"})) for name in ("mia", "max")]


def test_concurrent_completions_one_wins(engine):
    row = engine.instances.start_instance("refund_claim", actor=MANAGERS[0], business_key="RMA-C",
                                variables={"amount": 9000, "customer": "ACME"})
    [task] = inspect.open_tasks(engine, row.id)
    version = inspect.instance(engine, row.id).version
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def complete(actor: Actor, approved: bool) -> None:
        barrier.wait()
        try:
            engine.tasks.complete_user_task(task.id, {"approved": approved}, actor=actor)
            outcomes.append(f"ok:{actor.name}")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=complete, args=(actor, i == 0)) for i, actor in enumerate(MANAGERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "ok"]
    winner = next(o.split(":")[1] for o in outcomes if o.startswith("ok"))
    final = inspect.instance(engine, row.id)
    assert final.version == version + 1
    completions = [e for e in inspect.history(engine, row.id) if e.type == "task_completed"]
    assert [(e.actor, e.task_id) for e in completions] == [(winner, task.id)]
    if winner == "mia":  # approved: the refund job is waiting for a worker
        assert [job.element_id for job in inspect.jobs(engine, row.id)] == ["refund"]
    else:
        assert "rejected_end" in inspect.completed_elements(engine, row.id)
