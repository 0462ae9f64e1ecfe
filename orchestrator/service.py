"""The Engine: a thin facade that builds the core and hands out one group of commands or queries per concept."""

from __future__ import annotations

from orchestrator.attachments import Attachments
from orchestrator.audit_exports import AuditExports
from orchestrator.batch_operations import BatchOperations
from orchestrator.bpmn_signals import SendSignal, Signals
from orchestrator.case_index import CaseIndex
from orchestrator.case_migration import CaseMigration
from orchestrator.case_repair import CaseRepair
from orchestrator.case_view import CaseViews
from orchestrator.comments import Comments
from orchestrator.dashboards import Dashboards
from orchestrator.deployments import Deployments
from orchestrator.engine import EngineCore
from orchestrator.external_tasks import ExternalTasks
from orchestrator.heatmap import Heatmaps
from orchestrator.instances import Instances
from orchestrator.jobs import Jobs
from orchestrator.message_connector import SendMessage
from orchestrator.message_decisions import MessageDecisions
from orchestrator.messages import Messages
from orchestrator.metric_rebuild import MetricRebuild
from orchestrator.model_drafts import ModelDrafts
from orchestrator.process_catalog import ProcessCatalog
from orchestrator.queries import Queries
from orchestrator.reexecution import Reexecution
from orchestrator.relay import Relay
from orchestrator.signals import RecallSignals
from orchestrator.start_forms import StartForms
from orchestrator.timers import Timers
from orchestrator.user_tasks import UserTasks


class Engine(EngineCore):
    """The core (settings, database, clock, connectors, the one write path) and its command groups:
    `engine.tasks.complete_user_task(...)`, `engine.jobs.run_job(...)`, `engine.queries.list_tasks(...)`.
    Each command is one transaction through `EngineCore.command`."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deployments = Deployments(self)
        self.instances = Instances(self)
        self.start_forms = StartForms(self, self.instances)
        self.messages = Messages(self, self.instances)
        self.bpmn_signals = Signals(self)
        self.tasks = UserTasks(self)
        self.jobs = Jobs(self)
        self.external_tasks = ExternalTasks(self, self.jobs)
        self.timers = Timers(self)
        self.relay = Relay(self)
        self.signals = RecallSignals(self, self.instances)
        self.queries = Queries(self)
        self.comments = Comments(self)
        self.case_repair = CaseRepair(self, self.messages)
        self.message_decisions = MessageDecisions(self)
        self.attachments = Attachments(self)
        self.case_views = CaseViews(self)
        self.audit_exports = AuditExports(self)
        self.case_index = CaseIndex(self)
        self.reexecution = Reexecution(self)
        self.model_drafts = ModelDrafts(self, self.deployments)
        self.case_migration = CaseMigration(self)
        self.batches = BatchOperations(self, self.instances, self.jobs, self.case_migration)
        self.process_catalog = ProcessCatalog(self)
        self.dashboards = Dashboards(self)
        self.heatmaps = Heatmaps(self)
        self.metric_rebuild = MetricRebuild(self)
        if SendMessage.topic not in self.connectors.connectors:  # a site or test may bring its own
            self.connectors.register(SendMessage(self))
        if SendSignal.topic not in self.connectors.connectors:
            self.connectors.register(SendSignal(self))
