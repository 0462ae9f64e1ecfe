"""Comments on a case: notes between the people working it, kept in the instance's history."""

from __future__ import annotations

from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup
from orchestrator.errors import InvalidInput
from orchestrator.queries import case_history, readable_instance
from orchestrator.views import HistoryEventView

MAX_COMMENT = 4000
COMMENT_EVENT = "comment_added"


class Comments(CommandGroup):
    def add_comment(self, instance_id: str, text: str, *, actor: Actor) -> None:
        """Append a comment to the case's hash-chained history: whoever may read the case and whose role may
        comment (not an auditor)."""
        require(actor, Permission.COMMENT)
        text = (text or "").strip()
        if not text:
            raise InvalidInput("empty comment", {"text": "is required"})
        if len(text) > MAX_COMMENT or "\x00" in text:
            raise InvalidInput("invalid comment", {"text": f"at most {MAX_COMMENT} characters, no NUL"})
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)  # NotFound when the actor may not read the case
        with self.core.command(instance_id, actor, statuses=None, restore=False) as ctx:
            ctx.record(COMMENT_EVENT, text=text)

    def comments_of(self, actor: Actor, instance_id: str) -> list[HistoryEventView]:
        """The case's comments, oldest first; NotFound unless the actor may read the case."""
        with self.core.db.reading() as session:
            readable_instance(session, actor, instance_id)
            return [e for e in case_history(session, instance_id) if e.type == COMMENT_EVENT]
