"""Comments on a case: notes between the people working it, kept in the instance's history."""

from __future__ import annotations

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup, EngineCore
from orchestrator.errors import InvalidInput
from orchestrator.models import HistoryEvent
from orchestrator.queries import Queries

MAX_COMMENT = 4000
COMMENT_EVENT = "comment_added"


class Comments(CommandGroup):
    def __init__(self, core: EngineCore, queries: Queries):
        super().__init__(core)
        self.queries = queries

    def add_comment(self, instance_id: str, text: str, *, actor: Actor) -> None:
        """Append a comment to the case's hash-chained history: whoever may read the case and whose role may
        comment (not an auditor)."""
        require(actor, Permission.COMMENT)
        text = (text or "").strip()
        if not text:
            raise InvalidInput("empty comment", {"text": "is required"})
        if len(text) > MAX_COMMENT or "\x00" in text:
            raise InvalidInput("invalid comment", {"text": f"at most {MAX_COMMENT} characters, no NUL"})
        self.queries.instance_for(actor, instance_id)  # NotFound when the actor may not read the case
        with self.core.command(instance_id, actor, statuses=None, restore=False) as ctx:
            ctx.record(COMMENT_EVENT, text=text)

    def comments_of(self, actor: Actor, instance_id: str) -> list[HistoryEvent]:
        return [e for e in self.queries.history_for(actor, instance_id) if e.type == COMMENT_EVENT]
