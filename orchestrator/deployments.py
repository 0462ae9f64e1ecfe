"""Deployments: validated, content-hashed, versioned per process key, immutable."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.called_processes import unresolved_calls
from orchestrator.decisions import decision_ids, decision_refs
from orchestrator.definitions import DeploymentError, ModelFile, parse_bundle
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidModel
from orchestrator.model_texts import model_stem, texts_file_model, translates
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition
from orchestrator.timer_starts import schedule_timer_starts


@dataclass(frozen=True)
class DeployedDefinition:
    id: int
    key: str
    version: int
    name: str | None
    deployment_id: int
    new: bool


class Deployments(CommandGroup):
    def deploy(self, files: list[ModelFile], *, actor: Actor, name: str = "") -> list[DeployedDefinition]:
        """Store a bundle; a process whose content is unchanged keeps its version (idempotent)."""
        require(actor, Permission.DEPLOY)
        files, parsed = self._checked(files)
        for attempt in range(3):
            try:
                if not parsed:  # a DMN-only bundle
                    return self._store_decisions(files, actor, name)
                return self._store(files, parsed, actor, name)
            except IntegrityError:
                if attempt == 2:  # another process deploys the same keys right now
                    raise
        raise AssertionError("unreachable")

    def check(self, files: list[ModelFile], *, actor: Actor) -> None:
        """Run every check a deploy runs and store nothing; raise InvalidModel listing each problem."""
        require(actor, Permission.DEPLOY)
        self._checked(files)

    def _checked(self, files: list[ModelFile]) -> tuple[list[ModelFile], dict]:
        """The bundle with the deployed decisions it names, and its parsed processes; InvalidModel if rejected."""
        files = [*files, *self._deployed_decisions(files)]
        try:
            parsed = parse_bundle(files, max_bytes=self.core.settings.max_model_bytes,
                                  known_topics=self.core.known_topics, delegates=self.core.connectors.delegates())
        except DeploymentError as exc:
            raise InvalidModel(exc.problems) from exc
        if any(process.has_deployed_calls for process in parsed.values()):
            with self.core.db.reading() as session:
                if unresolved := unresolved_calls(session, parsed):
                    raise InvalidModel(unresolved)
        return files, parsed

    def _deployed_decisions(self, files: list[ModelFile]) -> list[ModelFile]:
        """The latest deployed DMN file (with its translation files) of each decision a business rule task names
        but the bundle lacks.

        It is stored with the new deployment, so the process version keeps the decision version it was
        deployed with (deploy the process again to take up a newer decision)."""
        limit = self.core.settings.max_model_bytes
        wanted = set().union(*(decision_refs(f.content, limit) for f in files if f.kind == "bpmn"))
        wanted -= set().union(*(decision_ids(f.content, limit) for f in files if f.kind == "dmn"))
        if not wanted:
            return []
        names = {f.name for f in files}
        found: dict[tuple[str, str], ModelFile] = {}
        with self.core.db.reading() as session:
            for decision_id in sorted(wanted):
                latest = _latest_decision_file(session, decision_id, limit)
                if latest is not None:
                    deployment_id, model = latest
                    prefix = "" if model.name not in names else f"deployment-{deployment_id}-"
                    found.setdefault((model.name, model.content), ModelFile(prefix + model.name, model.content))
                    for texts in _stored_translations(session, deployment_id, model.name):
                        found.setdefault((texts.name, texts.content), ModelFile(prefix + texts.name, texts.content))
        return list(found.values())

    def _store_decisions(self, files: list[ModelFile], actor: Actor, name: str) -> list[DeployedDefinition]:
        """Store a DMN-only bundle unless each of its decisions is already deployed with this very file and
        these very translations."""
        limit = self.core.settings.max_model_bytes
        with self.core.db.transaction() as session:
            unchanged = all(
                (latest := _latest_decision_file(session, decision_id, limit)) is not None
                and latest[1].content == model.content
                and _translations(files, model.name) == _translations(
                    _stored_translations(session, latest[0], latest[1].name), latest[1].name)
                for model in files for decision_id in decision_ids(model.content, limit))
            if not unchanged:
                self._add_deployment(session, files, actor, name)
        return []

    def _add_deployment(self, session, files: list[ModelFile], actor: Actor, name: str) -> Deployment:
        bundle_hash = hashlib.sha256(
            "".join(f.name + "\0" + f.content for f in sorted(files, key=lambda f: f.name)).encode("utf-8")
        ).hexdigest()
        deployment = Deployment(name=name or ", ".join(sorted(f.name for f in files)), content_hash=bundle_hash,
                                deployed_by=actor.name, deployed_at=self.core.now())
        session.add(deployment)
        session.flush()
        for model in files:
            session.add(DeploymentResource(deployment_id=deployment.id, name=model.name, kind=model.kind,
                                           content=model.content))
        return deployment

    def _store(self, files, parsed, actor: Actor, name: str) -> list[DeployedDefinition]:
        with self.core.db.transaction() as session:
            results: list[DeployedDefinition] = []
            fresh = []
            for key, process in parsed.items():
                latest = session.scalars(
                    select(ProcessDefinition).where(ProcessDefinition.key == key)
                    .order_by(ProcessDefinition.version.desc()).limit(1)
                ).first()
                if latest is not None and latest.content_hash == process.content_hash:
                    results.append(DeployedDefinition(latest.id, key, latest.version, latest.name,
                                                      latest.deployment_id, new=False))
                else:
                    fresh.append((process, latest.version + 1 if latest else 1))
            if not fresh:
                return results
            deployment = self._add_deployment(session, files, actor, name)
            for process, version in fresh:
                definition = ProcessDefinition(deployment_id=deployment.id, key=process.key, version=version,
                                               name=process.name, content_hash=process.content_hash,
                                               start_messages=process.start_messages)
                session.add(definition)
                session.flush()
                # a new version's timer start events replace the older versions' schedules
                schedule_timer_starts(session, definition, process.spec, self._evaluate_timer, self.core.now())
                results.append(DeployedDefinition(definition.id, process.key, version, process.name,
                                                  deployment.id, new=True))
            return results

    def _evaluate_timer(self, expression: str):
        """A timer start event's value, computed at deploy time without variables (as Camunda does)."""
        return self.core.script_engine.evaluator.evaluate(expression, {})

    def deploy_directory(self, directory: Path, *, actor: Actor,
                         on_rejected: Callable[[Path, InvalidModel], None] | None = None) -> list[DeployedDefinition]:
        """Deploy each BPMN file of a folder with its translation files (`<model>.<language>.json`) and the
        folder's DMN files with theirs, so one edit bumps one process.

        Without `on_rejected` the first rejected file stops the run; with it, the others still deploy."""
        directory = Path(directory)
        decision_paths = sorted([*directory.glob("*.dmn"), *directory.glob("*.dmn11.xml")])
        decision_texts = [p for path in decision_paths for p in sorted(directory.glob(f"{model_stem(path.name)}.*.json"))]
        decisions = [read_model_file(p) for p in [*decision_paths, *decision_texts]]
        results = []
        for path in sorted([*directory.glob("*.bpmn"), *directory.glob("*.bpmn20.xml")]):
            try:
                texts = [read_model_file(p) for p in sorted(directory.glob(f"{model_stem(path.name)}.*.json"))]
                results.extend(self.deploy([read_model_file(path), *texts, *decisions], actor=actor, name=path.name))
            except InvalidModel as exc:
                if on_rejected is None:
                    raise
                on_rejected(path, exc)
        return results


def _stored_translations(session, deployment_id: int, decision_file: str) -> list[ModelFile]:
    """The translation files deployed with a DMN file (`<decision file>.<language>.json`)."""
    rows = session.execute(select(DeploymentResource.name, DeploymentResource.content).where(
        DeploymentResource.deployment_id == deployment_id, DeploymentResource.kind == "texts"))
    return [ModelFile(name, content) for name, content in rows if translates(name, decision_file)]


def _translations(files: list[ModelFile], decision_file: str) -> set[tuple[str, str]]:
    """(language, content) of each translation file of `decision_file` among `files`."""
    return {(texts_file_model(f.name)[1], f.content) for f in files if translates(f.name, decision_file)}


def _latest_decision_file(session, decision_id: str, max_bytes: int) -> tuple[int, ModelFile] | None:
    """(deployment id, file) of the most recently deployed DMN file defining `decision_id`, or None."""
    rows = session.execute(
        select(DeploymentResource.deployment_id, DeploymentResource.name, DeploymentResource.content)
        .where(DeploymentResource.kind == "dmn", DeploymentResource.content.contains(decision_id, autoescape=True))
        .order_by(DeploymentResource.deployment_id.desc(), DeploymentResource.id.desc())
    )
    for deployment_id, name, content in rows:
        if decision_id in decision_ids(content, max_bytes):
            return deployment_id, ModelFile(name, content)
    return None


def read_model_file(path: Path) -> ModelFile:
    return ModelFile(path.name, Path(path).read_text(encoding="utf-8"))
