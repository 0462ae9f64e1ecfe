"""Real processes for reliability tests: a private redis-server and `loopline worker` subprocesses."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import redis

from tests.conftest import require_service

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """A redis-server of the test's own, on its own port, that the test may stop and start again."""

    def __init__(self, port: int, workdir: Path):
        self.port = port
        self.workdir = workdir
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port, socket_connect_timeout=0.2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


@contextmanager
def own_redis(workdir: Path) -> Iterator[RedisServer]:
    require_service("redis-server", shutil.which("redis-server") is not None, "install the redis-server package")
    server = RedisServer(free_port(), workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_loopline(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """Run `loopline ARGS` as a separate process with the given environment."""
    full_env = {**os.environ, **env, "PYTHONPATH": str(REPO)}
    handle = open(log, "ab")  # noqa: SIM115 - closed when the process is reaped by the test
    return subprocess.Popen([sys.executable, "-m", "web.cli", *args], cwd=REPO, env=full_env,
                            stdout=handle, stderr=subprocess.STDOUT)


def stop_process(process: subprocess.Popen, timeout: float = 15) -> None:
    """SIGTERM and wait; a process that ignores it is killed."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=5)
