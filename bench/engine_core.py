"""Engine core benchmark (reports only, asserts nothing): one JSON line per figure, ratios measured in-process.

Run:   python -m bench.engine_core [--quick] [--rounds N] [--only FIGURE]
       SQLite always; PostgreSQL + Redis as well when DATABASE_URL (postgresql+psycopg://…) and
       CELERY_BROKER_URL (redis://…) are set, e.g. in a database of its own and a Redis db no test uses:
       createdb -h 127.0.0.1 -U postgres bench
       DATABASE_URL=postgresql+psycopg://postgres@127.0.0.1:5432/bench \
       CELERY_BROKER_URL=redis://127.0.0.1:6379/5 python -m bench.engine_core --quick
       On PostgreSQL everything happens in the schema `loopline_bench`, dropped and made anew.

Variants are measured interleaved in rounds (A B, B A, …) and reported as median / min / max /
spread_pct over the rounds (see bench/rounds.py), so a busy machine slows every variant alike.

Lines ("figure"):
- whole_instance_vs_floor: bench_flow (start → DMN → user task → service task on a real Celery worker → end);
  ms per instance on bare SpiffWorkflow in memory (floor_ms: same model, same process, no persistence) and
  through Loopline's commands (loopline_ms); `ratio` = Loopline / floor, the median of the per-round ratios.
- sql_statements_per_command: bench_steps, one line per command (start_instance, complete_user_task,
  claim_job, complete_job, correlate_message, fire_due_timers): statements sent, how many wrote the
  instance's state column, and the statements by kind (bench/statements.py).
- task_completion_by_history: bench_loop (user task → exclusive gateway → back); ms to complete one task in
  an instance that already completed 10, 300 and 3,000 tasks (a round's figure: the mean of a few completions,
  each on an instance that has grown by at most 10 %), and `ratio_vs_10`; `state_kb` is the size of
  the stored state. A size whose instance cannot be built (e.g. SpiffWorkflow's depth limit) reports `error`.
- worker_throughput (PostgreSQL + Redis only): see bench/engine_throughput.py.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable

from SpiffWorkflow.bpmn.specs.defaults import ServiceTask
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.task import TaskState
from sqlalchemy import select

from bench import engine_throughput
from bench.backends import (
    MODELS,
    QA,
    Backend,
    bench_engine,
    configured_backends,
    postgres_backend,
    wait_until_all_ended,
    worker_thread,
)
from bench.rounds import emit, interleave, paired_ratio, spread
from bench.statements import statements_per_command
from orchestrator.clock import ManualClock
from orchestrator.definitions import ParsedProcess, parse_bundle
from orchestrator.deployments import read_model_file
from orchestrator.models import ProcessInstance
from orchestrator.script_engine import SandboxedScriptEngine
from orchestrator.service import Engine

HISTORY_SIZES = (10, 300, 3000)
FIGURES = ("whole_instance", "statements", "history", "throughput")


def bench_flow_spec() -> ParsedProcess:
    files = [read_model_file(MODELS / "bench_flow.bpmn"), read_model_file(MODELS / "bench_route.dmn")]
    return parse_bundle(files, max_bytes=10**7)["bench_flow"]


def floor_batch(parsed: ParsedProcess, script_engine: SandboxedScriptEngine, count: int) -> float:
    """Seconds per bench_flow instance driven directly through SpiffWorkflow, nothing stored."""
    started = time.perf_counter()
    for number in range(count):
        workflow = BpmnWorkflow(parsed.spec, parsed.subprocess_specs, script_engine=script_engine)
        workflow.get_tasks(state=TaskState.READY)[0].data.update(amount=1000 + number)
        workflow.do_engine_steps()
        [review] = workflow.get_tasks(state=TaskState.READY, manual=True)
        review.set_data(ok=True)
        review.run()
        workflow.do_engine_steps()
        [book] = [t for t in workflow.get_tasks(state=TaskState.STARTED) if isinstance(t.task_spec, ServiceTask)]
        book.data.update(echo={"ok": True})
        book.complete()
        workflow.do_engine_steps()
        if not workflow.is_completed():
            raise RuntimeError("bench_flow did not complete on bare SpiffWorkflow")
    return (time.perf_counter() - started) / count


def loopline_batch(engine: Engine, count: int) -> float:
    """Seconds per bench_flow instance through start → complete the user task → job on the worker → end."""
    started = time.perf_counter()
    for number in range(count):
        row = engine.instances.start_instance("bench_flow", actor=QA, variables={"amount": 1000 + number})
        [task] = engine.queries.open_human_tasks_for(QA, row.id)
        engine.tasks.complete_user_task(task.id, {"ok": True}, actor=QA)
    wait_until_all_ended(engine)
    return (time.perf_counter() - started) / count


def whole_instance(backend: Backend, rounds: int, batch: int) -> None:
    parsed, script_engine = bench_flow_spec(), SandboxedScriptEngine()
    with bench_engine(backend) as engine, worker_thread(engine):
        floor_batch(parsed, script_engine, 2)  # warm-up: imports, definition cache, connections
        loopline_batch(engine, 2)
        # the floor is ~50x cheaper: more instances a round keep its rounds long enough to time well
        samples = interleave({"floor": lambda: floor_batch(parsed, script_engine, batch * 10),
                              "loopline": lambda: loopline_batch(engine, batch)}, rounds)
    emit("whole_instance_vs_floor", backend=backend.name, broker=backend.broker_url.split(":")[0], rounds=rounds,
         instances_per_round=batch, floor_instances_per_round=batch * 10, floor_ms=spread(samples["floor"], 1000),
         loopline_ms=spread(samples["loopline"], 1000), **paired_ratio(samples["loopline"], samples["floor"]))


def statements(backend: Backend, rounds: int) -> None:
    clock = ManualClock()
    with bench_engine(backend, clock=clock) as engine:
        figures = statements_per_command(engine, clock, rounds)
    for command, figure in figures.items():
        emit("sql_statements_per_command", backend=backend.name, command=command, instances=rounds, **figure)


def complete_loop_step(engine: Engine, instance_id: str) -> None:
    """Complete the loop's one open task, asking for another round."""
    tasks = engine.queries.open_human_tasks_for(QA, instance_id)
    if len(tasks) != 1:
        raise RuntimeError(f"the loop stopped: {len(tasks)} open tasks")
    engine.tasks.complete_user_task(tasks[0].id, {"more": True}, actor=QA)


def loop_instance(engine: Engine, completed_tasks: int) -> str:
    """A bench_loop instance that has completed `completed_tasks` tasks (a user task and a gateway a round)."""
    row = engine.instances.start_instance("bench_loop", actor=QA)
    for done in range(0, completed_tasks, 2):
        try:
            complete_loop_step(engine, row.id)
        except Exception as exc:
            raise RuntimeError(f"stopped after {done} completed tasks: {type(exc).__name__}: {exc}") from exc
    return row.id


class LoopInstances:
    """Instances of one history size, each used until it has grown by 10 %, then the next (all built up front)."""

    def __init__(self, engine: Engine, size: int, completions: int):
        self.engine = engine
        self.uses_each = max(1, size // 20)  # each completion adds two tasks
        self.ids = [loop_instance(engine, size) for _ in range(math.ceil(completions / self.uses_each))]
        self.used = 0
        self.error: str | None = None

    def time_completions(self, count: int) -> float:
        """Mean seconds of `count` task completions; NaN once this size has failed."""
        if self.error:
            return math.nan
        started = time.perf_counter()
        try:
            for _ in range(count):
                complete_loop_step(self.engine, self.ids[min(self.used // self.uses_each, len(self.ids) - 1)])
                self.used += 1
        except Exception as exc:
            self.error = f"{type(exc).__name__}: {exc}"
            return math.nan
        return (time.perf_counter() - started) / count

    def state_kb(self) -> float:
        with self.engine.db.reading() as session:  # the workflow state is no reader's: ask the table
            state = session.scalar(select(ProcessInstance.state).where(ProcessInstance.id == self.ids[-1]))
        return round(len(state or "") / 1024, 1)


def history(backend: Backend, rounds: int, per_round: int, sizes: tuple[int, ...]) -> None:
    with bench_engine(backend) as engine:
        loop_instance(engine, 10)  # warm-up
        pools, build_errors, build_seconds = {}, {}, {}
        for size in sizes:
            started = time.perf_counter()
            try:
                pools[size] = LoopInstances(engine, size, rounds * per_round)
            except RuntimeError as exc:
                build_errors[size] = str(exc)
            build_seconds[size] = round(time.perf_counter() - started, 1)
        samples = interleave({size: lambda pool=pool: pool.time_completions(per_round) for size, pool in pools.items()},
                             rounds)
        baseline = samples.get(min(sizes))
        for size in sizes:
            figure = {"backend": backend.name, "completed_tasks": size, "rounds": rounds,
                      "completions_per_round": per_round}
            pool = pools.get(size)
            if pool is None:
                emit("task_completion_by_history", **figure, error=build_errors[size], build_s=build_seconds[size])
                continue
            emit("task_completion_by_history", **figure, ms=spread(samples[size], 1000),
                 ratio_vs_10=paired_ratio(samples[size], baseline)["ratio"] if baseline else None,
                 state_kb=pool.state_kb(), build_s=build_seconds[size], **({"error": pool.error} if pool.error else {}))


def report_failure(figure: str, measure: Callable[..., None], backend: Backend, *args) -> None:
    """Run `measure(backend, *args)`; if it breaks, print the figure's line with the error and go on."""
    try:
        measure(backend, *args)
    except Exception as exc:
        emit(figure, backend=backend.name, error=f"{type(exc).__name__}: {exc}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small batches and few rounds (about 1–2 minutes)")
    parser.add_argument("--rounds", type=int, help="rounds per figure (default 7, quick 5)")
    parser.add_argument("--only", choices=FIGURES, action="append", help="run only these figures")
    args = parser.parse_args()
    rounds = args.rounds or (5 if args.quick else 7)
    figures = args.only or FIGURES
    for backend in configured_backends():
        if "statements" in figures:
            report_failure("sql_statements_per_command", statements, backend, rounds)
        if "whole_instance" in figures:
            report_failure("whole_instance_vs_floor", whole_instance, backend, rounds, 20 if args.quick else 50)
        if "history" in figures:
            report_failure("task_completion_by_history", history, backend, rounds, 5 if args.quick else 10,
                           HISTORY_SIZES)
    if "throughput" in figures:
        engine_throughput.run(postgres_backend(), rounds=2 if args.quick else rounds, quick=args.quick)


if __name__ == "__main__":
    main()
