"""Conformance models are written inline, one per construct; they run on SQLite (the engine core is the
same on both backends, which the service tests cover)."""

from __future__ import annotations

import pytest
from lxml import etree

from orchestrator.completeness import BPMN_NS, FLOW_NODES, is_compensation_boundary, reachable_elements
from orchestrator.definitions import ModelFile
from tests.conftest import ADMIN

HEAD = ('<?xml version="1.0" encoding="UTF-8"?><bpmn:definitions '
        'xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="conformance" '
        'targetNamespace="http://loopline.dev/conformance">')


def model(body: str, name: str = "model.bpmn") -> ModelFile:
    """A BPMN file holding `body` (processes, messages, ...) inside <definitions>."""
    return ModelFile(name, f"{HEAD}{body}</bpmn:definitions>")


@pytest.fixture
def conformance_engine(make_engine, sqlite_database):
    return make_engine(sqlite_database)


def deploy(engine, *files: ModelFile):
    """Deploy, and check what was accepted runs every element it draws."""
    deployed = engine.deployments.deploy(list(files), actor=ADMIN)
    with engine.db.reading() as session:  # the processes as the engine parsed them (with deployed decisions)
        parsed = {d.key: engine.definitions.get(session, d.id) for d in deployed}
    for file in files:
        if file.kind == "bpmn":
            reachable_equals_drawn(file, parsed)
    return deployed


def reachable_equals_drawn(file: ModelFile, parsed: dict) -> None:
    """Accepted ⇒ the elements a run can reach are exactly the elements the XML draws (plus the gateways
    and events Loopline adds to give implicit Camunda flow and compensation their meaning, named `…__…`;
    a compensation boundary event is drawn but never runs: its handler runs inside the throw)."""
    root = etree.fromstring(file.content.encode("utf-8"))
    for key, process in parsed.items():
        if process.source_file != file.name:
            continue
        element = next(p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == key)
        drawn = {e.get("id") for e in element.iter() if isinstance(e.tag, str)
                 and etree.QName(e).localname in FLOW_NODES and not is_compensation_boundary(e)}
        reached = {e for e in reachable_elements(process.spec, process.subprocess_specs) if "__" not in e}
        assert drawn <= reached, f"{file.name}: drawn but never reached: {sorted(drawn - reached)}"
        assert reached <= drawn | _called_elements(root, process), f"{file.name}: reached but not drawn"


def _called_elements(root, process) -> set[str]:
    """Elements of other processes this one calls (call activities run them)."""
    called = set(process.subprocess_specs)
    return {e.get("id") for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") in called
            for e in p.iter() if isinstance(e.tag, str) and etree.QName(e).localname in FLOW_NODES}
