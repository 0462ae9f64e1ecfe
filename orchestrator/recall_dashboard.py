"""The recall dashboard's figures: per recall and audience (trade, consumers), the units in scope, how many
recipients the notice was sent to, reached, was opened by and acknowledged by, the units returned / corrected /
destroyed against the scope, the effectiveness level reached and the days since the recall started.

Recalls are few, so each is read on its own: its scope variables (the instance's variables column, not its
workflow state) and the figures `integrations.recall_progress` computes for the status report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from integrations.recall_progress import AUDIENCES, notice_reach, progress_figures
from integrations.registry import BusinessError
from orchestrator.dashboard_queries import DashboardFilter, case_conditions, share
from orchestrator.metric_models import CaseMetric
from orchestrator.models import ProcessInstance

RECALL_KEY = "recall"
CAMPAIGN_VARIABLES = {"trade": "partnerCampaignId", "consumers": "consumerCampaignId"}
# 21 CFR 7.42(b)(3): the share of consignees an effectiveness check reaches at each level
LEVELS = (("A", 1.0), ("B", 0.5), ("C", 0.1), ("D", 0.02))
MAX_RECALLS = 200


@dataclass(frozen=True)
class AudienceRow:
    audience: str  # trade | consumers | total
    scope: float  # units in scope
    consignees: int
    notified: int
    delivered: int
    opened: int
    acknowledged: int
    returned: float
    corrected: float
    destroyed: float
    accounted_share: float | None  # (returned + corrected + destroyed) / scope
    acknowledged_share: float | None  # of those notified


@dataclass(frozen=True)
class RecallRow:
    instance_id: str
    business_key: str | None
    status: str
    started_at: datetime
    days_since_start: int
    required_level: str | None  # the effectiveness check level decided for the recall (A–E)
    level_reached: str | None  # the deepest level the acknowledgements reach; None: not even D
    audiences: tuple[AudienceRow, ...]  # trade, consumers, total; empty while the scope is not known
    scope_known: bool


@dataclass(frozen=True)
class RecallDashboard:
    criteria: DashboardFilter
    recalls: tuple[RecallRow, ...]
    capped: bool  # more recalls matched than MAX_RECALLS: the newest are shown


def level_reached(acknowledged: int, notified: int) -> str | None:
    """The deepest effectiveness level (A 100 %, B 50 %, C 10 %, D 2 % of those notified) acknowledgements reach."""
    if not notified:
        return None
    return next((level for level, needed in LEVELS if acknowledged / notified >= needed), None)


def _audience(name: str, figures: dict[str, Any], reach: dict[str, int]) -> AudienceRow:
    accounted = figures["returned"] + figures["corrected"] + figures["destroyed"]
    return AudienceRow(name, figures["scopeQuantity"], figures["consignees"], figures["notified"],
                       reach.get("delivered", 0), reach.get("opened", 0), figures["responded"], figures["returned"],
                       figures["corrected"], figures["destroyed"], share(accounted, figures["scopeQuantity"]),
                       share(figures["responded"], figures["notified"]))


def recall_row(session: Session, metric: CaseMetric, variables: dict[str, Any], now: datetime) -> RecallRow:
    days = max((now - metric.started_at).days, 0)
    required = variables.get("effectivenessLevel")
    try:
        figures = progress_figures(session, variables)
    except (BusinessError, TypeError, ValueError):  # consignees or lots not traced yet, or not as expected
        return RecallRow(metric.instance_id, metric.business_key, metric.status, metric.started_at, days,
                         required, None, (), False)
    reach: dict[str, dict[str, int]] = {}
    for audience in AUDIENCES:
        campaign_id = str(variables.get(CAMPAIGN_VARIABLES[audience]) or "").strip()
        reach[audience] = notice_reach(session, campaign_id) if campaign_id else {}
    rows = [_audience(audience, figures[audience], reach[audience]) for audience in AUDIENCES]
    total_reach = {name: sum(reach[a].get(name, 0) for a in AUDIENCES) for name in ("delivered", "opened")}
    total = _audience("total", figures["total"], total_reach)
    return RecallRow(metric.instance_id, metric.business_key, metric.status, metric.started_at, days,
                     str(required) if required else None, level_reached(total.acknowledged, total.notified),
                     (*rows, total), True)


def recall_figures(session: Session, criteria: DashboardFilter, now: datetime) -> RecallDashboard:
    """Every recall matching `criteria` (newest first, at most MAX_RECALLS) with its figures."""
    found = session.execute(
        select(CaseMetric, ProcessInstance.variables).join(ProcessInstance, ProcessInstance.id == CaseMetric.instance_id)
        .where(*case_conditions(RECALL_KEY, criteria))
        .order_by(CaseMetric.started_at.desc(), CaseMetric.instance_id).limit(MAX_RECALLS + 1)).all()
    rows = tuple(recall_row(session, metric, variables or {}, now) for metric, variables in found[:MAX_RECALLS])
    return RecallDashboard(criteria, rows, len(found) > MAX_RECALLS)
