"""The process owner's catalog: every deployed process with its versions, who deployed each and when, how
many cases each version has by status, its files, and what changed between two versions.

Counts come from grouped queries over the narrow columns (definition id, status): no case's workflow state is
ever read. Readers need Permission.DEPLOY (process owners) or Permission.READ_ALL (auditors: the model a case
ran is part of its record)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, can
from orchestrator.engine import CommandGroup
from orchestrator.errors import Forbidden, InvalidInput, NotFound
from orchestrator.instances import latest_definition
from orchestrator.model_diff import ModelDiff, diff_models
from orchestrator.models import (
    Deployment,
    DeploymentResource,
    Incident,
    InstanceStatus,
    ProcessDefinition,
    ProcessInstance,
)
from orchestrator.queries import deployed_diagram
from orchestrator.views import DefinitionView
from orchestrator.xml_safety import parse_model_xml


@dataclass(frozen=True)
class CaseCounts:
    running: int = 0
    suspended: int = 0
    completed: int = 0
    cancelled: int = 0
    with_open_incidents: int = 0  # cases (not incidents) with at least one unresolved incident

    @property
    def total(self) -> int:
        return self.running + self.suspended + self.completed + self.cancelled


@dataclass(frozen=True)
class VersionSummary:
    definition_id: int
    key: str
    version: int
    name: str | None
    deployment_id: int
    deployment_name: str
    deployed_by: str
    deployed_at: datetime
    counts: CaseCounts = field(default_factory=CaseCounts)


@dataclass(frozen=True)
class ProcessSummary:
    key: str
    name: str | None  # the latest version's
    versions: tuple[VersionSummary, ...]  # newest first

    @property
    def latest(self) -> VersionSummary:
        return self.versions[0]


@dataclass(frozen=True)
class VersionFile:
    name: str
    kind: str  # bpmn | dmn | texts
    size: int  # characters


@dataclass(frozen=True)
class VersionDetail:
    summary: VersionSummary
    source_file: str  # the BPMN file that holds the process
    diagram_xml: str
    files: tuple[VersionFile, ...]
    newer_versions: tuple[int, ...]  # other versions of the process, to compare with
    older_versions: tuple[int, ...]


@dataclass(frozen=True)
class FileContent:
    name: str
    kind: str
    content: str


@dataclass(frozen=True)
class VersionDiff:
    old: VersionSummary
    new: VersionSummary
    old_xml: str
    new_xml: str
    changes: ModelDiff
    changed_files: tuple[tuple[str, str], ...]  # (file name, added | removed | changed) among the deployments' files


MAX_VERSION = 2**31 - 1  # versions are 32-bit integers: a larger number names no version


def _check_version(key: str, version: int) -> None:
    if not 1 <= version <= MAX_VERSION:
        raise NotFound(f"process definition '{key}' version {version} is not deployed")


def require_reader(actor: Actor) -> None:
    """Process owners and auditors read the catalog; others are refused."""
    if not (can(actor, Permission.DEPLOY) or can(actor, Permission.READ_ALL)):
        raise Forbidden(f"{actor.name} may not read the deployed processes", permission=Permission.DEPLOY.name)


def _version_query():
    return (select(ProcessDefinition.id, ProcessDefinition.key, ProcessDefinition.version, ProcessDefinition.name,
                   ProcessDefinition.deployment_id, Deployment.name.label("deployment_name"), Deployment.deployed_by,
                   Deployment.deployed_at)
            .join(Deployment, Deployment.id == ProcessDefinition.deployment_id)
            .order_by(ProcessDefinition.key, ProcessDefinition.version.desc()))


def case_counts(session: Session, definition_ids: Iterable[int]) -> dict[int, CaseCounts]:
    """Each definition's cases by status and its cases with open incidents: two grouped queries."""
    ids = sorted(set(definition_ids))
    if not ids:
        return {}
    by_status: dict[int, dict[str, int]] = {i: {} for i in ids}
    for definition_id, status, count in session.execute(
            select(ProcessInstance.definition_id, ProcessInstance.status, func.count())
            .where(ProcessInstance.definition_id.in_(ids))
            .group_by(ProcessInstance.definition_id, ProcessInstance.status)):
        by_status[definition_id][status] = count
    incidents = dict(session.execute(
        select(ProcessInstance.definition_id, func.count(func.distinct(Incident.instance_id)))
        .join(ProcessInstance, ProcessInstance.id == Incident.instance_id)
        .where(Incident.resolved_at.is_(None), ProcessInstance.definition_id.in_(ids))
        .group_by(ProcessInstance.definition_id)).all())
    return {i: CaseCounts(running=by_status[i].get(InstanceStatus.RUNNING, 0),
                          suspended=by_status[i].get(InstanceStatus.SUSPENDED, 0),
                          completed=by_status[i].get(InstanceStatus.COMPLETED, 0),
                          cancelled=by_status[i].get(InstanceStatus.CANCELLED, 0),
                          with_open_incidents=incidents.get(i, 0)) for i in ids}


def _summaries(session: Session, rows) -> list[VersionSummary]:
    rows = list(rows)
    counts = case_counts(session, (row.id for row in rows))
    return [VersionSummary(row.id, row.key, row.version, row.name, row.deployment_id, row.deployment_name,
                           row.deployed_by, row.deployed_at, counts[row.id]) for row in rows]


class ProcessCatalog(CommandGroup):
    def list_processes(self, actor: Actor) -> list[ProcessSummary]:
        """Every deployed process (by key) with all its versions, newest first, and their case counts."""
        require_reader(actor)
        with self.core.db.reading() as session:
            versions = _summaries(session, session.execute(_version_query()))
        processes: dict[str, list[VersionSummary]] = {}
        for summary in versions:
            processes.setdefault(summary.key, []).append(summary)
        return [ProcessSummary(key, found[0].name, tuple(found)) for key, found in processes.items()]

    def versions(self, actor: Actor, key: str) -> list[VersionSummary]:
        """The versions of one process, newest first; NotFound for a key never deployed."""
        require_reader(actor)
        with self.core.db.reading() as session:
            found = _summaries(session, session.execute(_version_query().where(ProcessDefinition.key == key)))
        if not found:
            raise NotFound(f"process definition '{key}' is not deployed")
        return found

    def version(self, actor: Actor, key: str, version: int) -> VersionDetail:
        """One version: its counts, its diagram, the files deployed with it and the other versions."""
        require_reader(actor)
        with self.core.db.reading() as session:
            summary = self._summary(session, key, version)
            definition = DefinitionView.of(latest_definition(session, key, version))
            source_file = self.core.definitions.get(session, definition.id).source_file
            diagram = deployed_diagram(self.core, session, definition)
            files = tuple(VersionFile(name, kind, size or 0) for name, kind, size in session.execute(
                select(DeploymentResource.name, DeploymentResource.kind, func.length(DeploymentResource.content))
                .where(DeploymentResource.deployment_id == summary.deployment_id).order_by(DeploymentResource.name)))
            others = [v for v in session.scalars(select(ProcessDefinition.version).where(
                ProcessDefinition.key == key).order_by(ProcessDefinition.version.desc())) if v != version]
        return VersionDetail(summary, source_file, diagram, files, tuple(v for v in others if v > version),
                             tuple(v for v in others if v < version))

    def version_file(self, actor: Actor, key: str, version: int, name: str) -> FileContent:
        """One file of the version's deployment, byte for byte as deployed; NotFound for another name."""
        require_reader(actor)
        _check_version(key, version)
        with self.core.db.reading() as session:
            definition = latest_definition(session, key, version)
            row = session.execute(select(DeploymentResource.name, DeploymentResource.kind, DeploymentResource.content)
                                  .where(DeploymentResource.deployment_id == definition.deployment_id,
                                         DeploymentResource.name == name)).first()
        if row is None:
            raise NotFound(f"version {version} of '{key}' has no file '{name}'")
        return FileContent(row.name, row.kind, row.content)

    def diff(self, actor: Actor, key: str, old_version: int, new_version: int) -> VersionDiff:
        """What changed in the process model from one version to another (elements and flows by id), and which
        of the deployments' files differ."""
        require_reader(actor)
        if old_version == new_version:
            raise InvalidInput("compare two different versions", {"to": "must differ from 'from'"})
        with self.core.db.reading() as session:
            old, new = self._summary(session, key, old_version), self._summary(session, key, new_version)
            old_xml, new_xml = (deployed_diagram(self.core, session, DefinitionView.of(
                latest_definition(session, key, v))) for v in (old_version, new_version))
            old_files, new_files = (dict(session.execute(
                select(DeploymentResource.name, DeploymentResource.content)
                .where(DeploymentResource.deployment_id == s.deployment_id)).all()) for s in (old, new))
        limit = self.core.settings.max_model_bytes
        changes = diff_models(parse_model_xml(old_xml, "old", limit), parse_model_xml(new_xml, "new", limit))
        changed_files = tuple(
            (name, "added" if name not in old_files else "removed" if name not in new_files else "changed")
            for name in sorted(set(old_files) | set(new_files)) if old_files.get(name) != new_files.get(name))
        return VersionDiff(old, new, old_xml, new_xml, changes, changed_files)

    def _summary(self, session: Session, key: str, version: int) -> VersionSummary:
        _check_version(key, version)
        found = _summaries(session, session.execute(_version_query().where(
            ProcessDefinition.key == key, ProcessDefinition.version == version)))
        if not found:
            raise NotFound(f"process definition '{key}' version {version} is not deployed")
        return found[0]
