"""A Redis server and a PostgreSQL cluster of the test's own, on free loopback ports in temp dirs, that
the fault tests stop and start again (the shared services at 6379 and 5432 are never touched).

    with RedisServer(tmp) as redis:         redis.url; redis.stop(); redis.start()
    with PostgresCluster() as pg:           pg.url;    pg.stop();    pg.start()

Without the binaries the tests skip, except under CI=true, where that is a failure.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Self

import pytest

from tests.processes import free_port

__all__ = ["PostgresCluster", "RedisServer", "require_binary"]


def require_binary(path: str | None, what: str) -> str:
    if path and os.access(path, os.X_OK):
        return path
    message = f"{what} is not installed (apt-get install redis-server postgresql)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true and {message}")
    pytest.skip(message)


def _wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


class RedisServer:
    """`redis-server` without persistence (`--save "" --appendonly no`): a restart starts empty, as a
    cache node that was replaced would."""

    def __init__(self, workdir: Path) -> None:
        self.binary = require_binary(shutil.which("redis-server"), "redis-server")
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--dir", str(self.dir), "--daemonize", "no", "--logfile", str(self.dir / "redis.log")]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, 10)

    def stop(self) -> None:
        """SIGTERM and wait: the port refuses connections from then on."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()


def _pg_bin() -> str | None:
    found = [shutil.which(name) for name in ("initdb", "pg_ctl")]
    if found[0] and found[1]:
        return str(Path(found[0]).parent)
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(d.split("/")[-2].split(".")[0]))
    return dirs[-1] if dirs else None


class PostgresCluster:
    """`initdb` + `pg_ctl` in a temp dir, trust auth, user `postgres`, database `postgres`. As root (which
    initdb refuses) the cluster runs as the `postgres` system user. `stop()` is `pg_ctl stop -m immediate`:
    the server dies at once, like a crash, and recovers from its WAL on `start()`. `fsync=off` is safe for
that: the operating system, which keeps what was written, does not crash (`synchronous_commit` stays on,
so a commit is acknowledged only once its WAL is written)."""

    def __init__(self) -> None:
        bindir = _pg_bin()
        self.initdb = require_binary(bindir and f"{bindir}/initdb", "PostgreSQL (initdb)")
        self.pg_ctl = require_binary(bindir and f"{bindir}/pg_ctl", "PostgreSQL (pg_ctl)")
        # A directory of its own under the system temp dir: the `postgres` user must reach it, and pytest's
        # tmp_path is private to the user running the tests.
        self.root = Path(tempfile.mkdtemp(prefix="req-llm-gateway-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self.user: str | None = None
        if os.geteuid() == 0:
            try:
                self.user = pwd.getpwnam("postgres").pw_name
            except KeyError:
                pytest.fail("running as root needs a `postgres` system user for initdb")

    def _run(self, *argv: str) -> None:
        cmd = list(argv) if self.user is None else ["runuser", "-u", self.user, "--", *argv]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed:\n{done.stdout}\n{done.stderr}")

    def init(self) -> None:
        if self.user is not None:
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run(self.initdb, "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8")

    def start(self) -> None:
        options = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off "
                   "-c full_page_writes=off -c max_connections=50")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "server.log"),
                  "-w", "-t", "30", "start")

    def stop(self, mode: str = "immediate") -> None:
        self._run(self.pg_ctl, "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def __enter__(self) -> Self:
        self.init()
        self.start()
        return self

    def __exit__(self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self.running():
                self.stop("fast")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
