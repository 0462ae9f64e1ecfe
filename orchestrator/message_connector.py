"""`loopline.send_message`: a send task that delivers a message to another process (e.g. a return
opening a CAPA). Lives in the engine because it calls the engine back."""

from __future__ import annotations

from typing import Any

from integrations.registry import BusinessError, JobContext
from orchestrator.actors import Actor
from orchestrator.errors import Conflict, EngineError, NotFound

SENDER = Actor.system("send_message")


class SendMessage:
    """Input: messageName, businessKey?, correlationKeys?, variables?; output: where it went."""

    topic = "loopline.send_message"
    system = None
    timeout = 30.0

    def __init__(self, engine):
        self.engine = engine

    def run(self, variables: dict[str, Any], job: JobContext) -> dict[str, Any]:
        name = variables.get("messageName")
        if not name:
            raise BusinessError("E_INVALID_INPUT", "loopline.send_message needs messageName")
        try:
            result = self.engine.messages.correlate_message(
                name, actor=SENDER, business_key=variables.get("businessKey"),
                correlation_keys=variables.get("correlationKeys"), variables=variables.get("variables") or {},
                idempotency_key=job.idempotency_key)
        except NotFound as exc:
            raise BusinessError("E_MESSAGE_NOT_DELIVERED", exc.message) from exc
        except Conflict as exc:
            raise BusinessError("E_MESSAGE_AMBIGUOUS", exc.message) from exc
        except EngineError as exc:
            raise BusinessError("E_MESSAGE_REJECTED", exc.message) from exc
        return {"messageDeliveredTo": result.instance_id, "messageStartedInstance": result.started}
