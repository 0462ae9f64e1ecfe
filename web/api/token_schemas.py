"""marshmallow schemas of moving a case's token (skip the step it waits in, or go back to a step it did)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from orchestrator.token_moves import KINDS, MAX_COMMENT

ELEMENT_ID = validate.Length(min=1, max=200)


class TokenMoveArgs(Schema):
    fromElement = fields.String(required=True, validate=ELEMENT_ID, metadata={
        "description": "Id of the step the case waits in (an open user task, a pending job's service task, a "
                       "timer or message catch)"})
    toElement = fields.String(load_default=None, allow_none=True, validate=ELEMENT_ID, metadata={
        "description": "skip: optionally, the step it must lead to (a direct successor); back: the completed "
                       "step of the same scope to go back to (required)"})
    kind = fields.String(required=True, validate=validate.OneOf(KINDS), metadata={
        "description": "`skip`: complete the waiting step without running it (no form values, no job result, "
                       "the event as if it fired), the case goes on along the flow; `back`: go back to a step "
                       "the case completed, keeping its current variables"})
    comment = fields.String(
        required=True,
        validate=[validate.Length(min=1, max=MAX_COMMENT),
                  validate.Regexp(r"[\s\S]*\S", error="is required: say why the case's token is moved")],
        metadata={"description": "Why the token is moved (required, not blank); kept in the case's history"})
