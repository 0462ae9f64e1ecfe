"""The re-execution check over the API: run a case again from its recorded inputs and compare."""

from __future__ import annotations

from flask_smorest import Blueprint

from web.api.context import actor, engine
from web.api.problems import PROBLEM
from web.api.schemas import ProblemSchema, ReexecutionReportSchema

blp = Blueprint("reexecution", __name__, url_prefix="/api/v1", description="Re-execution check")


@blp.route("/instances/<string:instance_id>/reexecution", methods=["GET"])
@blp.response(200, ReexecutionReportSchema)
@blp.alt_response(404, description="No such case, or the caller may not read it", schema=ProblemSchema,
                  content_type=PROBLEM)
def reexecution(instance_id: str):
    """Run the case again from its recorded inputs on the deployed version it ran on, in a throwaway engine, and
    compare each recorded step (path, steps waited in, variables) with what the re-execution did. Changes
    nothing; 404 unless the caller may read the case."""
    return engine().reexecution.reexecute(instance_id, actor=actor())
