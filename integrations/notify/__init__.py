"""Notifications as service tasks: SMS, e-mail and recall campaigns, tracked per recipient."""

from __future__ import annotations

from integrations.notify.backends import make_backend
from integrations.notify.connectors import build_connectors
from integrations.registry import ConnectorRegistry, IntegrationContext


def register_builtin(registry: ConnectorRegistry, context: IntegrationContext) -> None:
    """Register notify.sms, notify.email, notify.campaign and notify.campaign_status on the chosen backend."""
    backend = make_backend(context.settings.notify)
    for connector in build_connectors(context, backend):
        registry.register(connector)
