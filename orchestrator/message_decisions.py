"""A person's decision on a message nobody can account for, recorded in its case's history."""

from __future__ import annotations

from sqlalchemy import select

from integrations.notify.models import Notification
from integrations.notify.undecided import NotUndecided, decide
from orchestrator.actors import Actor
from orchestrator.authorization import Permission, require
from orchestrator.engine import CommandGroup
from orchestrator.models import ProcessInstance

DECIDED_EVENT = "message_decided"


class MessageDecisions(CommandGroup):
    def decide_message(self, notification_id: str, *, went_out: bool, actor: Actor) -> None:
        """Mark an `unknown` message as gone out, or queue it to be sent again, in the same transaction as the
        history event on its case (who decided what, for which recipient); only who may retry incidents."""
        require(actor, Permission.RETRY_INCIDENTS)
        with self.core.db.transaction() as session:
            row = session.execute(select(Notification.instance_id, Notification.recipient_id, Notification.channel)
                                  .where(Notification.id == notification_id)).first()
            if row is None:
                raise NotUndecided(f"notification {notification_id} does not exist")
            if row.instance_id is None or session.get(ProcessInstance, row.instance_id) is None:
                # a message sent outside any case (or its case is gone): only the row says who decided
                decide(session, notification_id, went_out=went_out, by=actor.name, now=self.core.now())
                return
            with self.core.command(row.instance_id, actor, session=session, statuses=None, restore=False) as ctx:
                decide(session, notification_id, went_out=went_out, by=actor.name, now=ctx.now)
                ctx.record(DECIDED_EVENT, notification_id=notification_id, recipient_id=row.recipient_id,
                           channel=row.channel, decision="went out" if went_out else "send again")
