"""Fault scenarios shared by the reliability tests (small numbers) and `hatch run soak` (large ones).

Each scenario runs real `toasty-server` processes and real `ResilientNotificationClient`s on loopback,
injects its fault, and returns a `Report`: what was injected, acknowledged, delivered, lost (must be 0),
duplicated (must be 0), crashes (must be 0), and the server's peak resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from tests.reliability.faults import Server, TcpProxy
from tests.reliability.ledger import Ledger, Verdict, stored_ids
from toasty_client import ResilientNotificationClient, RetryPolicy, TextNotification, ToastyError
from toasty_proto import v1
from toasty_proto.method import RpcMethod

REPO = Path(__file__).resolve().parents[2]
# Faster than the shipped defaults (0.1 s to 10 s), so a restarted server is found within half a second;
# the client derives its channel's reconnect backoff from the same policy.
FAST = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.2, publish_attempts=3)


@dataclass
class Report:
    """One scenario's numbers, one row of the soak table."""

    name: str
    seed: int = 0
    faults: int = 0
    verdict: Verdict = field(default_factory=Verdict)
    crashes: int = 0
    peak_rss: int = 0  # bytes, of the server process
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # broken promises other than loss and duplicates

    @property
    def ok(self) -> bool:
        return self.verdict.ok and self.crashes == 0 and not self.failures

    def describe(self) -> str:
        v = self.verdict
        return (
            f"{self.name} (seed {self.seed}): faults={self.faults} acked={v.acknowledged} failed={v.failed} "
            f"delivered={v.delivered}/{v.expected} crashes={self.crashes} {v.problems()}; "
            + "; ".join(self.notes + [f"FAILED: {f}" for f in self.failures])
        )


def client(address: str, agent_id: str, retry: RetryPolicy = FAST, timeout: float = 5.0) -> ResilientNotificationClient:
    return ResilientNotificationClient(address, agent_id=agent_id, retry=retry, timeout=timeout)


async def wait_until(predicate: Callable[[], bool], timeout: float, what: str, step: float = 0.05) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await asyncio.sleep(step)


async def wait_subscribed(server_address: str, client_ids: set[str], timeout: float = 30.0) -> None:
    """Until the server lists every one of client_ids as a live subscriber."""
    async with client(server_address, "watcher") as watcher:
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(ToastyError):
                status = await watcher.status()
                if client_ids <= {s.client_id for s in status.subscribers}:
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(client_ids)} subscribers did not all register in {timeout:.0f}s")
            await asyncio.sleep(0.1)


async def read_into(ledger: Ledger, stream: AsyncIterator[v1.Delivery], subscriber: str) -> None:
    """Record every delivery of one subscription until cancelled."""
    async for delivery in stream:
        ledger.receive(subscriber, delivery)


@contextlib.asynccontextmanager
async def tasks_cancelled_on_exit() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    try:
        yield tasks
    finally:
        for task in tasks:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                raise result


# -- 1. kill -9 while publishing and subscribing --------------------------------------------------------


async def publish_tracked(
    pub: ResilientNotificationClient, ledger: Ledger, title: str, target: str = "", body: str = ""
) -> bool:
    """Publish once (with the client's retries); record acknowledged or failed. True if acknowledged."""
    notification = TextNotification(title=title, line1=body).to_proto()
    notification.id = uuid.uuid4().hex
    try:
        response = await pub.publish(notification, target=target, skip_toast=True)
    except ToastyError:
        ledger.fail(notification.id, target)
        return False
    assert response.success, response
    assert response.notification_id == notification.id, response
    ledger.ack(notification.id, target, response.sequence)
    return True


async def kill9(
    workdir: Path,
    *,
    agents: int,
    subscribers: int,
    kills: int,
    seed: int,
    max_uptime: float = 1.5,
    drain_timeout: float = 60.0,
) -> Report:
    """`agents` publishers and `subscribers` subscribers run while the server is killed -9 `kills` times
    at random points (seeded); after the last restart every acknowledged publish must reach every
    subscriber it was addressed to, once, in order."""
    rng = random.Random(seed)
    report = Report("kill -9 under load", seed=seed)
    started = time.monotonic()
    server = Server(workdir / "toasty.db", log_path=workdir / "server.log")
    server.start()
    ledger = Ledger()
    sub_ids = [f"sub-{i}" for i in range(subscribers)]
    stop = asyncio.Event()
    try:
        async with contextlib.AsyncExitStack() as stack:
            subs = [await stack.enter_async_context(client(server.address, sid)) for sid in sub_ids]
            pubs = [await stack.enter_async_context(client(server.address, f"agent-{i}")) for i in range(agents)]
            running = await stack.enter_async_context(tasks_cancelled_on_exit())
            for sid, sub in zip(sub_ids, subs, strict=True):
                running.append(asyncio.create_task(read_into(ledger, sub.subscribe(from_beginning=True), sid)))
            await wait_subscribed(server.address, set(sub_ids))

            async def publisher(index: int, pub: ResilientNotificationClient) -> None:
                prng = random.Random(seed * 1000 + index)
                n = 0
                while not stop.is_set():
                    target = prng.choice(sub_ids) if prng.random() < 0.2 else ""
                    await publish_tracked(pub, ledger, f"agent-{index} #{n}", target)
                    n += 1
                    await asyncio.sleep(prng.uniform(0, 0.02))

            publishing = [asyncio.create_task(publisher(i, p)) for i, p in enumerate(pubs)]
            for _ in range(kills):
                await asyncio.sleep(rng.uniform(0.2, max_uptime))
                server.check_alive()
                server.kill()
                report.faults += 1
                await asyncio.sleep(rng.uniform(0.0, 0.5))
                server.start()
            await asyncio.sleep(rng.uniform(0.3, 1.0))  # some publishes on the last incarnation too
            stop.set()
            await asyncio.gather(*publishing)

            await wait_until(
                lambda: ledger.complete(sub_ids),
                drain_timeout,
                "every acknowledged publish to reach its subscribers",
            )
            await asyncio.sleep(0.5)  # anything extra (a duplicate) would arrive now
            server.check_alive()
            server.rss()
    except AssertionError:
        report.notes.append(ledger.verdict(sub_ids).problems())
        raise
    finally:
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(sub_ids)
    stored = stored_ids(server.db_path)
    not_stored = [nid for nid in ledger.acked if nid not in stored]
    assert not not_stored, f"acknowledged but not in the log: {not_stored[:5]}"
    twice = sum(1 for n in stored.values() if n > 1)
    report.notes.append(
        f"{report.verdict.failed} publishes failed during the faults, {report.verdict.ambiguous_delivered} of "
        f"those deliveries happened anyway (stored before the crash); {twice} ids stored twice by a retry "
        "(dropped by the client's dedupe)"
    )
    report.seconds = time.monotonic() - started
    return report


# -- helpers for raw gRPC calls ---------------------------------------------------------------------------


def raw_publish(channel: grpc.aio.Channel) -> grpc.aio.UnaryUnaryMultiCallable[bytes, v1.PublishResponse]:
    method = v1.NOTIFICATION_SERVICE_PUBLISH
    return channel.unary_unary(method.path, request_serializer=bytes, response_deserializer=method.deserialize_response)


def broadcast_request(title: str, body: str = "", notification_id: str = "") -> bytes:
    return bytes(
        v1.PublishRequest(
            notification=v1.Notification(
                id=notification_id or uuid.uuid4().hex,
                text_message=v1.TextMessage(header=v1.Header(title=title), body_text_line1=body, body_text_line2=body),
            ),
            skip_toast=True,
        )
    )


def quiet_grpc_logs() -> None:
    """The client logs every reconnect at INFO; thousands of them say nothing in a soak run."""
    logging.getLogger("toasty_client").setLevel(logging.WARNING)


# -- 4. a subscriber that stops reading --------------------------------------------------------------------


@dataclass
class MemorySamples:
    """The server's resident memory, sampled while a scenario runs."""

    values: list[tuple[float, int]] = field(default_factory=list)

    async def sample(self, server: Server, every: float = 0.1) -> None:
        while True:
            with contextlib.suppress(FileNotFoundError, ProcessLookupError, KeyError):
                self.values.append((time.monotonic(), server.rss()))
            await asyncio.sleep(every)

    def peak_after(self, start: float) -> int:
        return max((rss for t, rss in self.values if t >= start), default=0)


async def publish_many(
    address: str, count: int, *, body: str, concurrency: int = 16, prefix: str = "flood"
) -> tuple[list[str], float]:
    """`count` broadcasts as fast as the server takes them (plain grpc.aio, pre-serialized requests);
    returns the acknowledged ids in order of sequence, and the time taken."""
    acked: list[tuple[int, str]] = []
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)
    started = time.monotonic()
    async with grpc.aio.insecure_channel(address) as channel:
        publish = raw_publish(channel)

        async def worker() -> None:
            while not queue.empty():
                i = queue.get_nowait()
                nid = f"{prefix}-{i}-{uuid.uuid4().hex[:8]}"
                response = await publish(broadcast_request(f"#{i}", body, nid), timeout=30)
                acked.append((response.sequence, nid))

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return [nid for _, nid in sorted(acked)], time.monotonic() - started


async def stalled_subscriber(
    workdir: Path, *, broadcasts: int, body_chars: int = 2048, readers: int = 2, rss_limit: int = 24 * 2**20
) -> Report:
    """One subscriber process is frozen (SIGSTOP) while `broadcasts` large notifications are published;
    the server's memory must stay bounded (its mailbox overflows into catch-up from the log), the other
    subscribers must get everything meanwhile, and the frozen one, thawed, must catch up completely."""
    import json
    import signal
    import sys

    report = Report("stalled subscriber")
    started = time.monotonic()
    server = Server(workdir / "toasty.db", log_path=workdir / "server.log")
    server.start()
    ledger = Ledger()
    reader_ids = [f"reader-{i}" for i in range(readers)]
    samples = MemorySamples()
    queued: list[int] = []
    frozen: asyncio.subprocess.Process | None = None
    body = "€" * body_chars  # 3 bytes each in UTF-8: two lines make a ~12 KB delivery
    try:
        async with contextlib.AsyncExitStack() as stack:
            running = await stack.enter_async_context(tasks_cancelled_on_exit())
            running.append(asyncio.create_task(samples.sample(server)))
            frozen = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tests.reliability.stalled_reader",
                server.address, "frozen", str(broadcasts + 1), "600",
                stdout=asyncio.subprocess.PIPE, cwd=REPO,
            )  # fmt: skip
            for rid in reader_ids:
                sub = await stack.enter_async_context(client(server.address, rid))
                running.append(asyncio.create_task(read_into(ledger, sub.subscribe(from_beginning=True), rid)))
            await wait_subscribed(server.address, {"frozen", *reader_ids})
            async with client(server.address, "publisher") as pub:
                await publish_tracked(pub, ledger, "hello")
            assert frozen.stdout is not None
            line = await asyncio.wait_for(frozen.stdout.readline(), 30)
            assert line.strip() == b"ready", line
            frozen.send_signal(signal.SIGSTOP)
            report.faults += 1
            running.append(asyncio.create_task(_watch_queue(server.address, "frozen", queued)))

            warmup = max(1, broadcasts // 10)
            first, _ = await publish_many(server.address, warmup, body=body, prefix="warmup")
            await wait_until(lambda: all(len(ledger.received[r]) > warmup for r in reader_ids), 60, "warm-up")
            baseline = server.rss()
            measured_from = time.monotonic()
            rest, seconds = await publish_many(server.address, broadcasts - warmup, body=body)
            for nid in first + rest:
                ledger.ack(nid, "", 1)
            await wait_until(lambda: ledger.complete(reader_ids), 120, "the live readers to get every broadcast")
            peak = samples.peak_after(measured_from)
            dropped = "subscriber frozen disconnected" in server.log()
            report.notes.append(
                f"{broadcasts - warmup} broadcasts of ~{body_chars * 6 // 1024} KB in {seconds:.1f}s "
                f"(~{(broadcasts - warmup) * body_chars * 6 / 2**20:.0f} MB); server RSS "
                f"{baseline / 2**20:.0f} MiB after warm-up, peak {peak / 2**20:.0f} MiB "
                f"(+{(peak - baseline) / 2**20:.1f} MiB); frozen subscriber: at most {max(queued, default=0)} "
                f"queued{', its unresponsive connection was dropped by the server' if dropped else ''}"
            )
            assert peak - baseline < rss_limit, report.notes[-1]
            assert max(queued, default=0) <= 100, f"the frozen subscriber's mailbox held {max(queued)}"
            assert "switching it to catch-up" in server.log(), "the frozen subscriber's mailbox never overflowed"

            frozen.send_signal(signal.SIGCONT)
            out, _ = await asyncio.wait_for(frozen.communicate(), 120)
            result = json.loads(out.decode().strip().splitlines()[-1])
            report.notes.append(f"thawed subscriber caught up: {result}")
            assert result["count"] == broadcasts + 1, result
            assert not result["duplicates"], result
            assert result["in_order"], result
            server.check_alive()
    finally:
        if frozen is not None and frozen.returncode is None:
            frozen.send_signal(signal.SIGCONT)
            frozen.kill()
            await frozen.wait()
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(reader_ids)
    report.seconds = time.monotonic() - started
    return report


async def _watch_queue(address: str, client_id: str, out: list[int]) -> None:
    """Poll GetStatus: how many entries the server holds for client_id's stream."""
    async with client(address, "status") as c:
        while True:
            with contextlib.suppress(ToastyError):
                status = await c.status()
                out.extend(s.queued for s in status.subscribers if s.client_id == client_id)
            await asyncio.sleep(0.2)


async def _status(address: str) -> v1.StatusResponse:
    async with client(address, "status") as c:
        return await c.status()


# -- 2. the disk fills up --------------------------------------------------------------------------------


async def disk_full(workdir: Path, *, cycles: int, disk_bytes: int = 3 * 2**20, body_chars: int = 1024) -> Report:
    """The SQLite file's filesystem fills up `cycles` times while a subscriber reads: publishes are refused
    with UNAVAILABLE naming the file (never acknowledged and then lost, never stored after a refusal),
    the server stays up, and publishing works again once space is freed; a kill -9 afterwards loses
    nothing acknowledged."""
    from tests.reliability.faults import FileSizeLimit, small_disk

    report = Report("disk full")
    started = time.monotonic()
    ledger = Ledger()
    no_retry = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.2, publish_attempts=1)
    with small_disk(workdir / "disk", disk_bytes) as disk:
        folder = disk.mountpoint if disk is not None else workdir
        server = Server(folder / "toasty.db", log_path=workdir / "server.log")
        server.start()
        db = str(server.db_path)
        fault = disk or FileSizeLimit(server.pid, [server.db_path, Path(db + "-wal")])
        report.notes.append(f"disk: {fault.kind}")
        body = "d" * body_chars
        try:
            async with (
                client(server.address, "watcher") as watcher,
                client(server.address, "writer", retry=no_retry) as pub,
                tasks_cancelled_on_exit() as running,
            ):
                running.append(
                    asyncio.create_task(read_into(ledger, watcher.subscribe(from_beginning=True), "watcher"))
                )
                await wait_subscribed(server.address, {"watcher"})
                for cycle in range(cycles):
                    for i in range(5):
                        assert await publish_tracked(pub, ledger, f"c{cycle} before {i}", body=body)
                    fault.fill()
                    report.faults += 1
                    refusals = 0
                    for i in range(3000):  # until the log cannot grow: WAL space already allocated is reused
                        nid = uuid.uuid4().hex
                        notification = TextNotification(title=f"c{cycle} full {i}", line1=body).to_proto()
                        notification.id = nid
                        try:
                            response = await pub.publish(notification, skip_toast=True)
                        except ToastyError as exc:
                            refusal = exc
                        else:
                            ledger.ack(nid, "", response.sequence)
                            continue
                        assert refusal.code == grpc.StatusCode.UNAVAILABLE, f"{refusal.code}: {refusal}"
                        assert db in str(refusal), f"the refusal does not name {db}: {refusal}"
                        ledger.refuse(nid, str(refusal))
                        refusals += 1
                        if refusals >= 3:
                            break
                    assert refusals, "the disk never filled up"
                    server.check_alive()
                    assert (await watcher.status()).last_sequence > 0  # still serving
                    fault.free()
                    recovered = False
                    for i in range(100):
                        if await publish_tracked(pub, ledger, f"c{cycle} after {i}"):
                            recovered = True
                            break
                        await asyncio.sleep(0.05)
                    assert recovered, f"publishing did not recover after freeing space:\n{server.log()[-3000:]}"
                    for i in range(5):
                        assert await publish_tracked(pub, ledger, f"c{cycle} recovered {i}", body=body)
                report.notes.append(f"last refusal: {next(reversed(ledger.refused.values()), '')[:160]}")
                await wait_until(lambda: ledger.complete(["watcher"]), 30, "the watcher to get every acknowledged one")
                await asyncio.sleep(0.3)
                server.check_alive()
                server.rss()
            server.kill()  # and a crash on top: the log after the disk-full episodes is sound
            report.faults += 1
            server.start()
            async with client(server.address, "late") as late, tasks_cancelled_on_exit() as running:
                running.append(asyncio.create_task(read_into(ledger, late.subscribe(from_beginning=True), "late")))
                await wait_until(
                    lambda: ledger.complete(["late"]), 30, "a new subscriber to read every acknowledged one"
                )
                await asyncio.sleep(0.3)
        finally:
            server.stop()
            report.crashes = server.crashes
            report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(["watcher", "late"])
    report.seconds = time.monotonic() - started
    return report


# -- 5. network cuts: connection resets, refused connections, a restart -------------------------------------


async def network_cut(workdir: Path, *, resets: int, refuse_seconds: float, seed: int) -> Report:
    """An agent waiting in ask() and a subscriber, both behind a TCP proxy, live through connection
    resets, a period of refused connections, and a kill -9 of the server; then a person answers from
    elsewhere: ask() returns that answer, and the subscriber has every acknowledged publish, once."""
    from toasty_client import Button, InteractiveNotification, TextInput

    rng = random.Random(seed)
    report = Report("network cut", seed=seed)
    started = time.monotonic()
    server = Server(workdir / "toasty.db", log_path=workdir / "server.log")
    server.start()
    proxy = TcpProxy(server.port)
    await proxy.start()
    ledger = Ledger()
    stop = asyncio.Event()
    ask_id = uuid.uuid4().hex
    question = InteractiveNotification(
        title="Deploy?", buttons=[Button(id="approve", label="Approve")], inputs=[TextInput(id="reason")]
    ).to_proto()
    question.id = ask_id
    try:
        async with (
            client(proxy.address, "deployer") as deployer,
            client(proxy.address, "worker") as worker,
            client(server.address, "publisher") as pub,
            client(server.address, "person") as person,
            tasks_cancelled_on_exit() as running,
        ):
            running.append(asyncio.create_task(read_into(ledger, worker.subscribe(from_beginning=True), "worker")))
            asking = asyncio.create_task(deployer.ask(question, timeout=120))
            await wait_subscribed(server.address, {"worker"})

            async def publisher() -> None:
                n = 0
                while not stop.is_set():
                    await publish_tracked(pub, ledger, f"work {n}", target="worker")
                    n += 1
                    await asyncio.sleep(0.02)

            publishing = asyncio.create_task(publisher())
            for _ in range(resets):
                await asyncio.sleep(rng.uniform(0.2, 0.8))
                report.faults += proxy.cut() > 0
            await asyncio.sleep(0.3)
            proxy.refusing = True
            proxy.cut()
            window_start = time.monotonic()
            await asyncio.sleep(refuse_seconds)
            proxy.refusing = False
            window = [t - window_start for t in proxy.attempts if window_start <= t <= window_start + refuse_seconds]
            report.faults += 1
            await asyncio.sleep(0.5)
            server.kill()
            report.faults += 1
            await asyncio.sleep(rng.uniform(0.0, 0.5))
            server.start()
            await asyncio.sleep(0.5)
            assert not asking.done(), f"ask() returned before anyone answered: {asking.result()}"
            answered = await person.answer(ask_id, "approve", {"reason": "looks good"})
            assert answered, "the answer was not recorded"
            ledger.ack(ask_id, "", 1)  # the question itself is a broadcast: the worker gets it too
            answer = await asyncio.wait_for(asking, 30)
            assert (answer.button_id, answer.inputs) == ("approve", {"reason": "looks good"}), answer
            stop.set()
            await publishing
            await wait_until(lambda: ledger.complete(["worker"]), 30, "the worker to get every acknowledged publish")
            await asyncio.sleep(0.3)
            server.check_alive()
            server.rss()
            gaps = [round(b - a, 3) for a, b in itertools.pairwise(window)]
            report.notes.append(
                f"ask() answered {answer.button_id!r} after {resets} resets, {refuse_seconds:.0f}s of refused "
                f"connections and a kill -9; {len(window)} connection attempts while refused, gaps {gaps}"
            )
    finally:
        await proxy.close()
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(["worker"])
    report.seconds = time.monotonic() - started
    return report


# -- 6. reconnect storm -------------------------------------------------------------------------------------


class _ReconnectCounter(logging.Handler):
    """Counts the client library's "subscription interrupted (CODE)" log lines by code."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.by_code: dict[str, int] = {}

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("subscription interrupted ("):
            code = message.split("(", 1)[1].split(")", 1)[0]
            self.by_code[code] = self.by_code.get(code, 0) + 1


async def reconnect_storm(
    workdir: Path, *, subscribers: int, before: int = 3, after: int = 3, seed: int = 0, timeout: float = 120.0
) -> Report:
    """`subscribers` agents, each on its own connection, are subscribed when the server is killed -9 and
    restarted: they all reconnect at once (jittered), resume after their last sequence, and every
    broadcast acknowledged before or after the restart reaches every one of them, once."""
    report = Report("reconnect storm", seed=seed)
    started = time.monotonic()
    server = Server(workdir / "toasty.db", log_path=workdir / "server.log")
    server.start()
    ledger = Ledger()
    sub_ids = [f"storm-{i}" for i in range(subscribers)]
    counter = _ReconnectCounter()
    client_log = logging.getLogger("toasty_client.client")
    level = client_log.level
    client_log.addHandler(counter)
    client_log.setLevel(logging.INFO)
    try:
        async with contextlib.AsyncExitStack() as stack:
            running = await stack.enter_async_context(tasks_cancelled_on_exit())
            t0 = time.monotonic()
            for sid in sub_ids:
                sub = await stack.enter_async_context(client(server.address, sid, retry=STORM))
                running.append(asyncio.create_task(read_into(ledger, sub.subscribe(from_beginning=True), sid)))
            await wait_subscribed(server.address, set(sub_ids), timeout=timeout)
            connected = time.monotonic() - t0
            pub = await stack.enter_async_context(client(server.address, "announcer"))
            for i in range(before):
                assert await publish_tracked(pub, ledger, f"before {i}")
            await wait_until(lambda: ledger.complete(sub_ids), timeout, "everyone to get the first broadcasts", 0.2)

            server.kill()
            report.faults += 1
            server.start()
            restarted = time.monotonic()
            acked = 0
            for i in range(after * 20):
                acked += await publish_tracked(pub, ledger, f"after {i}")
                if acked == after:
                    break
            await wait_until(lambda: ledger.complete(sub_ids), timeout, "every subscriber to resume", 0.2)
            resumed = time.monotonic() - restarted
            await asyncio.sleep(0.5)
            server.check_alive()
            server.rss()
            status = await _status(server.address)
            report.notes.append(
                f"{subscribers} subscribers connected in {connected:.1f}s; all resumed {resumed:.1f}s after the "
                f"restart; {len(status.subscribers)} registered again; client retries by code "
                f"{dict(sorted(counter.by_code.items()))}"
            )
    finally:
        client_log.removeHandler(counter)
        client_log.setLevel(level)
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(sub_ids)
    report.seconds = time.monotonic() - started
    return report


# The shipped defaults but faster: a storm test should not wait 10 s backoffs.
STORM = RetryPolicy(initial_backoff=0.2, max_backoff=2.0, jitter=0.5)


# -- load: many agents publishing for a while -----------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


async def load(workdir: Path, *, agents: int, seconds: float, subscribers: int = 5) -> Report:
    """`agents` agents publish as fast as the server acknowledges for `seconds` while `subscribers` read
    everything: every acknowledged publish is delivered to each, once; latency and memory are reported."""
    report = Report("load")
    started = time.monotonic()
    server = Server(workdir / "toasty.db", log_path=workdir / "server.log")
    server.start()
    ledger = Ledger()
    sub_ids = [f"reader-{i}" for i in range(subscribers)]
    latencies: list[float] = []
    samples = MemorySamples()
    stop = asyncio.Event()
    try:
        async with contextlib.AsyncExitStack() as stack:
            running = await stack.enter_async_context(tasks_cancelled_on_exit())
            running.append(asyncio.create_task(samples.sample(server, every=0.5)))
            for sid in sub_ids:
                sub = await stack.enter_async_context(client(server.address, sid))
                running.append(asyncio.create_task(read_into(ledger, sub.subscribe(from_beginning=True), sid)))
            await wait_subscribed(server.address, set(sub_ids))
            pubs = [await stack.enter_async_context(client(server.address, f"agent-{i}")) for i in range(agents)]

            async def agent(pub: ResilientNotificationClient, index: int) -> None:
                n = 0
                while not stop.is_set():
                    t0 = time.monotonic()
                    if await publish_tracked(pub, ledger, f"agent-{index} #{n}"):
                        latencies.append(time.monotonic() - t0)
                    n += 1

            publishing = [asyncio.create_task(agent(p, i)) for i, p in enumerate(pubs)]
            await asyncio.sleep(min(5.0, seconds / 4))
            warm_rss = server.rss()
            await asyncio.sleep(seconds - min(5.0, seconds / 4))
            stop.set()
            await asyncio.gather(*publishing)
            elapsed = time.monotonic() - started
            await wait_until(lambda: ledger.complete(sub_ids), 120, "the readers to catch up")
            await asyncio.sleep(0.5)
            server.check_alive()
            peak = max((rss for _, rss in samples.values), default=0)
            report.notes.append(
                f"{agents} agents for {seconds:.0f}s: {len(ledger.acked)} acknowledged "
                f"({len(ledger.acked) / seconds:.0f}/s), publish round trip "
                f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms, max {max(latencies, default=0) * 1000:.0f} ms; "
                f"server RSS {warm_rss / 2**20:.0f} MiB warm, peak {peak / 2**20:.0f} MiB; {elapsed:.0f}s in all"
            )
    finally:
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.verdict = ledger.verdict(sub_ids)
    report.seconds = time.monotonic() - started
    return report


# -- hostile input, many times: memory must not creep ------------------------------------------------------


def hostile_barrage(workdir: Path, *, examples_per_method: int, rss_limit: int = 48 * 2**20) -> Report:
    """Hypothesis-generated hostile bodies on every method path of a real server process (see hostile.py),
    many times over: no INTERNAL/UNKNOWN, no crash, bystanders unaffected, and resident memory after
    the first round does not creep (a leak per request would show here)."""
    from tests.reliability import hostile

    report = Report("hostile input")
    started = time.monotonic()
    server = Server(workdir / "toasty.db", "--renderer", "console", log_path=workdir / "server.log")
    server.start()
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", -1)])
    codes: dict[str, int] = {}
    bad: list[str] = []
    bystanders = hostile.Bystanders(server.address)
    bystanders.start()
    rss: list[int] = []
    try:
        for round_ in range(2):  # round 0 warms up (caches, arenas); round 1 must not grow memory
            for method in hostile.ALL_METHODS:
                examples = max(10, examples_per_method // (20 if method.server_streaming else 1)) // 2

                report.faults += _hostile_round(channel, method, examples, codes, bad)
                server.check_alive()
            rss.append(server.rss())
            report.notes.append(f"round {round_}: server RSS {rss[-1] / 2**20:.1f} MiB")
    finally:
        bystanders.stop()
        channel.close()
        server.stop()
        report.crashes = server.crashes
        report.peak_rss = server.peak_rss
    report.notes.append(f"statuses {dict(sorted(codes.items()))}")
    report.notes.append(
        f"bystanders: {len(bystanders.sent)} acknowledged, {len(bystanders.sent & bystanders.received)} received, "
        f"p99 latency {percentile(bystanders.latencies, 0.99) * 1000:.0f} ms, errors {bystanders.errors[:3]}"
    )
    report.verdict = Verdict(
        acknowledged=len(bystanders.sent),
        expected=len(bystanders.sent),
        delivered=len(bystanders.sent & bystanders.received),
        lost=len(bystanders.sent - bystanders.received),
    )
    report.failures += [f"wrong status {b}" for b in bad[:5]]
    report.failures += [f"bystander: {e}" for e in bystanders.errors[:5]]
    if len(rss) == 2 and rss[1] - rss[0] > rss_limit:
        report.failures.append(f"server memory grew by {(rss[1] - rss[0]) / 2**20:.0f} MiB in the second round")
    report.seconds = time.monotonic() - started
    return report


def _hostile_round(
    channel: grpc.Channel, method: RpcMethod[Any, Any], examples: int, codes: dict[str, int], bad: list[str]
) -> int:
    """`examples` hostile bodies on one method path; wrong statuses go to `bad`. Returns how many were sent."""
    from hypothesis import HealthCheck, given, settings

    from tests.reliability import hostile

    sent = 0

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(data=hostile.request_bytes(method))
    def check(data: bytes) -> None:
        nonlocal sent
        outcome = hostile.call(channel, method, data)
        sent += 1
        codes[outcome.code.name] = codes.get(outcome.code.name, 0) + 1
        if outcome.code in hostile.NEVER or outcome.code not in hostile.ALLOWED[method.name]:
            bad.append(f"{method.name}: {outcome.code.name} {outcome.details[:200]}")

    check()
    return sent
