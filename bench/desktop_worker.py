"""The publisher process of the desktop workload: N agents that put toasts on a real dunst.

    python -m bench.desktop_worker SPEC.json

`kind` in the spec says how a toast travels:
- `toasty`: each agent is its own grpc.aio channel (own TCP connection) with its own `x-agent-id`,
  calling Toasty's Publish with a Text notification (upb codec, like every bench client);
- `dbus`: each agent is its own D-Bus connection to the session bus, calling
  `org.freedesktop.Notifications.Notify` on dunst itself with the arguments Toasty's freedesktop
  backend sends for that toast: the direct-D-Bus baseline, no Toasty in between.

The worker connects every agent, prints `READY`, then obeys one command a line on stdin and answers
each with one JSON line on stdout (so the harness can clear the screen between rounds):
- `burst TAG`: every agent sends one toast at once (titles `TAG-a<agent>`);
- `paced TAG COUNT RATE SEED`: COUNT toasts, RATE per second, each from a random agent (seeded);
- `stop`: exit.
Each toast's title is its unique id, which dunst's on-display hook logs. The send time is stamped with
CLOCK_REALTIME (`time.time_ns()`) right before the call, because the hook can only read that clock;
bench/desktop.py explains the choice and checks that the clock was not stepped meanwhile.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from html import escape
from pathlib import Path
from typing import Any

from bench import upb
from bench.common import install_loop, publishing_agents, ready

# A toast as a person would get it: a title and two short lines (not the gRPC workloads' ~160-character
# BODY_LINE1, which dunst's 300 px wide window would wrap over several lines).
LINE1 = "Build #4711 of toasty/main passed: 1,024 tests"
LINE2 = "deploy queued on staging-eu-west"
CALL_TIMEOUT_S = 30.0

Send = Callable[[int, str], Awaitable[None]]
"""send(agent, title): one toast; raises on failure."""


async def toasty_agents(spec: dict[str, Any]) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """One grpc.aio channel and agent id per agent, publishing broadcast Text notifications."""
    pb = upb.load(spec["pb_dir"])
    channels, calls, metadata = await publishing_agents(spec["address"], pb, int(spec["agents"]), spec["tag"], 60)

    async def send(agent: int, title: str) -> None:
        request = pb.PublishRequest(
            notification=pb.Notification(
                id=title,
                urgency=pb.URGENCY_LEVEL_INFO,
                text_message=pb.TextMessage(
                    header=pb.Header(title=title), body_text_line1=LINE1, body_text_line2=LINE2
                ),
            )
        )
        response = await calls[agent](request, metadata=metadata[agent], timeout=CALL_TIMEOUT_S)
        if not response.toast_requested:
            raise RuntimeError("toast not requested (render queue full or no desktop backend)")

    async def close() -> None:
        await asyncio.gather(*(ch.close() for ch in channels))

    return send, close


async def dbus_agents(spec: dict[str, Any]) -> tuple[Send, Callable[[], Awaitable[None]]]:
    """One D-Bus connection per agent, calling Notify on the daemon directly.

    The arguments are what toasty_server.render.freedesktop sends for an INFO Text toast on a daemon with
    `actions` and `body-markup` (dunst): same app name, icon, escaped body, `default` action, urgency
    hint and the daemon's default timeout, so dunst does the same work for both columns.
    """
    from dbus_fast import Message, MessageType, Variant
    from dbus_fast.aio import MessageBus

    from toasty_server.render.daemon_profile import APP_ICON, APP_NAME, DEFAULT_ACTION, URGENCY_BYTE
    from toasty_server.render.freedesktop import BUS_NAME, INTERFACE, OBJECT_PATH
    from toasty_server.render.spec import Urgency

    buses = await asyncio.gather(
        *(MessageBus(bus_address=spec["bus_address"]).connect() for _ in range(spec["agents"]))
    )
    body = "\n".join(escape(line, quote=False) for line in (LINE1, LINE2))

    async def send(agent: int, title: str) -> None:
        message = Message(
            destination=BUS_NAME,
            path=OBJECT_PATH,
            interface=INTERFACE,
            member="Notify",
            signature="susssasa{sv}i",
            body=[
                APP_NAME,
                0,
                APP_ICON[Urgency.INFO],
                title,
                body,
                [DEFAULT_ACTION, ""],
                {"urgency": Variant("y", URGENCY_BYTE[Urgency.INFO])},
                -1,
            ],
        )
        reply = await asyncio.wait_for(buses[agent].call(message), CALL_TIMEOUT_S)
        if reply.message_type is MessageType.ERROR:
            raise RuntimeError(f"Notify: {reply.error_name} {reply.body}")

    async def close() -> None:
        for bus in buses:
            bus.disconnect()
        await asyncio.gather(*(bus.wait_for_disconnect() for bus in buses), return_exceptions=True)  # type: ignore[no-untyped-call]

    return send, close


class Round:
    """Send and acknowledgement times of one command's toasts, keyed by title."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.toasts: dict[str, dict[str, Any]] = {}

    async def one(self, send: Send, agent: int, title: str) -> None:
        sent = time.time_ns()  # CLOCK_REALTIME: the clock of the on-display hook
        entry: dict[str, Any] = {"agent": agent, "sent_ns": sent, "ack_ns": 0, "error": ""}
        self.toasts[title] = entry
        try:
            await send(agent, title)
            entry["ack_ns"] = time.time_ns()
        except Exception as exc:
            code = getattr(exc, "code", None)
            entry["error"] = code().name if callable(code) else f"{type(exc).__name__}: {str(exc)[:200]}"

    def answer(self) -> str:
        return json.dumps({"tag": self.tag, "toasts": self.toasts}, separators=(",", ":"))


async def burst(send: Send, agents: int, tag: str) -> Round:
    """Every agent publishes one toast at (nearly) the same moment."""
    rnd = Round(tag)
    await asyncio.gather(*(rnd.one(send, a, f"{tag}-a{a}") for a in range(agents)))
    return rnd


async def paced(send: Send, agents: int, tag: str, count: int, rate: float, seed: int) -> Round:
    """`count` toasts at `rate` per second, each from a random agent; an agent's toasts may overlap."""
    rnd = Round(tag)
    rng = random.Random(seed)
    interval_ns = int(1e9 / rate)
    tasks: list[asyncio.Task[None]] = []
    t0 = time.monotonic_ns() + 1_000_000
    for k in range(count):
        delay = t0 + k * interval_ns - time.monotonic_ns()
        if delay > 0:
            await asyncio.sleep(delay / 1e9)
        tasks.append(asyncio.create_task(rnd.one(send, rng.randrange(agents), f"{tag}-{k}")))
    await asyncio.gather(*tasks)
    return rnd


def stdin_lines(loop: asyncio.AbstractEventLoop) -> asyncio.Queue[str]:
    """Lines from the harness, read on a daemon thread; an empty string means stdin closed."""
    queue: asyncio.Queue[str] = asyncio.Queue()

    def read() -> None:
        for line in sys.stdin:
            loop.call_soon_threadsafe(queue.put_nowait, line.strip())
        loop.call_soon_threadsafe(queue.put_nowait, "")

    threading.Thread(target=read, name="desktop-worker-stdin", daemon=True).start()
    return queue


async def main_async(spec: dict[str, Any]) -> None:
    agents = int(spec["agents"])
    send, close = await (toasty_agents(spec) if spec["kind"] == "toasty" else dbus_agents(spec))
    commands = stdin_lines(asyncio.get_running_loop())
    ready(str(agents))
    while True:
        words = (await commands.get()).split()
        if not words or words[0] == "stop":
            break
        if words[0] == "burst":
            rnd = await burst(send, agents, words[1])
        elif words[0] == "paced":
            rnd = await paced(send, agents, words[1], int(words[2]), float(words[3]), int(words[4]))
        else:
            raise ValueError(f"unknown command {words!r}")
        sys.stdout.write(rnd.answer() + "\n")
        sys.stdout.flush()
    await close()


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    install_loop(spec.get("loop", "asyncio"))
    asyncio.run(main_async(spec))
    sys.stdout.flush()
    os._exit(0)  # skip tearing down a hundred channels one by one


if __name__ == "__main__":
    main()
