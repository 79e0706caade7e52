"""Fuzzing the request decoder and the validator in-process (no gRPC): fast, so it can run long.

The target, for one RPC and one request body: the server's `RequestDecoder` returns the request type or
an `Undecodable` (never raises); a decoded request goes through the same validation the servicer does
and either passes or raises `InvalidArgument` (nothing else); a valid Publish is encoded into a
`Delivery` the way the broker stores it, and that decodes back. Every call must stay well under a
bound of CPU time, so one request cannot stall the event loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings

from tests.reliability import hostile
from toasty_proto import v1
from toasty_proto.method import RpcMethod
from toasty_server.errors import InvalidArgument
from toasty_server.service.decoding import RequestDecoder, Undecodable
from toasty_server.service.validation import Limits, Validator

SLOW_SECONDS = 0.25  # CPU time of decode + validate of one request (even 256 KiB of it) must stay under this


def _validate(validator: Validator, method: RpcMethod[Any, Any], request: Any) -> None:
    """What the servicer checks for each RPC, in the same order."""
    name = method.name
    if name == "PublishStream":
        _validate(validator, v1.NOTIFICATION_SERVICE_PUBLISH, request.publish or v1.PublishRequest())
    elif name == "Publish":
        notification = validator.publish(request)
        delivery = bytes(v1.Delivery(sequence=1, publisher_agent_id="fuzz", notification=notification))
        assert v1.Delivery.FromString(delivery).notification == notification
    elif name == "SendNotification":
        validator.send_notification(request)
    elif name == "Subscribe":
        validator.client_id("client_id", request.client_id)
    elif name in ("AwaitInteraction", "Withdraw"):
        validator.identifier("notification_id", request.notification_id, required=True)
    elif name == "Answer":
        validator.identifier("notification_id", request.notification_id, required=True)
        validator.identifier("source", request.source)
        for key, value in request.inputs.items():
            validator.text(f"inputs[{key!r}]", value)


@dataclass
class FuzzStats:
    runs: int = 0
    undecodable: int = 0
    invalid: int = 0
    valid: int = 0
    slowest: float = 0.0
    failures: list[str] = field(default_factory=list)


def fuzz_target(method: RpcMethod[Any, Any], stats: FuzzStats) -> Callable[[bytes], None]:
    decoder = RequestDecoder(method)
    validator = Validator(Limits())

    def check(data: bytes) -> None:
        started = time.thread_time()  # CPU time of this thread: a busy machine does not count
        request = decoder(data)
        stats.runs += 1
        if isinstance(request, Undecodable):
            stats.undecodable += 1
            assert "is not a valid toasty.v1." in str(request.error)
        else:
            assert isinstance(request, method.request_type), type(request)
            try:
                _validate(validator, method, request)
                stats.valid += 1
            except InvalidArgument:
                stats.invalid += 1
        elapsed = time.thread_time() - started
        stats.slowest = max(stats.slowest, elapsed)
        assert elapsed < SLOW_SECONDS, f"{method.name}: {elapsed:.3f}s for {len(data)} bytes"

    return check


def fuzz(method: RpcMethod[Any, Any], examples: int, stats: FuzzStats) -> None:
    """Run `examples` hypothesis examples against one RPC's decoder and validator."""
    target = fuzz_target(method, stats)

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
    )
    @given(data=hostile.request_bytes(method))
    def run(data: bytes) -> None:
        target(data)

    run()


def fuzz_for(seconds: float, examples_per_round: int = 200) -> dict[str, FuzzStats]:
    """Round-robin over every RPC until `seconds` have passed (each round a fresh hypothesis run)."""
    stats = {m.name: FuzzStats() for m in hostile.ALL_METHODS}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for method in hostile.ALL_METHODS:
            try:
                fuzz(method, examples_per_round, stats[method.name])
            except Exception as exc:  # AssertionError, or an ExceptionGroup of several distinct failures
                stats[method.name].failures.append(str(exc)[:2000])
            if time.monotonic() >= deadline:
                break
    return stats


def memory_check(rounds: int = 4, per_round: int = 30_000, seed: int = 0) -> list[int]:
    """Resident memory of this process (bytes) after each round of `per_round` decode + validate calls
    on mutated and random Publish bodies, without hypothesis (whose own bookkeeping grows as it runs).
    The first round warms up; later rounds must stay flat if nothing leaks per request."""
    import os
    import random

    from tests.reliability.faults import proc_status

    rng = random.Random(seed)
    check = fuzz_target(v1.NOTIFICATION_SERVICE_PUBLISH, FuzzStats())
    good = bytearray(
        bytes(
            v1.PublishRequest(
                notification=v1.Notification(
                    text_message=v1.TextMessage(header=v1.Header(title="t"), body_text_line1="x" * 500)
                )
            )
        )
    )
    after: list[int] = []
    for _ in range(rounds):
        for i in range(per_round):
            if i % 2:
                data = bytearray(good)
                for _ in range(rng.randint(0, 3)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                check(bytes(data))
            else:
                check(os.urandom(rng.randint(0, 300)))
        after.append(proc_status(os.getpid(), "VmRSS"))
    return after
