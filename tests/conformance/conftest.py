"""Conformance models are written inline, one per construct; they run on SQLite (the engine core is the
same on both backends, which the service tests cover)."""

from __future__ import annotations

import pytest

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
    return engine.deployments.deploy(list(files), actor=ADMIN)
