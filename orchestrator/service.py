"""The Engine: every command group in one object, built from settings, a database, a clock and connectors."""

from __future__ import annotations

from orchestrator.attachments import AttachmentQueries
from orchestrator.case_index import CaseIndexCommands
from orchestrator.case_view import CaseViewQueries
from orchestrator.comments import CommentCommands
from orchestrator.deployments import DeploymentCommands
from orchestrator.jobs import JobCommands
from orchestrator.message_connector import SendMessage
from orchestrator.messages import MessageCommands
from orchestrator.queries import Queries
from orchestrator.relay import RelayCommands
from orchestrator.signals import SignalCommands
from orchestrator.start_forms import StartFormCommands
from orchestrator.timers import TimerCommands
from orchestrator.user_tasks import UserTaskCommands


class Engine(DeploymentCommands, StartFormCommands, MessageCommands, UserTaskCommands, JobCommands, TimerCommands,
             RelayCommands, SignalCommands, CommentCommands, CaseIndexCommands, CaseViewQueries, AttachmentQueries,
             Queries):
    """Start, complete, correlate, fire, relay: each method is one command in one transaction."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if SendMessage.topic not in self.connectors.connectors:  # a site or test may bring its own
            self.connectors.register(SendMessage(self))
