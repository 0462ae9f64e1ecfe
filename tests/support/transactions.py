"""Count the engine transactions a request opens, to show a view makes one engine call."""

from __future__ import annotations

from contextlib import contextmanager


def count_transactions(engine, monkeypatch) -> list[str]:
    """From now on, append 'write' or 'read' to the returned list for each transaction the engine opens."""
    opened: list[str] = []
    transaction, reading = engine.db.transaction, engine.db.reading

    @contextmanager
    def counted(kind, original):
        opened.append(kind)
        with original() as session:
            yield session

    monkeypatch.setattr(engine.db, "transaction", lambda: counted("write", transaction))
    monkeypatch.setattr(engine.db, "reading", lambda: counted("read", reading))
    return opened
