"""Camunda 7 corpus benchmark (reports only, asserts nothing): how a folder of Camunda 7 BPMN files fares.

Run:   python -m bench.camunda_corpus DIR [--report report.json|report.csv] [--timeout 20] [--steps 12]

Offline: it reads DIR and nothing else. Each `*.bpmn` / `*.bpmn20.xml` file below DIR is deployed as its own
bundle together with the `*.dmn` / `*.dmn11.xml` files of its folder — what `loopline serve` and
`Deployments.deploy_directory` do with bpmn/, so a rejected file never hides its neighbours and every figure
is per file. (Camunda deploys a whole archive at once; a call activity to a process of another file of the
folder is therefore refused here, which the report shows as such.) Each bundle goes to a fresh Loopline
engine on a SQLite file of its own (the schema is made once and copied), with a manual clock.

Stand-in connectors: every `camunda:topic` of the file and every Java delegate name (`camunda:class`,
`delegateExpression`, `expression` on service and send tasks) that no shipped connector declares gets a
stand-in connector returning no variables, so a model is not refused for its missing connectors only; the
files that needed one are counted (`needed_stand_ins`).

Then each deployed process with a plain start is started with no variables (required start-form fields get
a simple value of their type) and driven a few rounds: open user tasks completed with empty values (simple
values for required fields), pending jobs run through the connectors, due timers fired after moving the
clock a day on; no message is correlated. An EngineError ends the drive of that instance (counted, not a
crash).

Each file gets one class:
- not-executable: no executable process (`isExecutable="false"` everywhere, or a DMN-less collaboration);
  left out of the percentages, which are of executable models;
- intact: accepted, every flow node of its executable processes reachable from a start
  (`orchestrator.completeness.reachable_elements` against the XML), and no crash while running;
- truncated: accepted, but flow nodes drawn in the XML are not reachable in the parsed specs;
- refused-named: InvalidModel whose every problem names an element (or, for a whole-file problem, the file);
- refused-unnamed: InvalidModel with a problem that names neither;
- refused-leaky: InvalidModel whose text shows SpiffWorkflow internals, Python exception reprs or XML;
- crash-deploy: any other exception from deploy;
- crash-run: a raw (non-EngineError) exception while starting or driving an instance;
- hung: deploy or run did not finish within --timeout seconds.

Output: one JSON line per figure (counts and % of executable models, overall and per kind when DIR holds
an index.json mapping each relative path to {"repo", "path", "kind"}), then the refusal and crash reasons
grouped by message pattern; `--report` writes every file's row (.json or .csv).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import csv
import json
import logging
import re
import shutil
import signal
import sys
import tempfile
import traceback
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from lxml import etree
from sqlalchemy import select

from orchestrator.actors import Actor
from orchestrator.camunda_compat import read_activiti_as_camunda
from orchestrator.clock import ManualClock
from orchestrator.completeness import (
    BPMN_NS,
    FLOW_NODES,
    assign_missing_ids,
    is_compensation_boundary,
    reachable_elements,
)
from orchestrator.db import Database
from orchestrator.definitions import ModelFile
from orchestrator.delegates import DELEGATING, JAVA_ATTRIBUTES, delegate_keys
from orchestrator.errors import EngineError, InvalidModel
from orchestrator.models import HumanTask, HumanTaskState, Job, JobStatus, ProcessInstance
from orchestrator.parser import CAMUNDA_MODEL_NS
from orchestrator.service import Engine
from orchestrator.settings import Settings

ADMIN = Actor("admin", roles=frozenset({"admin"}))
BPMN_SUFFIXES = (".bpmn", ".bpmn20.xml")
DMN_SUFFIXES = (".dmn", ".dmn11.xml")
CLASSES = ("intact", "truncated", "refused-named", "refused-unnamed", "refused-leaky", "crash-deploy",
           "crash-run", "hung")

# what a message to a modeller must not show: the library underneath, Python reprs, XML
LEAKS = [
    re.compile(r"SpiffWorkflow|ValidationException|WorkflowException|TaskSpec\b|BpmnWorkflow|_BoundaryEventParent"
               r"|\bSpiff\b|bpmn_id|task_spec"),
    re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\("),
    re.compile(r"Traceback \(most recent call last\)|object at 0x[0-9a-f]+|<class '"),
    re.compile(r"<\??[A-Za-z_][\w.-]*:?[\w.-]*(\s+[\w:.-]+=|\s*/?>)|\{http://[^}]+\}"),
]
NAMED = re.compile(r"(element|process|decision|flow|task|event|gateway) '([^']+)'")
FILE_LEVEL = re.compile(r"no executable process|not well-formed|XML|DOCTYPE|entity|encoding|bytes|no files|"
                        r"no process|empty", re.I)


@dataclass
class Row:
    file: str
    kind: str = ""
    repo: str = ""
    source_path: str = ""
    classification: str = ""
    processes: list[str] = field(default_factory=list)
    stand_ins: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    unreachable: list[str] = field(default_factory=list)
    error: str = ""
    error_element: str = ""
    traceback: str = ""
    run: dict[str, Any] = field(default_factory=dict)


class Hung(Exception):
    pass


class StandIn:
    """A connector for a topic or Java delegate the corpus names: it answers with no variables."""

    system = None
    timeout = 5.0

    def __init__(self, topic: str, delegates: tuple[str, ...] = ()):
        self.topic = topic
        self.delegates = delegates

    def run(self, variables: dict[str, Any], context) -> dict[str, Any]:
        return {}


def _local(element) -> str | None:
    if not isinstance(element.tag, str):
        return None
    name = etree.QName(element)
    return name.localname if name.namespace == BPMN_NS else None


def parse_xml(text: str):
    parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, remove_comments=True)
    return etree.fromstring(text.encode("utf-8"), parser)


def executable_processes(root) -> list:
    """Processes Camunda 7 would run: isExecutable true or absent (Camunda treats a missing flag as true)."""
    return [p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("isExecutable", "true").strip().lower() == "true"]


def drawn_flow_nodes(processes) -> set[str]:
    return {element.get("id") for process in processes for element in process.iter()
            if _local(element) in FLOW_NODES and element.get("id") and not is_compensation_boundary(element)}


def connector_names(root) -> tuple[set[str], set[str]]:
    """(topics, Java delegate names) the file's tasks name (in the camunda or the old Activiti namespace, which
    the engine reads alike)."""
    root = copy.deepcopy(root)
    read_activiti_as_camunda(root)
    topics = {e.get(f"{{{CAMUNDA_MODEL_NS}}}topic").strip() for e in root.iter()
              if isinstance(e.tag, str) and (e.get(f"{{{CAMUNDA_MODEL_NS}}}topic") or "").strip()}
    java = set()
    # a message throw's implementation sits on its message definition (event_rewrites makes it a service task)
    delegating = (*DELEGATING, "messageEventDefinition")
    for element in root.iter(*(f"{{{BPMN_NS}}}{local}" for local in delegating)):
        for attribute in JAVA_ATTRIBUTES:
            value = element.get(f"{{{CAMUNDA_MODEL_NS}}}{attribute}")
            if value is not None:
                java.add(value)
    return topics, java


def register_stand_ins(engine: Engine, root) -> list[str]:
    topics, java = connector_names(root)
    known, delegates = set(engine.known_topics()), engine.connectors.delegates()
    added = []
    for topic in sorted(topics - known):
        engine.connectors.register(StandIn(topic))
        added.append(f"topic:{topic}")
    for n, name in enumerate(sorted(java)):
        if any(key in delegates for key in delegate_keys(name)):
            continue
        engine.connectors.register(StandIn(f"bench.delegate.{n}", delegate_keys(name)))
        added.append(f"java:{name}")
    return added


def is_leaky(text: str) -> bool:
    return any(pattern.search(text) for pattern in LEAKS)


def names_element(problem: str, file_name: str, ids: set[str]) -> bool:
    text = problem.removeprefix(f"{file_name}: ")
    for match in NAMED.finditer(text):
        if match.group(2) not in ("None", "", "?"):
            return True
    if any(f"'{i}'" in text for i in ids if i):
        return True
    return file_name in problem and bool(FILE_LEVEL.search(text))


def problem_element(problem: str) -> str:
    """The element a problem names (an element rather than its process when it names both)."""
    matches = list(NAMED.finditer(problem))
    preferred = [m for m in matches if m.group(1) != "process"] or matches
    return preferred[0].group(2) if preferred else ""


def pattern_of(message: str, file_name: str = "") -> str:
    """A message with its particulars (file, ids, names, numbers, expressions) blanked, to group alike ones."""
    text = message.removeprefix(f"{file_name}: ") if file_name else message
    text = re.sub(r"^[\w.-]+\.(bpmn|bpmn20\.xml|dmn|dmn11\.xml): ", "", text)
    text = re.sub(r"'[^']*'", "'…'", text)
    text = re.sub(r'"[^"]*"', '"…"', text)
    text = re.sub(r"\$\{[^}]*\}", "${…}", text)
    text = re.sub(r"\b\d+\b", "N", text)
    text = re.sub(r"(element|process) '…', ", "", text)
    return text[:140]


def simple_value(field_: dict) -> Any:
    kind = (field_.get("type") or "string").lower()
    options = field_.get("options") or []
    if options:
        return options[0].get("id")
    return {"long": 1, "integer": 1, "double": 1.0, "boolean": False, "date": date(2024, 1, 2).isoformat(),
            "enum": None, "file": None}.get(kind, "x")


def form_values(form: list[dict] | None) -> dict[str, Any]:
    values = {}
    for field_ in form or []:
        validation = field_.get("validation") or field_.get("constraints") or {}
        required = field_.get("required") or (isinstance(validation, dict) and "required" in validation) or (
            isinstance(validation, list) and any("required" in str(v) for v in validation))
        if required and field_.get("id"):
            value = simple_value(field_)
            if value is not None:
                values[field_["id"]] = value
    return values


class Bench:
    def __init__(self, template_db: Path, workdir: Path, steps: int):
        self.template_db = template_db
        self.workdir = workdir
        self.steps = steps
        self.count = 0

    def engine(self) -> tuple[Engine, Database, ManualClock]:
        self.count += 1
        path = self.workdir / f"e{self.count}.db"
        shutil.copyfile(self.template_db, path)
        database = Database(f"sqlite:///{path}")
        clock = ManualClock()
        settings = Settings.from_env({}, database_url=database.url, home=self.workdir, environment="test",
                                     script_processes=1)
        return Engine(settings, db=database, clock=clock), database, clock

    def check(self, path: Path, bundle: list[ModelFile], row: Row) -> None:
        text = bundle[0].content
        try:
            root = parse_xml(text)
        except etree.XMLSyntaxError:
            root = None
        if root is not None and not executable_processes(root):
            row.classification = "not-executable"
            return
        engine, database, clock = self.engine()
        try:
            ids: set[str] = set()
            if root is not None:
                ids = {e.get("id") for e in root.iter() if isinstance(e.tag, str) and e.get("id")}
                row.stand_ins = register_stand_ins(engine, root)
            try:
                deployed = engine.deployments.deploy(bundle, actor=ADMIN, name=path.name)
            except InvalidModel as exc:
                row.problems = list(exc.problems)
                joined = "; ".join(exc.problems)
                if is_leaky(joined):
                    row.classification = "refused-leaky"
                elif all(names_element(p, path.name, ids) for p in exc.problems):
                    row.classification = "refused-named"
                else:
                    row.classification = "refused-unnamed"
                return
            except Hung:
                raise
            except Exception as exc:  # noqa: BLE001 - what the benchmark is for
                row.classification = "crash-deploy"
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.traceback = traceback.format_exc()[-4000:]
                return
            row.processes = [d.key for d in deployed]
            reached: set[str] = set()
            parsed_by_key = {}
            with database.reading() as session:
                for definition in deployed:
                    parsed = engine.definitions.get(session, definition.id)
                    parsed_by_key[definition.key] = parsed
                    reached |= reachable_elements(parsed.spec, parsed.subprocess_specs)
            if root is not None:
                assign_missing_ids(root)  # as the engine does, so id-less nodes compare alike
                row.unreachable = sorted(drawn_flow_nodes(executable_processes(root)) - reached)
            self.drive(engine, database, clock, deployed, parsed_by_key, row)
            if row.classification != "crash-run":
                row.classification = "truncated" if row.unreachable else "intact"
        finally:
            with contextlib.suppress(Exception):
                database.dispose()

    def drive(self, engine: Engine, database: Database, clock: ManualClock, deployed, parsed_by_key,
              row: Row) -> None:
        for definition in deployed:
            parsed = parsed_by_key[definition.key]
            report: dict[str, Any] = {"tasks_completed": 0, "jobs_run": 0, "timers_fired": 0}
            row.run[definition.key] = report
            stage = "start"
            try:
                if not _has_plain_start(parsed):
                    report["outcome"] = "no plain start (message/timer/signal only)"
                    continue
                instance = engine.instances.start_instance(definition.key, actor=ADMIN,
                                                           variables=form_values(parsed.start_form))
                for _ in range(self.steps):
                    progressed = False
                    with database.reading() as session:
                        tasks = session.scalars(select(HumanTask).where(
                            HumanTask.instance_id == instance.id, HumanTask.state == HumanTaskState.READY)).all()
                        jobs = session.scalars(select(Job.id).where(
                            Job.instance_id == instance.id, Job.status == JobStatus.PENDING)).all()
                        tasks = [(t.id, t.element_id, t.form) for t in tasks]
                    for task_id, element_id, form in tasks:
                        stage = f"user task {element_id}"
                        engine.tasks.complete_user_task(task_id, form_values(form), actor=ADMIN)
                        report["tasks_completed"] += 1
                        progressed = True
                    for job_id in jobs:
                        stage = f"job {job_id}"
                        engine.jobs.run_job(job_id, "bench")
                        report["jobs_run"] += 1
                        progressed = True
                    if not progressed:
                        stage = "timers"
                        clock.advance(days=1)
                        fired = engine.timers.fire_due_timers()
                        report["timers_fired"] += len(fired)
                        if not fired:
                            break
                with database.reading() as session:
                    report["outcome"] = session.get(ProcessInstance, instance.id).status.value \
                        if hasattr(session.get(ProcessInstance, instance.id).status, "value") \
                        else str(session.get(ProcessInstance, instance.id).status)
                    incidents = session.execute(
                        select(Job.element_id, Job.last_error).where(Job.instance_id == instance.id,
                                                                     Job.status == JobStatus.INCIDENT)).all()
                    if incidents:
                        report["incidents"] = [f"{element}: {error}" for element, error in incidents]
            except Hung:
                raise
            except EngineError as exc:
                report["outcome"] = f"stopped at {stage}: {type(exc).__name__}: {exc.message}"[:600]
            except Exception as exc:  # noqa: BLE001 - a raw exception is what this looks for
                row.classification = "crash-run"
                row.error = f"{type(exc).__name__}: {exc}"[:2000]
                row.error_element = stage
                row.traceback = traceback.format_exc()[-4000:]
                report["outcome"] = "crash"
                return


def _has_plain_start(parsed) -> bool:
    from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent

    for task_spec in parsed.spec.task_specs.values():
        if isinstance(task_spec, StartEvent) and type(getattr(task_spec, "event_definition", None)).__name__ \
                == "NoneEventDefinition":
            return True
    return False


def load_index(directory: Path) -> dict[str, dict]:
    index = directory / "index.json"
    if not index.exists():
        return {}
    return json.loads(index.read_text(encoding="utf-8"))


def bundles(directory: Path):
    """(bpmn path, [bpmn file, its folder's dmn files]) for each BPMN file below `directory`."""
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    dmn_by_folder: dict[Path, list[Path]] = defaultdict(list)
    for path in files:
        if path.name.lower().endswith(DMN_SUFFIXES):
            dmn_by_folder[path.parent].append(path)
    for path in files:
        if path.name.lower().endswith(BPMN_SUFFIXES):
            yield path, [path, *dmn_by_folder[path.parent]]


def read(path: Path) -> ModelFile:
    return ModelFile(path.name, path.read_text(encoding="utf-8", errors="replace"))


def _alarm(signum, frame):
    raise Hung()


def run(directory: Path, timeout: float, steps: int) -> list[Row]:
    index = load_index(directory)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="loopline-corpus-") as tmp:
        workdir = Path(tmp)
        template = workdir / "template.db"
        schema = Database(f"sqlite:///{template}")
        schema.create_schema()
        schema.dispose()
        bench = Bench(template, workdir, steps)
        signal.signal(signal.SIGALRM, _alarm)
        for path, members in bundles(directory):
            relative = str(path.relative_to(directory))
            meta = index.get(relative, {})
            row = Row(relative, kind=meta.get("kind", ""), repo=meta.get("repo", ""),
                      source_path=meta.get("path", ""))
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                bench.check(path, [read(p) for p in members], row)
            except Hung:
                row.classification = "hung"
                row.error = f"did not finish within {timeout:g} s"
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            (workdir / f"e{bench.count}.db").unlink(missing_ok=True)
            rows.append(row)
            print(f"{row.classification:16} {relative}", file=sys.stderr)
    return rows


def figures(rows: list[Row]) -> list[dict]:
    lines = []
    groups = {"all": rows}
    for kind in sorted({r.kind for r in rows if r.kind}):
        groups[kind] = [r for r in rows if r.kind == kind]
    for name, group in groups.items():
        executable = [r for r in group if r.classification != "not-executable"]
        counts = Counter(r.classification for r in executable)
        n = len(executable)
        line = {"figure": "corpus", "group": name, "files": len(group), "executable": n,
                "not_executable": len(group) - n}
        for cls in CLASSES:
            line[cls] = counts.get(cls, 0)
            line[f"{cls}_pct"] = round(100 * counts.get(cls, 0) / n, 1) if n else 0.0
        line["needed_stand_ins"] = sum(1 for r in executable if r.stand_ins)
        line["intact_with_stand_ins"] = sum(1 for r in executable if r.stand_ins and r.classification == "intact")
        runs = [rep for r in executable for rep in r.run.values()]
        line["instances_started"] = sum(1 for rep in runs if rep.get("outcome") not in (None, "crash")
                                        and not str(rep.get("outcome")).startswith(("no plain start", "stopped at start")))
        line["instances_completed"] = sum(1 for rep in runs if rep.get("outcome") == "completed")
        line["instances_stopped_by_engine_error"] = sum(1 for rep in runs
                                                        if str(rep.get("outcome", "")).startswith("stopped at"))
        line["instances_with_incidents"] = sum(1 for rep in runs if rep.get("incidents"))
        lines.append(line)
    return lines


def reasons(rows: list[Row], limit: int = 25) -> list[dict]:
    """Refusal problems, crashes and run stops grouped by pattern: count of files, two examples each."""
    grouped: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for row in rows:
        name = Path(row.file).name
        if row.classification.startswith("refused"):
            seen = set()
            for problem in row.problems:
                key = ("refusal", pattern_of(problem, name))
                if key not in seen:
                    seen.add(key)
                    grouped[key].append((row.file, problem_element(problem)))
        elif row.classification.startswith("crash"):
            grouped[(row.classification, pattern_of(row.error))].append((row.file, row.error_element))
        for rep in row.run.values():
            outcome = str(rep.get("outcome", ""))
            if outcome.startswith("stopped at"):
                grouped[("run-stop", pattern_of(re.sub(r"^stopped at [^:]+: ", "", outcome)))].append(
                    (row.file, re.sub(r"^stopped at ([^:]+):.*$", r"\1", outcome)))
    ordered = sorted(grouped.items(), key=lambda item: -len(item[1]))
    return [{"figure": "reason", "what": what, "pattern": pattern, "files": len(examples),
             "examples": [{"file": f, "element": e} for f, e in examples[:2]]}
            for (what, pattern), examples in ordered[:limit]]


def write_report(rows: list[Row], path: Path) -> None:
    if path.suffix == ".csv":
        with path.open("w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow(["file", "kind", "repo", "source_path", "classification", "processes", "stand_ins",
                             "problems", "unreachable", "error", "error_element", "run"])
            for r in rows:
                writer.writerow([r.file, r.kind, r.repo, r.source_path, r.classification, " ".join(r.processes),
                                 " ".join(r.stand_ins), " | ".join(r.problems), " ".join(r.unreachable), r.error,
                                 r.error_element, json.dumps(r.run, default=str)])
    else:
        path.write_text(json.dumps([asdict(r) for r in rows], indent=1, default=str), encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--report", type=Path, help="per-file report (.json or .csv)")
    parser.add_argument("--timeout", type=float, default=20.0, help="seconds per file")
    parser.add_argument("--steps", type=int, default=12, help="rounds of driving per instance")
    parser.add_argument("--reasons", type=int, default=25, help="how many reason groups to print")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    rows = run(args.directory, args.timeout, args.steps)
    if args.report:
        write_report(rows, args.report)
    for line in figures(rows) + reasons(rows, args.reasons):
        print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()
