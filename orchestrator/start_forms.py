"""Start a process from its start event's form, as a person does from the "New" menu."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from orchestrator.actors import Actor
from orchestrator.attachments import Upload
from orchestrator.authorization import Permission, require
from orchestrator.clock import using_clock
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import InvalidInput, NotFound
from orchestrator.instances import Instances, latest_definition, running_case_with_key
from orchestrator.models import Attachment, ProcessDefinition, ProcessInstance
from orchestrator.user_tasks import checked_values


class StartForms(CommandGroup):
    def __init__(self, core: EngineCore, instances: Instances):
        super().__init__(core)
        self.instances = instances

    def start_form(self, key: str) -> tuple[ProcessDefinition, list[dict[str, Any]]]:
        """The latest version of a process and its start form; NotFound when it has none."""
        with self.core.db.reading() as session:
            definition = latest_definition(session, key)
            parsed = self.core.definitions.get(session, definition.id)
        if not parsed.start_form:
            raise NotFound(f"process '{key}' has no start form")
        return definition, parsed.start_form

    def start_fields(self, key: str, version: int | None = None) -> tuple[ProcessDefinition, list[dict[str, Any]]]:
        """The latest (or given) version and the fields its start checks; none when its start event has no form."""
        with self.core.db.reading() as session:
            definition = latest_definition(session, key, version)
            return definition, self.core.definitions.get(session, definition.id).start_form

    def startable_definitions(self) -> list[ProcessDefinition]:
        """Latest version of each process that people can start from a form."""
        latest: dict[str, ProcessDefinition] = {}
        with self.core.db.reading() as session:
            for definition in session.scalars(select(ProcessDefinition).order_by(
                    ProcessDefinition.key, ProcessDefinition.version.desc())):
                latest.setdefault(definition.key, definition)
            return [d for d in latest.values() if self.core.definitions.get(session, d.id).start_form]

    def start_from_form(self, key: str, values: dict[str, Any] | None, *, actor: Actor,
                        uploads: dict[str, list[Upload]] | None = None, business_key: str | None = None,
                        idempotency_key: str | None = None, version: int | None = None) -> ProcessInstance:
        """Start the latest (or given) version with values checked by its start form; the business key comes
        from the field the model names (camunda property businessKeyField) unless one is given. A second
        submission of the same form (same idempotency key) returns the first case."""
        require(actor, Permission.START)
        return self.instances.start_once(key, idempotency_key, lambda session: self.start_from_form_in(
            session, key, values, actor, uploads, business_key, idempotency_key, version))

    def start_from_form_in(self, session: Session, key: str, values, actor: Actor, uploads, business_key,
                           idempotency_key, version: int | None) -> ProcessInstance:
        """`start_from_form` inside the caller's transaction (a batch of starts); the caller checks START."""
        definition = latest_definition(session, key, version)
        parsed = self.core.definitions.get(session, definition.id)
        if not parsed.start_form:
            raise NotFound(f"process '{key}' has no start form")
        instance_id = str(uuid.uuid4())
        with session.no_autoflush, using_clock(self.core.clock):  # date rules read the engine's clock
            clean = checked_values(self.core, session, parsed.start_form, values, uploads, actor, instance_id, None,
                                   f"start form of '{key}'")
            # the case's row does not exist yet: its files wait outside the session until it does, so no
            # flush (a query while the case starts) can write a file before its case
            files = [row for row in session.new if isinstance(row, Attachment) and row.instance_id == instance_id]
            for row in files:
                session.expunge(row)
        field = parsed.business_key_field
        if field and not business_key:
            business_key = str(clean.get(field) or "") or None
        if business_key is not None and len(business_key) > 200:
            raise InvalidInput("business key too long", {field or "businessKey": "at most 200 characters"})
        if business_key and running_case_with_key(session, key, business_key):
            # messages correlate by business key: two running cases with one key could never receive them
            raise InvalidInput(f"a running '{key}' case already has the key {business_key}",
                               {field or "businessKey": f"{business_key} is already in use by a running case"})
        instance = self.instances.start_in(session, definition, actor, business_key, clean, idempotency_key,
                                           instance_id=instance_id)
        session.add_all(files)
        return instance

