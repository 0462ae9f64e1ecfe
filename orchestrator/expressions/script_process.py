"""The sandbox process that runs script tasks: started by ``ScriptPool``, JSON lines in and out.

A script can crash CPython (hashing a 200,000-deep tuple overflows the C stack) or spend seconds
inside one C built-in call where no Python-level deadline can stop it. Running it here, under OS
limits set on this very process, turns all of that into a dead or killed child that the pool
reports, while the web process and the worker carry on.

Protocol: the parent writes one line ``{"source", "names", "time_limit"}`` (plus ``"language": "javascript"``
and ``"context"`` for a JavaScript script); this process answers one line ``{"ok": true, "names": {...}}``
(``{"ok": true, "outcome": {...}}`` for JavaScript) or ``{"ok": false, "error", "line", "kind"}``. A closed stdin
ends it. Before the first request it prints ``{"ready": true}`` so start-up never counts against
a script's deadline.
"""

from __future__ import annotations

import json
import math
import resource
import sys
from typing import Any

from orchestrator.expressions.javascript import run_javascript
from orchestrator.expressions.scripts import ScriptError, run_script

# Exit codes the pool translates into a reason; signals (SIGSEGV, SIGXCPU, SIGKILL) speak for themselves.
EXIT_OUT_OF_MEMORY = 3
EXIT_PROTOCOL = 4


def _address_space() -> int:
    """Bytes of virtual memory this process maps now (the interpreter and its imports)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[0]) * resource.getpagesize()


def limit_memory(limit_bytes: int) -> None:
    """Cap the address space at what start-up mapped plus the script's allowance."""
    cap = _address_space() + limit_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def limit_cpu(seconds: float) -> None:
    """Let the next script use at most ``seconds`` more CPU time; the kernel sends SIGXCPU after that."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    spent = usage.ru_utime + usage.ru_stime
    resource.setrlimit(resource.RLIMIT_CPU, (math.ceil(spent + seconds), resource.RLIM_INFINITY))


def answer(request: dict[str, Any]) -> dict[str, Any]:
    """Run one script request and describe its outcome as a JSON-ready dict."""
    names = request["names"]
    time_limit = float(request["time_limit"])
    limit_cpu(2 * time_limit + 1)
    if request.get("language") == "javascript":
        try:
            outcome = run_javascript(request["source"], names, request.get("context") or {}, time_limit)
        except ScriptError as exc:
            return {"ok": False, "error": exc.message, "line": exc.line, "kind": "error"}
        return {"ok": True, "outcome": outcome}
    try:
        run_script(request["source"], names, time_limit=time_limit, copy_values=False)
    except ScriptError as exc:
        kind = "memory" if "MemoryError" in exc.message or "of memory" in exc.message else "error"
        return {"ok": False, "error": exc.message, "line": exc.line, "kind": kind}
    return {"ok": True, "names": names}


def _write(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message, separators=(",", ":")) + "\n")
    sys.stdout.flush()


def main() -> None:
    """Serve script requests until stdin closes; exit (and be replaced) after running out of memory."""
    limit_memory(int(sys.argv[1]) if len(sys.argv) > 1 else 256 * 1024 * 1024)
    _write({"ready": True})
    for line in sys.stdin:
        try:
            request = json.loads(line)
        except ValueError:
            sys.exit(EXIT_PROTOCOL)
        try:
            outcome = answer(request)
            _write(outcome)
        except MemoryError:
            sys.exit(EXIT_OUT_OF_MEMORY)
        if outcome.get("kind") == "memory":
            sys.exit(0)  # heap fragments of a blow-up stay mapped: start the next script in a fresh process


if __name__ == "__main__":
    main()
