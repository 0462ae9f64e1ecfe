"""Timer sweeps run against each other, as sweeps on several machines would."""

from __future__ import annotations

import threading


def sweep_together(*engines) -> list[list[str]]:
    """Each engine's `fire_due_timers()`, all called at the same moment from threads of their own."""
    barrier = threading.Barrier(len(engines))
    results: list[list[str]] = [[] for _ in engines]
    errors: list[BaseException] = []

    def sweep(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = engines[index].timers.fire_due_timers()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=sweep, args=(index,)) for index in range(len(engines))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    return results
