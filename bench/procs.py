"""Child processes of the harness: the servers under test and the bench workers, plus /proc readings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

from bench import upb
from bench.common import write_json

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(upb.REPO), env.get("PYTHONPATH", "")) if p)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def rss_bytes(pid: int) -> int:
    """Resident set size from /proc/PID/statm (Linux)."""
    try:
        return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
    except (OSError, IndexError, ValueError):
        return 0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its children, reaped or alive: for PostgreSQL, whose work is done by a
    backend process per connection (and the WAL writer, checkpointer, ...) forked by the postmaster."""
    ticks = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            ticks += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / CLK_TCK


class RssSampler:
    """Samples a process's RSS every `interval` seconds on a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = rss_bytes(pid)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_bytes(self.pid))

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        return max(self.peak, rss_bytes(self.pid))


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before listening on {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


class Server:
    """One server under test, as a child process on 127.0.0.1 and a free port."""

    kind: ClassVar[str] = ""
    transport: ClassVar[str] = "grpc"

    def __init__(self, name: str, workdir: Path, pb_dir: Path) -> None:
        self.name = name
        self.workdir = workdir
        self.pb_dir = pb_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / f"{name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return child_env()

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL, env=self.env(), cwd=upb.REPO
        )
        log.close()
        try:
            _wait_port(self.port, self.proc, 30, self.name)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"{exc}\n--- {self.log_path} ---\n{self.log_tail()}") from exc

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, chars: int = 3000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout: float = 15.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(5)

    def rss(self) -> int:
        return rss_bytes(self.pid)

    def cpu(self) -> float:
        return cpu_seconds(self.pid)

    # -- readiness -----------------------------------------------------------------------------------

    def subscriber_count(self, client_ids: list[str]) -> int:
        raise NotImplementedError

    def wait_subscribers(self, client_ids: list[str], timeout: float) -> int:
        """Poll the server until every client id has a live stream; return how many did."""
        deadline = time.monotonic() + timeout
        count = 0
        while time.monotonic() < deadline:
            asked = time.monotonic()
            count = max(count, self.subscriber_count(client_ids))
            if count >= len(client_ids):
                return count
            # GetStatus lists every subscriber: with thousands it costs the server real CPU, so poll
            # no more than a tenth of the time.
            time.sleep(max(0.05, 10 * (time.monotonic() - asked)))
        return count


class GrpcServer(Server):
    """Readiness through GetStatus (both the raw baseline and Toasty answer it)."""

    def status(self) -> Any:
        """The server's StatusResponse (upb), on a fresh blocking channel; raises grpc.RpcError."""
        import grpc

        pb = upb.load(self.pb_dir)
        with grpc.insecure_channel(self.address) as channel:
            return channel.unary_unary(
                upb.GET_STATUS,
                request_serializer=pb.StatusRequest.SerializeToString,
                response_deserializer=pb.StatusResponse.FromString,
            )(pb.StatusRequest(), timeout=20)

    def subscriber_count(self, client_ids: list[str]) -> int:
        import grpc

        try:
            status = self.status()
        except grpc.RpcError:
            return -1  # busy server (e.g. CANCELLED while thousands of streams open): ask again
        wanted = set(client_ids)
        return sum(1 for s in status.subscribers if s.client_id in wanted)


class RawServer(GrpcServer):
    kind = "raw"

    def command(self) -> list[str]:
        return [sys.executable, "-m", "bench.raw_server", "--port", str(self.port), "--pb-dir", str(self.pb_dir)]


# Toasty as shipped, except two settings a benchmark cannot keep: the per-agent rate limit stays on (its
# interceptor runs on every call) but with a limit no bench agent reaches, and the metrics HTTP port is a
# free one instead of 9090.
TOASTY_ENV = {"TOASTY_RATE_LIMIT": "1e12", "TOASTY_CALL_RATE_LIMIT": "1e12", "TOASTY_METRICS_PORT": "0"}


class ToastyServer(GrpcServer):
    """The real `python -m toasty_server` process, console renderer with its output sent to /dev/null."""

    kind = "toasty"

    def __init__(
        self,
        name: str,
        workdir: Path,
        pb_dir: Path,
        *,
        store: str,
        renderer: str = "console",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        super().__init__(name, workdir, pb_dir)
        self.store = store
        self.renderer = renderer
        self.extra_env = extra_env or {}
        self.db_path = workdir / f"{name}.db"

    def env(self) -> dict[str, str]:
        # its own data folder: never the user's (do-not-disturb state, image cache, person secret)
        return {**child_env(), **TOASTY_ENV, "TOASTY_DATA_DIR": str(self.db_path.parent), **self.extra_env}

    def command(self) -> list[str]:
        return [
            sys.executable, "-m", "toasty_server",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--store", self.store, "--db-path", str(self.db_path),
            "--renderer", self.renderer,
        ]  # fmt: skip

    def start(self) -> None:
        # The console renderer writes one line per toast to stderr: send it to /dev/null, not to a file,
        # unless BENCH_SERVER_LOG asks for a log (then it also holds the toasts).
        if os.environ.get("BENCH_SERVER_LOG"):
            super().start()
            return
        self.proc = subprocess.Popen(
            self.command(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=self.env(),
            cwd=upb.REPO,
        )
        try:
            _wait_port(self.port, self.proc, 30, self.name)
        except Exception as exc:
            self.kill()
            raise RuntimeError(f"{exc} (set BENCH_SERVER_LOG=1 to keep its output)") from exc


class RedisServer(Server):
    kind = "redis"
    transport = "redis"

    def command(self) -> list[str]:
        exe = shutil.which("redis-server")
        assert exe is not None
        return [
            exe, "--bind", "127.0.0.1", "--port", str(self.port),
            "--save", "", "--appendonly", "no", "--protected-mode", "yes",
            "--dir", str(self.workdir), "--logfile", "", "--maxclients", "20000",
        ]  # fmt: skip

    def subscriber_count(self, client_ids: list[str]) -> int:
        import redis

        from bench.worker import REDIS_BROADCAST

        with redis.Redis(host="127.0.0.1", port=self.port) as client:
            counts = dict(client.pubsub_numsub(REDIS_BROADCAST))
        return int(counts.get(REDIS_BROADCAST.encode(), 0))


def redis_available() -> str:
    """'' when the Redis peer can run, else why not."""
    if shutil.which("redis-server") is None:
        return "redis-server not installed (apt-get install -y redis-server)"
    try:
        import redis  # noqa: F401
    except ImportError:
        return "the redis Python package is missing (use `hatch run bench`, whose env has it)"
    return ""


class Worker:
    """A bench.worker child: READY on stdout, commands on stdin, result JSON at the end."""

    def __init__(self, spec: dict[str, Any], workdir: Path, name: str) -> None:
        self.name = name
        self.spec_path = workdir / f"{name}.spec.json"
        self.result_path = workdir / f"{name}.result.json"
        self.log_path = workdir / f"{name}.log"
        spec = {**spec, "result": str(self.result_path)}
        self.result_path.unlink(missing_ok=True)
        write_json(self.spec_path, spec)
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.worker", str(self.spec_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            env=child_env(),
            cwd=upb.REPO,
        )

    def wait_ready(self, timeout: float) -> None:
        assert self.proc.stdout is not None
        result: list[bytes] = []

        def read() -> None:
            assert self.proc.stdout is not None
            result.append(self.proc.stdout.readline())

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        reader.join(timeout)
        if not result or not result[0].startswith(b"READY"):
            self.kill()
            raise RuntimeError(f"worker {self.name} not ready in {timeout}s:\n{self.log_tail()}")

    def send(self, command: str) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(f"{command}\n".encode())
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            pass

    def wait(self, timeout: float) -> bool:
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def result(self, timeout: float) -> dict[str, Any]:
        if not self.wait(timeout):
            self.send("stop")
            if not self.wait(10):
                self.kill()
        self._log.close()
        if not self.result_path.exists():
            raise RuntimeError(f"worker {self.name} wrote no result (rc {self.proc.returncode}):\n{self.log_tail()}")
        data: dict[str, Any] = json.loads(self.result_path.read_text())
        return data

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def log_tail(self, chars: int = 3000) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""
