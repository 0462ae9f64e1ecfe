"""Connectors by topic: what a service task's `camunda:topic` runs."""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy.orm import Session

from integrations.config import IntegrationSettings


class ConnectorError(Exception):
    """Base class for what a connector may raise."""


class TransientError(ConnectorError):
    """Worth retrying: a timeout, a 5xx, a 429, a dropped connection."""


class RetryLater(TransientError):
    """Not a failure: the connector waits for something outside (a provider's records to settle). The job is
    given back without spending an attempt and runs again after `after` seconds."""

    def __init__(self, message: str, after: float):
        super().__init__(message)
        self.after = max(0.0, after)


class NeedsDecision(ConnectorError):
    """Only a person can tell how to go on (e.g. whether a message whose answer was lost went out): the job
    stops as an incident, which the person retries after deciding."""


class BusinessError(ConnectorError):
    """The other side said no; becomes a BPMN error with `code` that a boundary event can catch."""

    def __init__(self, code: str, message: str = "", details: dict[str, Any] | None = None):
        super().__init__(message or code)
        self.code = code
        self.message = message or code
        self.details = details or {}


@dataclass(frozen=True)
class JobContext:
    """What a connector knows about the job it runs; `idempotency_key` must travel with any side effect."""

    job_id: int
    instance_id: str
    business_key: str | None
    element_id: str
    topic: str
    attempt: int
    idempotency_key: str
    # the task's camunda:inputParameters as the model author wrote them, None where a ${…} expression
    # computes the value: a connector tells its own template text from data (e.g. where secrets may go)
    authored_input: Mapping[str, Any] = field(default_factory=dict)
    # set when this worker no longer holds the job (its lease could not be renewed): a connector that sends
    # many messages stops before the next one, since another worker may now be sending them
    claim_lost: threading.Event = field(default_factory=threading.Event, compare=False)


@dataclass(frozen=True)
class IntegrationContext:
    """What built-in connectors get from the engine: their settings, database sessions and the clock."""

    settings: IntegrationSettings
    sessions: Callable[[], Session]
    now: Callable[[], datetime]


class Connector(Protocol):
    topic: str
    timeout: float
    # the outside system it calls ("erp", "sms", …); its circuit breaker pauses jobs while it is down
    system: str | None

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]: ...


@dataclass
class ConnectorRegistry:
    """Topic → connector; tests replace a connector by registering another under the same topic."""

    connectors: dict[str, Connector] = field(default_factory=dict)

    def register(self, connector: Connector) -> Connector:
        self.connectors[connector.topic] = connector
        return connector

    def get(self, topic: str) -> Connector:
        try:
            return self.connectors[topic]
        except KeyError:
            raise LookupError(f"no connector is registered for topic '{topic}'") from None

    def topics(self) -> list[str]:
        return sorted(self.connectors)

    def delegates(self) -> dict[str, str]:
        """Java delegate name → topic, from each connector's optional `delegates` (the class names, bean
        names or expressions a Camunda 7 model uses for the work this connector does)."""
        return {name: connector.topic for connector in self.connectors.values()
                for name in getattr(connector, "delegates", ())}


BUILT_IN_MODULES = ("integrations.business", "integrations.notify", "integrations.http_request",
                    "integrations.traceability")


def default_registry(extra_modules: tuple[str, ...] = (), context: IntegrationContext | None = None
                     ) -> ConnectorRegistry:
    """The connectors Loopline ships with, plus those of `extra_modules` (each has `register(registry)`)."""
    from integrations.demo import EchoConnector

    registry = ConnectorRegistry()
    registry.register(EchoConnector())
    if context is not None:
        for module_name in BUILT_IN_MODULES:
            importlib.import_module(module_name).register_builtin(registry, context)
    for module_name in extra_modules:
        importlib.import_module(module_name).register(registry)
    return registry
