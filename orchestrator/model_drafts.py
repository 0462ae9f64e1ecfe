"""Modeler drafts: a process owner opens a deployed model (or a template) as a draft of their own, saves it,
validates it with the checks a deploy runs and deploys it as a new version."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from xml.sax.saxutils import escape, quoteattr

from lxml import etree
from sqlalchemy import func, select

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.case_repair import text_problem
from orchestrator.decisions import decision_ids
from orchestrator.definitions import BPMN_NS, ModelFile
from orchestrator.deployments import DeployedDefinition, Deployments
from orchestrator.draft_models import ModelDraft
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import InvalidInput, InvalidModel, NotFound
from orchestrator.model_texts import translates
from orchestrator.models import DeploymentResource, ProcessDefinition
from orchestrator.xml_safety import UnsafeXmlError, parse_model_xml

MAX_DRAFTS_PER_OWNER = 200
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,150}\.(bpmn|dmn)$")
PROCESS_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,150}$")
# "<file>: [process 'p', |process 'p': ]element '<id>'[:] <message>": how every pinned problem is written
PINNED_PROBLEM = re.compile(r"^(?P<file>[^:]+?): (?:process '[^']*'[,:] )?element '(?P<element>[^']+)':? (?P<message>.*)$",
                            re.DOTALL)
FILE_PROBLEM = re.compile(r"^(?P<file>[^:\s]+\.(?:bpmn|dmn|json|xml)): (?P<message>.*)$", re.DOTALL)


@dataclass(frozen=True)
class DraftView:
    id: int
    owner: str
    process_key: str | None
    file_name: str
    kind: str
    based_on: int | None
    based_on_version: int | None
    created_at: datetime
    updated_at: datetime
    content: str


@dataclass(frozen=True)
class ModelProblemView:
    """One reason a draft is refused: its file, the element it is about (when known) and what is wrong."""

    message: str
    file: str | None = None
    element_id: str | None = None


class ModelDrafts(CommandGroup):
    def __init__(self, core: EngineCore, deployments: Deployments):
        super().__init__(core)
        self.deployments = deployments

    def list_drafts(self, actor: Actor) -> list[DraftView]:
        """The actor's own drafts, last edited first (without their content)."""
        require(actor, Permission.DEPLOY)
        with self.core.db.reading() as session:
            rows = session.scalars(select(ModelDraft).where(ModelDraft.owner == actor.name)
                                   .order_by(ModelDraft.updated_at.desc(), ModelDraft.id.desc())).all()
            versions = _versions(session, {r.based_on for r in rows if r.based_on})
            return [_view(r, versions, content=False) for r in rows]

    def open_draft(self, draft_id: int, *, actor: Actor) -> DraftView:
        """One of the actor's drafts with its content; NotFound for another person's draft."""
        require(actor, Permission.DEPLOY)
        with self.core.db.reading() as session:
            row = _own(session, draft_id, actor)
            return _view(row, _versions(session, {row.based_on} if row.based_on else set()))

    def new_process(self, key: str, name: str, *, actor: Actor) -> DraftView:
        """A draft of a new process from the template: start → user task → end, in the Camunda 7 flavour."""
        require(actor, Permission.DEPLOY)
        key, name = (key or "").strip(), (name or "").strip()
        errors = {}
        if not PROCESS_KEY.match(key):
            errors["key"] = "letters, digits, _ . - and starting with a letter or _ (it becomes the process id)"
        if not name or len(name) > 200:
            errors["name"] = "is required, at most 200 characters"
        if errors:
            raise InvalidInput("the new process needs an id and a name", errors)
        return self._create(actor, key, f"{key}.bpmn", "bpmn", process_template(key, name), None)

    def open_deployed(self, key: str, version: int | None = None, *, actor: Actor,
                      create: bool = True) -> DraftView | None:
        """The actor's draft of a deployed process (latest or given version): their existing draft of that
        version, else (unless `create` is False: None) a new draft holding the file as it was deployed."""
        require(actor, Permission.DEPLOY)
        with self.core.db.reading() as session:
            query = select(ProcessDefinition).where(ProcessDefinition.key == key)
            query = query.where(ProcessDefinition.version == version) if version else \
                query.order_by(ProcessDefinition.version.desc()).limit(1)
            definition = session.scalars(query).first()
            if definition is None:
                raise NotFound(f"process '{key}'" + (f" version {version}" if version else "") + " is not deployed")
            existing = session.scalars(select(ModelDraft).where(
                ModelDraft.owner == actor.name, ModelDraft.process_key == key,
                ModelDraft.based_on == definition.id).order_by(ModelDraft.updated_at.desc())).first()
            if existing is not None or not create:
                return _view(existing, {definition.id: definition.version}) if existing is not None else None
            resource = self._process_file(session, definition)
        return self._create(actor, key, resource.name, "bpmn", resource.content, definition.id)

    def open_decision(self, decision_id: str, *, actor: Actor) -> DraftView:
        """The actor's draft of the DMN file that last deployed `decision_id` (their existing one, else a new one)."""
        require(actor, Permission.DEPLOY)
        limit = self.core.settings.max_model_bytes
        with self.core.db.reading() as session:
            existing = session.scalars(select(ModelDraft).where(
                ModelDraft.owner == actor.name, ModelDraft.process_key == decision_id, ModelDraft.kind == "dmn")
                .order_by(ModelDraft.updated_at.desc())).first()
            if existing is not None:
                return _view(existing, {})
            rows = session.execute(
                select(DeploymentResource.name, DeploymentResource.content)
                .where(DeploymentResource.kind == "dmn",
                       DeploymentResource.content.contains(decision_id, autoescape=True))
                .order_by(DeploymentResource.deployment_id.desc(), DeploymentResource.id.desc())).all()
            found = next(((n, c) for n, c in rows if decision_id in decision_ids(c, limit)), None)
        if found is None:
            raise NotFound(f"decision '{decision_id}' is not deployed")
        return self._create(actor, decision_id, found[0], "dmn", found[1], None)

    def deployed_decisions(self, *, actor: Actor) -> list[tuple[str, str]]:
        """(decision id, file name) of each decision of the latest deployed DMN file of each name."""
        require(actor, Permission.DEPLOY)
        limit = self.core.settings.max_model_bytes
        latest: dict[str, str] = {}
        with self.core.db.reading() as session:
            for name, content in session.execute(
                    select(DeploymentResource.name, DeploymentResource.content)
                    .where(DeploymentResource.kind == "dmn").order_by(DeploymentResource.id.desc())):
                latest.setdefault(name, content)
        return sorted((decision, name) for name, content in latest.items()
                      for decision in decision_ids(content, limit))

    def save_draft(self, draft_id: int, content: str, *, actor: Actor) -> DraftView:
        """Replace the draft's content (the actor's own draft; at most the model size limit)."""
        require(actor, Permission.DEPLOY)
        content = self._checked_content(content)
        with self.core.db.transaction() as session:
            row = _own(session, draft_id, actor)
            row.content = content
            row.process_key = _defined_key(content, row.kind, self.core.settings.max_model_bytes) or row.process_key
            row.updated_at = self.core.now()
            session.flush()
            return _view(row, _versions(session, {row.based_on} if row.based_on else set()))

    def delete_draft(self, draft_id: int, *, actor: Actor) -> None:
        require(actor, Permission.DEPLOY)
        with self.core.db.transaction() as session:
            session.delete(_own(session, draft_id, actor))

    def validate_draft(self, draft_id: int, *, actor: Actor) -> list[ModelProblemView]:
        """Every problem a deploy of the draft would refuse it for (empty: it would deploy); stores nothing."""
        require(actor, Permission.DEPLOY)
        files = self._bundle(draft_id, actor)
        try:
            self.deployments.check(files, actor=actor)
        except InvalidModel as exc:
            return structured_problems(exc.problems)
        return []

    def deploy_draft(self, draft_id: int, *, actor: Actor) -> list[DeployedDefinition]:
        """Deploy the draft as a new version (InvalidModel, nothing stored, when refused). The draft stays its
        owner's, now a draft of the version it deployed (what opening that version gives again): a draft the
        API created is there until its owner deletes it, whatever else was done with it."""
        require(actor, Permission.DEPLOY)
        files = self._bundle(draft_id, actor)
        deployed = self._unchanged(draft_id) or self.deployments.deploy(files, actor=actor, name=files[0].name)
        with self.core.db.transaction() as session:
            row = session.get(ModelDraft, draft_id)
            if row is not None and row.owner == actor.name:
                version = next((d for d in deployed if row.kind == "bpmn" and d.key == row.process_key), None)
                if version is not None:
                    row.based_on = version.id
                row.updated_at = self.core.now()
        return deployed

    def _unchanged(self, draft_id: int) -> list[DeployedDefinition]:
        """The latest version, when the draft is that version's file unchanged: nothing to deploy. (Deployed
        again, its bundle would differ from a directory deploy's, which carries every DMN file, and make a
        version equal to the last.)"""
        with self.core.db.reading() as session:
            row = session.get(ModelDraft, draft_id)
            definition = session.get(ProcessDefinition, row.based_on) if row.based_on is not None else None
            if definition is None or session.scalar(select(func.max(ProcessDefinition.version)).where(
                    ProcessDefinition.key == definition.key)) != definition.version:
                return []
            if self._process_file(session, definition).content != row.content:
                return []
            return [DeployedDefinition(definition.id, definition.key, definition.version, definition.name,
                                       definition.deployment_id, new=False)]

    def _bundle(self, draft_id: int, actor: Actor) -> list[ModelFile]:
        """The draft's file with the translation files deployed with the version it was opened from (a DMN
        file: its last deployment) (`<model>.<language>.json`): a deployed edit keeps the model's other languages. Decisions the process
        names come from the deployed DMN files, as in any deploy."""
        with self.core.db.reading() as session:
            row = _own(session, draft_id, actor)
            files = [ModelFile(row.file_name, row.content)]
            if row.based_on is not None:
                deployment_id = session.get(ProcessDefinition, row.based_on).deployment_id
            else:  # a DMN file (or a new process): the deployment that last stored a file of this name
                deployment_id = session.scalar(select(func.max(DeploymentResource.deployment_id)).where(
                    DeploymentResource.name == row.file_name, DeploymentResource.kind == row.kind))
            if deployment_id is not None:
                texts = session.execute(select(DeploymentResource.name, DeploymentResource.content).where(
                    DeploymentResource.deployment_id == deployment_id, DeploymentResource.kind == "texts")).all()
                files += [ModelFile(name, content) for name, content in texts if translates(name, row.file_name)]
        return files

    def _create(self, actor: Actor, key: str | None, file_name: str, kind: str, content: str,
                based_on: int | None) -> DraftView:
        if not FILE_NAME.match(file_name):
            raise InvalidInput("invalid file name", {"fileName": "a .bpmn or .dmn file name"})
        content = self._checked_content(content)
        now = self.core.now()
        with self.core.db.transaction() as session:
            count = len(session.scalars(select(ModelDraft.id).where(ModelDraft.owner == actor.name)).all())
            if count >= MAX_DRAFTS_PER_OWNER:
                raise InvalidInput("too many drafts", {"drafts": f"at most {MAX_DRAFTS_PER_OWNER}; delete some"})
            row = ModelDraft(owner=actor.name, process_key=key, file_name=file_name, kind=kind, content=content,
                             based_on=based_on, created_at=now, updated_at=now)
            session.add(row)
            session.flush()
            return _view(row, _versions(session, {based_on} if based_on else set()))

    def _checked_content(self, content: str) -> str:
        limit = self.core.settings.max_model_bytes
        if not isinstance(content, str) or not content.strip():
            raise InvalidInput("the draft is empty", {"content": "is required"})
        if problem := text_problem(content):
            raise InvalidInput("the draft is not text a model can hold", {"content": problem})
        if len(content.encode("utf-8")) > limit:
            raise InvalidInput("the draft is too large", {"content": f"at most {limit} bytes"})
        return content

    def _process_file(self, session, definition: ProcessDefinition) -> DeploymentResource:
        """The BPMN file of the definition's deployment that defines its process."""
        resources = session.scalars(select(DeploymentResource).where(
            DeploymentResource.deployment_id == definition.deployment_id, DeploymentResource.kind == "bpmn")).all()
        for resource in resources:
            if _defined_key(resource.content, "bpmn", self.core.settings.max_model_bytes, want=definition.key):
                return resource
        raise NotFound(f"the file of process '{definition.key}' version {definition.version} is not stored")


def structured_problems(problems: list[str]) -> list[ModelProblemView]:
    """Each deploy problem with its file and element split off (the engine writes them as
    "<file>: element '<id>': <what>")."""
    views = []
    for problem in problems:
        if pinned := PINNED_PROBLEM.match(problem):
            views.append(ModelProblemView(pinned["message"], pinned["file"], pinned["element"]))
        elif in_file := FILE_PROBLEM.match(problem):
            views.append(ModelProblemView(in_file["message"], in_file["file"]))
        else:
            views.append(ModelProblemView(problem))
    return views


def process_template(key: str, name: str) -> str:
    """A minimal Camunda 7 process: start → user task → end, with its diagram. The start event has a one-field
    form (the case's reference, its business key), so people can start the process from the New menu as soon
    as it is deployed."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" xmlns:dc="http://www.omg.org/spec/DD/20100524/DC"
  xmlns:di="http://www.omg.org/spec/DD/20100524/DI" xmlns:camunda="http://camunda.org/schema/1.0/bpmn"
  id="definitions_{key}" targetNamespace="http://bpmn.io/schema/bpmn" exporter="Loopline" exporterVersion="1">
  <bpmn:process id={quoteattr(key)} name={quoteattr(name)} isExecutable="true" camunda:historyTimeToLive="P180D">
    <bpmn:extensionElements>
      <camunda:properties>
        <camunda:property name="businessKeyField" value="caseReference" />
      </camunda:properties>
    </bpmn:extensionElements>
    <bpmn:startEvent id="start" name="Started">
      <bpmn:extensionElements>
        <camunda:formData>
          <camunda:formField id="caseReference" label="Case reference" type="string">
            <camunda:validation>
              <camunda:constraint name="required" />
            </camunda:validation>
          </camunda:formField>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:outgoing>to_first_task</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:userTask id="first_task" name="First task" camunda:candidateGroups="customer_service" camunda:dueDate="P1D">
      <bpmn:incoming>to_first_task</bpmn:incoming>
      <bpmn:outgoing>to_end</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="Done">
      <bpmn:incoming>to_end</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="to_first_task" sourceRef="start" targetRef="first_task" />
    <bpmn:sequenceFlow id="to_end" sourceRef="first_task" targetRef="end" />
  </bpmn:process>
  <bpmndi:BPMNDiagram id="diagram_{escape(key)}">
    <bpmndi:BPMNPlane id="plane_{escape(key)}" bpmnElement={quoteattr(key)}>
      <bpmndi:BPMNShape id="start_di" bpmnElement="start">
        <dc:Bounds x="180" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="first_task_di" bpmnElement="first_task">
        <dc:Bounds x="270" y="78" width="100" height="80" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNShape id="end_di" bpmnElement="end">
        <dc:Bounds x="432" y="100" width="36" height="36" />
      </bpmndi:BPMNShape>
      <bpmndi:BPMNEdge id="to_first_task_di" bpmnElement="to_first_task">
        <di:waypoint x="216" y="118" />
        <di:waypoint x="270" y="118" />
      </bpmndi:BPMNEdge>
      <bpmndi:BPMNEdge id="to_end_di" bpmnElement="to_end">
        <di:waypoint x="370" y="118" />
        <di:waypoint x="432" y="118" />
      </bpmndi:BPMNEdge>
    </bpmndi:BPMNPlane>
  </bpmndi:BPMNDiagram>
</bpmn:definitions>
"""


def _own(session, draft_id: int, actor: Actor) -> ModelDraft:
    """The actor's draft; another person's draft is NotFound like a missing one (nothing is told about it)."""
    row = session.get(ModelDraft, draft_id)
    if row is None or row.owner != actor.name:
        raise NotFound(f"draft {draft_id} not found")
    return row


def _versions(session, definition_ids: set[int]) -> dict[int, int]:
    if not definition_ids:
        return {}
    return dict(session.execute(select(ProcessDefinition.id, ProcessDefinition.version)
                                .where(ProcessDefinition.id.in_(definition_ids))).all())


def _view(row: ModelDraft, versions: dict[int, int], *, content: bool = True) -> DraftView:
    return DraftView(id=row.id, owner=row.owner, process_key=row.process_key, file_name=row.file_name, kind=row.kind,
                     based_on=row.based_on, based_on_version=versions.get(row.based_on) if row.based_on else None,
                     created_at=row.created_at, updated_at=row.updated_at, content=row.content if content else "")


def _defined_key(content: str, kind: str, max_bytes: int, want: str | None = None) -> str | None:
    """The first executable process id (BPMN) or decision id (DMN) the file defines, or `want` if it defines
    that one; None when there is none or the file cannot be read."""
    try:
        if kind == "dmn":
            ids = sorted(decision_ids(content, max_bytes))
        else:
            root = parse_model_xml(content, "draft", max_bytes)
            ids = [p.get("id") for p in root.iter(f"{{{BPMN_NS}}}process")
                   if p.get("id") and p.get("isExecutable", "true").lower() == "true"]
    except (UnsafeXmlError, etree.XMLSyntaxError, ValueError):
        return None
    if want is not None:
        return want if want in ids else None
    return ids[0] if ids else None
