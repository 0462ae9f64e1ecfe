"""Traceability after GS1 EPCIS 2.0: events in, recall scope out (`trace.recall_scope`)."""

from integrations.traceability.connector import register_builtin

__all__ = ["register_builtin"]
