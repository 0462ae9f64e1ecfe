"""`demo.echo`: returns its input; lets a model exercise the job machinery with no outside system."""

from __future__ import annotations

from typing import Any

from integrations.registry import BusinessError, JobContext


class EchoConnector:
    topic = "demo.echo"
    timeout = 5.0
    system = None

    def run(self, variables: dict[str, Any], context: JobContext) -> dict[str, Any]:
        """Echo the input back under `echo`; `fail_with` raises that business error code."""
        if variables.get("fail_with"):
            raise BusinessError(str(variables["fail_with"]), "demo.echo was asked to fail")
        return {"echo": variables, "echoedBy": context.idempotency_key}
