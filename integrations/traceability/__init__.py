"""Traceability after GS1 EPCIS 2.0: events in; recall scope (`trace.recall_scope`) and backward trace out."""

from integrations.traceability.connector import register_builtin

__all__ = ["register_builtin"]
