"""Deployed processes as call activities call them: resolved by key (latest or a fixed version) and keyed by a
version-pinned spec name, so a workflow restored after a redeploy runs the version its call started."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.call_activities import (
    CalledProcessMissing,
    deployed_calls,
    is_expression,
    namespaced,
    pinned_name,
)
from orchestrator.db import Database
from orchestrator.definitions import ModelFile, ParsedProcess, parse_bundle
from orchestrator.models import DeploymentResource, ProcessDefinition

Resolver = Callable[[str, int | None], tuple[str, dict]]


def parse_deployment(session: Session, definition: ProcessDefinition,
                     delegates: Callable[[], dict[str, str]]) -> ParsedProcess:
    """The definition's process, parsed afresh from its deployment's files (specs shared with nobody)."""
    files = [
        ModelFile(resource.name, resource.content)
        for resource in session.scalars(
            select(DeploymentResource).where(DeploymentResource.deployment_id == definition.deployment_id)
        )
    ]
    return parse_bundle(files, max_bytes=10**9, delegates=delegates())[definition.key]


def deployed_versions(session: Session, key: str) -> list[int]:
    """The deployed version numbers of a process key, newest first."""
    return list(session.scalars(select(ProcessDefinition.version).where(ProcessDefinition.key == key)
                                .order_by(ProcessDefinition.version.desc())))


class CalledProcesses:
    """Namespaced specs of called versions by pinned name (`key@version`); versions are immutable, so entries
    never go stale."""

    def __init__(self, db: Database, delegates: Callable[[], dict[str, str]] = dict):
        self._db = db
        self._delegates = delegates
        self._specs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def resolver(self, session: Session) -> Resolver:
        """What a call activity asks while a command runs in `session`."""
        return lambda key, version: self.resolve(session, key, version)

    def resolve(self, session: Session, key: str, version: int | None = None) -> tuple[str, dict]:
        """(pinned name, specs to register) of the latest or given version; CalledProcessMissing otherwise."""
        query = select(ProcessDefinition).where(ProcessDefinition.key == key)
        if version is not None:
            query = query.where(ProcessDefinition.version == version)
        definition = session.scalars(query.order_by(ProcessDefinition.version.desc()).limit(1)).first()
        if definition is None:
            which = f"version {version} of process '{key}'" if version is not None else f"process '{key}'"
            raise CalledProcessMissing(f"the called {which} is not deployed")
        name = pinned_name(key, definition.version)
        return name, self._load(session, name, definition)

    def specs_for(self, names: Iterable[str]) -> dict:
        """The specs a stored state's pinned names need (restoring it); opens a read session only for names
        not cached yet. A name that is not pinned is left out."""
        found: dict = {}
        missing = []
        for name in names:
            if name in self._specs:
                found.update(self._specs[name])
            elif "@" in name and "/" not in name:
                missing.append(name)
        if missing:
            with self._db.reading() as session:
                for name in missing:
                    key, _, version = name.rpartition("@")
                    definition = session.scalars(select(ProcessDefinition).where(
                        ProcessDefinition.key == key, ProcessDefinition.version == int(version))).first()
                    if definition is None:  # deployments are never deleted; a state naming one is corrupt
                        raise CalledProcessMissing(f"the called process version '{name}' is not deployed")
                    found.update(self._load(session, name, definition))
        return found

    def _load(self, session: Session, name: str, definition: ProcessDefinition) -> dict:
        specs = self._specs.get(name)
        if specs is None:
            parsed = parse_deployment(session, definition, self._delegates)
            specs = namespaced(name, parsed.spec, parsed.subprocess_specs)
            with self._lock:
                specs = self._specs.setdefault(name, specs)
        return specs


def unresolved_calls(session: Session, processes: dict[str, ParsedProcess]) -> list[str]:
    """Each call activity of the bundle whose called process is neither in the bundle nor deployed (or
    not in the version it names), named with its file; a `${expression}` is resolved at run time only."""
    problems = []
    for process in processes.values():
        if not process.has_deployed_calls:
            continue
        for call in deployed_calls((process.spec, *process.subprocess_specs.values())):
            problem = _unresolved(session, processes, call)
            if problem:
                problems.append(f"{process.source_file}: element '{call.bpmn_id}': {problem}")
    return problems


def _unresolved(session: Session, processes: dict[str, ParsedProcess], call) -> str | None:
    key = call.called_element
    if is_expression(key):
        return None
    if call.binding == "deployment":
        return (f"calledElementBinding \"deployment\" calls process '{key}', which is not in this deployment; "
                "deploy it together with the caller or use binding latest")
    versions = deployed_versions(session, key) or ([0] if key in processes else [])
    if not versions:
        return f"the called process '{key}' is neither in this deployment nor deployed"
    if call.binding == "version" and not is_expression(call.called_version):
        wanted = int(call.called_version) if call.called_version.isdigit() else None
        if wanted not in versions:
            return (f"calledElementVersion {call.called_version!r}: process '{key}' has no such deployed version "
                    f"(deployed: {', '.join(map(str, sorted(v for v in versions if v))) or 'none'})")
    return None
