"""Promise 7: hostile input gets INVALID_ARGUMENT (or the fitting code), never crashes or leaks, and other
agents see no effect.

A real `toasty-server` process (console renderer, so hostile text also goes through a toast) takes
hypothesis-generated request bodies on every method path, sent with plain grpcio: random field values,
oversize strings, huge repeated fields, unknown enum values, NaN, control characters, path traversal,
invalid UTF-8, wrong wire types, truncation, random bytes. Meanwhile two well-behaved agents keep
talking through the same server and must not notice.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from tests.reliability import hostile
from tests.reliability.faults import Server
from tests.reliability.hostile import ALLOWED, NEVER, Bystanders, S, call
from tests.reliability.ledger import stored_ids
from toasty_proto import v1
from toasty_proto.method import RpcMethod

EXAMPLES = {"Publish": 300, "PublishStream": 150, "Subscribe": 40}


@dataclass
class HostileTarget:
    server: Server
    channel: grpc.Channel
    accepted: set[str] = field(default_factory=set)  # ids the server acknowledged to the hostile agent


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HostileTarget]:
    workdir = tmp_path_factory.mktemp("hostile")
    server = Server(workdir / "toasty.db", "--renderer", "console", log_path=workdir / "server.log")
    server.start()
    channel = grpc.insecure_channel(server.address, options=[("grpc.max_send_message_length", -1)])
    try:
        yield HostileTarget(server, channel)
    finally:
        channel.close()
        server.stop()


@pytest.mark.parametrize("method", hostile.ALL_METHODS, ids=lambda m: m.name)
def test_hostile_requests_get_the_fitting_status(method: RpcMethod[Any, Any], target: HostileTarget) -> None:
    """Every generated request body gets a status from the method's allowed set, never INTERNAL or
    UNKNOWN; undecodable bytes get INVALID_ARGUMENT naming the request type; the server stays up, its
    memory stays put, bystanders see nothing, and the log holds exactly what was acknowledged."""
    bystanders = Bystanders(target.server.address)
    bystanders.start()
    rss_before = target.server.rss()
    seen: dict[grpc.StatusCode, int] = {}

    @settings(
        max_examples=EXAMPLES.get(method.name, 120),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(data=hostile.request_bytes(method))
    def check(data: bytes) -> None:
        outcome = call(target.channel, method, data)
        seen[outcome.code] = seen.get(outcome.code, 0) + 1
        assert outcome.code not in NEVER, f"{method.name} answered {outcome.code.name}: {outcome.details}"
        assert outcome.code in ALLOWED[method.name], f"{method.name}: {outcome.code.name} {outcome.details}"
        if outcome.code == S.INVALID_ARGUMENT:
            assert ": " in outcome.details, f"INVALID_ARGUMENT should name the field: {outcome.details!r}"
        if len(data) <= 256 * 1024 and hostile.undecodable(method, data):
            assert outcome.code == S.INVALID_ARGUMENT, outcome
            assert f"is not a valid {hostile.request_type_name(method)}" in outcome.details
        if outcome.code == S.OK and method.name == "Publish":
            target.accepted.add(v1.PublishResponse.FromString(outcome.response).notification_id)
        if outcome.code == S.OK and method.name == "PublishStream":
            answer = v1.PublishStreamResponse.FromString(outcome.response)
            if answer.published is not None:
                target.accepted.add(answer.published.notification_id)
            else:
                assert answer.error is not None, "every request gets an answer"
                code = next(c for c in S if c.value[0] == answer.error.code)
                assert code in ALLOWED["Publish"] - {S.OK}, answer.error
                assert code not in NEVER, answer.error
                assert ": " in answer.error.message, f"the error should name the field: {answer.error.message!r}"
        if outcome.code == S.OK and method.name == "SendNotification":
            target.accepted.add(v1.SendNotificationResponse.FromString(outcome.response).notification_id)

    try:
        check()
    finally:
        bystanders.stop()
    target.server.check_alive()
    print(f"{method.name}: {', '.join(f'{c.name} {n}' for c, n in sorted(seen.items(), key=lambda i: -i[1]))}")

    growth = target.server.rss() - rss_before
    assert growth < 64 * 2**20, f"server memory grew by {growth / 2**20:.0f} MiB during the {method.name} run"
    assert not bystanders.errors, bystanders.errors
    assert bystanders.sent <= bystanders.received, "a bystander's acknowledged publish never arrived"
    assert max(bystanders.latencies) < 2.0, f"bystander latency up to {max(bystanders.latencies):.2f}s"

    stored = {nid for nid in stored_ids(target.server.db_path) if nid not in bystanders.attempted}
    stored -= {nid for nid in stored if nid.startswith("bystander-")}  # earlier tests' bystanders
    assert stored == target.accepted, (
        f"refused requests left entries: {sorted(stored - target.accepted)[:5]}; "
        f"acknowledged but missing: {sorted(target.accepted - stored)[:5]}"
    )


@pytest.mark.parametrize(
    "path",
    ["/tmp/../etc/passwd", "/var/lib/../../etc/shadow", "C:\\Users\\..\\..\\Windows\\win.ini", "relative/../x.png"],
)
def test_image_path_traversal_is_refused(path: str, target: HostileTarget) -> None:
    """An image path climbing out with `..` is refused as INVALID_ARGUMENT naming the field."""
    request = v1.PublishRequest(
        notification=v1.Notification(
            image_text=v1.ImageTextMessage(header=v1.Header(title="img"), image=v1.Image(path=path))
        )
    )
    outcome = call(target.channel, v1.NOTIFICATION_SERVICE_PUBLISH, bytes(request))
    assert outcome.code == S.INVALID_ARGUMENT, outcome
    assert "notification.image_text.image.path" in outcome.details


def test_non_image_files_as_images_never_hurt_the_server(target: HostileTarget, tmp_path: Path) -> None:
    """A local "image" that is text, a device, a FIFO or missing is accepted like any path the server
    does not read itself (the desktop shows the toast without it); the server stays up and the toast
    is rendered."""
    text_file = tmp_path / "notes.png"
    text_file.write_text("not a png")
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)
    for path in (str(text_file), str(fifo), "/dev/zero", "/proc/self/environ", str(tmp_path / "missing.png")):
        nid = uuid.uuid4().hex
        request = v1.PublishRequest(
            notification=v1.Notification(
                id=nid, image_text=v1.ImageTextMessage(header=v1.Header(title="img"), image=v1.Image(path=path))
            )
        )
        outcome = call(target.channel, v1.NOTIFICATION_SERVICE_PUBLISH, bytes(request))
        assert outcome.code == S.OK, outcome
        target.accepted.add(nid)
    deadline = time.monotonic() + 5
    while nid not in target.server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert nid in target.server.log(), "the last toast was never rendered"
    target.server.check_alive()


def test_control_characters_cannot_forge_console_toasts(target: HostileTarget) -> None:
    """A title with a newline and terminal escapes prints as one escaped console line: no forged
    `[toast ...]` line, no escape sequence reaching the operator's terminal."""
    nid = uuid.uuid4().hex
    title = "ok\n[toast !! critical] forged (from admin, id 0000)\x1b[2J\x1b]0;owned\x07"
    request = v1.PublishRequest(
        notification=v1.Notification(id=nid, text_message=v1.TextMessage(header=v1.Header(title=title)))
    )
    assert call(target.channel, v1.NOTIFICATION_SERVICE_PUBLISH, bytes(request)).code == S.OK
    target.accepted.add(nid)
    deadline = time.monotonic() + 5
    while nid not in target.server.log() and time.monotonic() < deadline:
        time.sleep(0.05)
    log = target.server.log().splitlines()
    assert not [line for line in log if line.startswith("[toast !! critical] forged")], "a forged toast line"
    [mine] = [line for line in log if nid in line]
    assert mine.startswith("[toast i info] ok\\n[toast !! critical] forged"), mine
    toasts = [line for line in log if line.startswith("[toast")]
    assert not [line for line in toasts if "\x1b" in line or "\x07" in line], "raw terminal escapes in a toast"
