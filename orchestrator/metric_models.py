"""The tables management figures are read from, kept current by the commands themselves.

- `case_metric`: one narrow row per case with the business facts a dashboard groups and sums by (SKU,
  reason, region, channel, grade, disposition, costs, milestones). Which variable feeds which column is
  declared on the process (camunda properties ``metric.<column>``, see `case_metrics`).
- `element_stat`: per deployed version and element, how many times it was passed, how often late, and a
  histogram of the time spent (log-scale buckets): the heatmap and the SLA forecast read medians and p90s
  from it without touching a case. Rows are spread over a few shards so concurrent commands rarely wait
  on one another; flows are kept as ``source>target`` with bucket -1.
- `sales_volume`: units sold per SKU, month and region (imported), the denominator of the return rate.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, Float, ForeignKey, Index, Integer, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from orchestrator.db import Base, UTCDateTime

DIMENSIONS = ("sku", "lot", "reason", "region", "channel", "outcome", "grade", "disposition", "fault_code",
              "supplier", "severity")
AMOUNTS = ("quantity", "value", "recovered_value", "refund_amount", "cost_logistics", "cost_parts", "cost_labour")
MILESTONES = ("received_at", "resolved_at")


class CaseMetric(Base):
    __tablename__ = "case_metric"
    __table_args__ = (
        Index("ix_case_metric_process_started", "process_key", "started_at"),
        Index("ix_case_metric_process_status", "process_key", "status"),
    )
    instance_id: Mapped[str] = mapped_column(ForeignKey("process_instance.id"), primary_key=True)
    process_key: Mapped[str] = mapped_column(String(200))
    business_key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # the stage an open case is in (a user task's `stage` property, e.g. "D4"); "closed" once it ended
    stage: Mapped[str | None] = mapped_column(String(50))
    sku: Mapped[str | None] = mapped_column(String(200))
    lot: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(String(200))
    region: Mapped[str | None] = mapped_column(String(200))
    channel: Mapped[str | None] = mapped_column(String(200))
    outcome: Mapped[str | None] = mapped_column(String(200))
    grade: Mapped[str | None] = mapped_column(String(200))
    disposition: Mapped[str | None] = mapped_column(String(200))
    fault_code: Mapped[str | None] = mapped_column(String(200))
    supplier: Mapped[str | None] = mapped_column(String(200))
    severity: Mapped[str | None] = mapped_column(String(200))
    quantity: Mapped[float | None] = mapped_column(Float)
    value: Mapped[float | None] = mapped_column(Float)
    recovered_value: Mapped[float | None] = mapped_column(Float)
    refund_amount: Mapped[float | None] = mapped_column(Float)
    cost_logistics: Mapped[float | None] = mapped_column(Float)
    cost_parts: Mapped[float | None] = mapped_column(Float)
    cost_labour: Mapped[float | None] = mapped_column(Float)
    received_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ElementStat(Base):
    __tablename__ = "element_stat"
    definition_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    element_id: Mapped[str] = mapped_column(String(401), primary_key=True)  # a flow: "source>target"
    bucket: Mapped[int] = mapped_column(SmallInteger, primary_key=True)  # see element_stats.bucket_of; -1: flow
    shard: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    passes: Mapped[int] = mapped_column(Integer)
    overdue: Mapped[int] = mapped_column(Integer)  # passes that ended after the task's due date
    seconds: Mapped[float] = mapped_column(Float)  # total time spent over these passes


class SalesVolume(Base):
    __tablename__ = "sales_volume"
    sku: Mapped[str] = mapped_column(String(200), primary_key=True)
    month: Mapped[date] = mapped_column(Date, primary_key=True)  # the first day of the month
    region: Mapped[str] = mapped_column(String(200), primary_key=True, default="")  # "": all regions
    units: Mapped[float] = mapped_column(Float)
