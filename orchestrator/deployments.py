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
from orchestrator.definitions import DeploymentError, ModelFile, parse_bundle
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidModel
from orchestrator.models import Deployment, DeploymentResource, ProcessDefinition


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
        try:
            parsed = parse_bundle(files, max_bytes=self.core.settings.max_model_bytes,
                                  known_topics=self.core.known_topics, delegates=self.core.connectors.delegates())
        except DeploymentError as exc:
            raise InvalidModel(exc.problems) from exc
        for attempt in range(3):
            try:
                return self._store(files, parsed, actor, name)
            except IntegrityError:
                if attempt == 2:  # another process deploys the same keys right now
                    raise
        raise AssertionError("unreachable")

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
            for process, version in fresh:
                definition = ProcessDefinition(deployment_id=deployment.id, key=process.key, version=version,
                                               name=process.name, content_hash=process.content_hash,
                                               start_messages=process.start_messages)
                session.add(definition)
                session.flush()
                results.append(DeployedDefinition(definition.id, process.key, version, process.name,
                                                  deployment.id, new=True))
            return results

    def deploy_directory(self, directory: Path, *, actor: Actor,
                         on_rejected: Callable[[Path, InvalidModel], None] | None = None) -> list[DeployedDefinition]:
        """Deploy each BPMN file of a folder with the folder's DMN files, so one edit bumps one process.

        Without `on_rejected` the first rejected file stops the run; with it, the others still deploy."""
        directory = Path(directory)
        decisions = [read_model_file(p) for p in sorted(directory.glob("*.dmn"))]
        results = []
        for path in sorted(directory.glob("*.bpmn")):
            try:
                results.extend(self.deploy([read_model_file(path), *decisions], actor=actor, name=path.name))
            except InvalidModel as exc:
                if on_rejected is None:
                    raise
                on_rejected(path, exc)
        return results


def read_model_file(path: Path) -> ModelFile:
    return ModelFile(path.name, Path(path).read_text(encoding="utf-8"))
