"""Keep every case findable by the inbox's text search, also cases from before the search table."""

from __future__ import annotations

from sqlalchemy import select

from orchestrator.engine import CommandGroup
from orchestrator.models import CaseSearch, ProcessInstance


class CaseIndex(CommandGroup):
    def index_unsearchable_cases(self, batch: int = 500) -> int:
        """Write the search text of cases that have none (saves write it from then on); returns how many."""
        done = 0
        while True:
            with self.core.db.transaction() as session:
                rows = session.execute(
                    select(ProcessInstance.id, ProcessInstance.definition_id, ProcessInstance.business_key,
                           ProcessInstance.variables)
                    .where(ProcessInstance.id.not_in(select(CaseSearch.instance_id))).limit(batch)
                ).all()
                for instance_id, definition_id, business_key, variables in rows:
                    model = self.core.definitions.get(session, definition_id)
                    session.add(CaseSearch(instance_id=instance_id,
                                           text=model.search_text(business_key, variables or {})))
            done += len(rows)
            if len(rows) < batch:
                return done
