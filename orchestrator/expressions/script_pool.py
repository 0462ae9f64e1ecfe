"""A pool of warm sandbox processes that run script tasks under OS limits (see ``script_process``).

Each call borrows one process, sends the script and the task data as one JSON line and waits for
the answer until a wall-clock deadline. A process that crashes, is killed by its CPU limit, runs
out of memory or misses the deadline is killed and replaced; the caller gets a ``ScriptError``
saying which limit was hit, and the calling web process or worker carries on.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from orchestrator.expressions.script_process import EXIT_OUT_OF_MEMORY
from orchestrator.expressions.scripts import ScriptError

log = logging.getLogger(__name__)
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
_SPAWN_TIMEOUT = 30.0


class SandboxLost(Exception):
    """The sandbox process died or was killed before answering; the message says why."""


def kill_after(time_limit: float) -> float:
    """Wall-clock seconds a script may take before its process is killed: the limit plus a margin."""
    return time_limit + max(0.25, time_limit / 2)


class ScriptProcess:
    """One sandbox child process with its pipes; used by one caller at a time."""

    def __init__(self, memory_limit: int) -> None:
        self.memory_limit = memory_limit
        self.owner_pid = os.getpid()
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(_PACKAGE_ROOT), "LANG": "C.UTF-8"}
        self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module, no shell
            [sys.executable, "-m", "orchestrator.expressions.script_process", str(memory_limit)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            env=env, cwd=str(_PACKAGE_ROOT), close_fds=True,
        )
        self._buffer = b""
        ready = self._read_line(time.monotonic() + _SPAWN_TIMEOUT, what="start")
        if not ready.get("ready"):
            self.kill()
            raise SandboxLost("the script sandbox did not start")

    def alive(self) -> bool:
        return self.owner_pid == os.getpid() and self.process.poll() is None

    def run(self, request: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send one request and wait for its answer until ``deadline`` (time.monotonic)."""
        line = json.dumps(request, separators=(",", ":"), allow_nan=True).encode() + b"\n"
        try:
            self.process.stdin.write(line)
            self.process.stdin.flush()
        except (BrokenPipeError, OSError):
            raise SandboxLost(self._death_reason()) from None
        return self._read_line(deadline, what="run")

    def _read_line(self, deadline: float, what: str) -> dict[str, Any]:
        fd = self.process.stdout.fileno()
        poller = select.poll()  # not select.select: a busy server may hold file descriptors above 1024
        poller.register(fd, select.POLLIN)
        while b"\n" not in self._buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise SandboxLost("timeout" if what == "run" else "the script sandbox did not start in time")
            if poller.poll(remaining * 1000):
                chunk = os.read(fd, 1 << 20)
                if not chunk:
                    raise SandboxLost(self._death_reason())
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    def _death_reason(self) -> str:
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.kill()
            return "the script sandbox stopped answering"
        if code == EXIT_OUT_OF_MEMORY or code == 0:
            return "memory"
        if code < 0:
            try:
                name = signal.Signals(-code).name
            except ValueError:
                name = f"signal {-code}"
            return "cpu" if name == "SIGXCPU" else f"crashed ({name})"
        return f"exited with status {code}"

    def kill(self) -> None:
        """Stop the child now and reap it (only the process that started it may)."""
        if self.owner_pid != os.getpid():
            return
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            log.warning("script sandbox %s did not exit after SIGKILL", self.process.pid)
        for stream in (self.process.stdin, self.process.stdout):
            try:
                stream.close()
            except OSError:
                pass


class ScriptPool:
    """Up to ``size`` warm sandbox processes shared by the threads of one process."""

    def __init__(self, size: int = 2, memory_limit_mb: int = 256, wait_seconds: float = 60.0) -> None:
        self.size = size
        self.memory_limit = memory_limit_mb * 1024 * 1024
        self.memory_limit_mb = memory_limit_mb
        self.wait_seconds = wait_seconds
        self._slots = threading.BoundedSemaphore(size)
        self._idle: list[ScriptProcess] = []
        self._lock = threading.Lock()

    def run(self, source: str, names: dict[str, Any], time_limit: float) -> dict[str, Any]:
        """Run Python ``source`` on ``names`` in a sandbox process; return the script's variables afterwards."""
        return self._ask({"source": source, "names": names, "time_limit": time_limit}, time_limit)["names"]

    def run_javascript(self, source: str, names: dict[str, Any], context: dict[str, Any],
                       time_limit: float) -> dict[str, Any]:
        """Run JavaScript ``source`` (``expressions.javascript``) in a sandbox process; return what it changed:
        {"set": {name: value}, "removed": [names], "value": the script's value}."""
        request = {"language": "javascript", "source": source, "names": names, "context": context,
                   "time_limit": time_limit}
        return self._ask(request, time_limit)["outcome"]

    def _ask(self, request: dict[str, Any], time_limit: float) -> dict[str, Any]:
        """Send one request to a borrowed sandbox process; its answer, or a ScriptError saying what failed."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            raise ScriptError(f"no script sandbox became free within {self.wait_seconds:g} s")
        try:
            process = self._borrow()
            started = time.monotonic()
            try:
                answer = process.run(request, started + kill_after(time_limit))
            except SandboxLost as exc:
                process.kill()
                raise ScriptError(self._describe(str(exc), time_limit, time.monotonic() - started)) from None
            if answer.get("kind") == "memory":
                process.kill()
                raise ScriptError(self._describe("memory", time_limit, 0.0), line=answer.get("line"))
            self._give_back(process)
        finally:
            self._slots.release()
        if not answer.get("ok"):
            raise ScriptError(answer.get("error") or "script failed", line=answer.get("line"))
        return answer

    def _describe(self, reason: str, time_limit: float, elapsed: float) -> str:
        if reason == "timeout":
            return f"script exceeded its time limit of {time_limit:g} s (its process was stopped after {elapsed:.1f} s)"
        if reason == "cpu":
            return f"script exceeded its CPU time limit of {time_limit:g} s (its process was stopped)"
        if reason == "memory":
            return f"script used more than {self.memory_limit_mb} MB of memory (its process was stopped)"
        return f"the script's sandbox process {reason}; the script cannot run"

    def _borrow(self) -> ScriptProcess:
        with self._lock:
            while self._idle:
                process = self._idle.pop()
                if process.alive():
                    return process
                process.kill()
        try:
            return ScriptProcess(self.memory_limit)
        except (OSError, SandboxLost) as exc:
            raise ScriptError(f"the script sandbox could not be started: {exc}") from None

    def _give_back(self, process: ScriptProcess) -> None:
        with self._lock:
            self._idle.append(process)

    def warm_up(self) -> None:
        """Start one process ahead of the first script, so the first case does not wait for it."""
        if not self._slots.acquire(timeout=self.wait_seconds):
            return
        try:
            self._give_back(self._borrow())
        finally:
            self._slots.release()

    def close(self) -> None:
        """Stop every idle process (busy ones are stopped by their callers' deadlines)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for process in idle:
            process.kill()


_shared: dict[tuple[int, int], ScriptPool] = {}
_shared_lock = threading.Lock()


def shared_pool(size: int = 2, memory_limit_mb: int = 256) -> ScriptPool:
    """The process-wide pool for these limits: every engine in one process shares its sandboxes."""
    with _shared_lock:
        pool = _shared.get((size, memory_limit_mb))
        if pool is None:
            pool = _shared[(size, memory_limit_mb)] = ScriptPool(size, memory_limit_mb)
        return pool
