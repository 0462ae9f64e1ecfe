"""CPU seconds used per party (workers, this process, PostgreSQL, Redis) and the machine's busy share, from /proc.

A throughput figure on a small machine is capped by its cores: when the clients, the database and the workers
share two cores, a second worker can only add what the others leave idle. Each round reports where the CPU
went, so a reader can tell a scaling limit of Loopline from a machine that was simply full.
Linux only; elsewhere `CpuUse.read()` returns None and the figures are left out.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

PROC = Path("/proc")


def _party(pid: int, command: str, name: str) -> str:
    if pid == os.getpid():
        return "clients"  # the bench process: client threads, the watcher waiting for the end, a stand-in system
    if " worker" in command and "web.cli" in command:
        return "workers"
    if name.startswith("postgres") or command.startswith("postgres"):
        return "postgres"
    if name.startswith("redis"):
        return "redis"
    return "other"


@dataclass(frozen=True)
class CpuUse:
    """A snapshot: CPU seconds so far by (party, pid), and the machine's busy and total jiffies."""

    by_process: dict[tuple[str, int], float]
    busy: int
    total: int

    @classmethod
    def read(cls) -> CpuUse | None:
        if not (PROC / "stat").exists():
            return None
        tick = os.sysconf("SC_CLK_TCK")
        by_process: dict[tuple[str, int], float] = {}
        for entry in PROC.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:  # the process ended while we looked
                continue
            name, fields = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
            pid = int(entry.name)
            by_process[(_party(pid, command, name), pid)] = (int(fields[11]) + int(fields[12])) / tick
        jiffies = [int(value) for value in (PROC / "stat").read_text().splitlines()[0].split()[1:]]
        idle = jiffies[3] + jiffies[4]
        return cls(by_process, busy=sum(jiffies) - idle, total=sum(jiffies))

    def since(self, earlier: CpuUse) -> dict[str, float]:
        """CPU seconds by party between two snapshots, and `machine_busy_pct` over all cores."""
        used: dict[str, float] = {}
        for (party, pid), seconds in self.by_process.items():
            used[party] = used.get(party, 0.0) + seconds - earlier.by_process.get((party, pid), 0.0)
        total = self.total - earlier.total
        used["machine_busy_pct"] = 100.0 * (self.busy - earlier.busy) / total if total else 0.0
        return used
