"""Graceful shutdown of a real process on SIGTERM: health flips, in-flight calls finish, new ones are
refused, and a second signal exits at once."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.hardening.helpers import ToastyProcess, trailing, unary
from toasty_proto import v1

SLOW_SERVER = Path(__file__).with_name("slow_server.py")
STATUS = v1.NOTIFICATION_SERVICE_GET_STATUS
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def slow_process(tmp_path: Path, slow_seconds: float, grace_seconds: float) -> ToastyProcess:
    env = {"TOASTY_TEST_SLOW_SECONDS": str(slow_seconds), "TOASTY_SHUTDOWN_GRACE_SECONDS": str(grace_seconds)}
    return ToastyProcess(tmp_path, script=SLOW_SERVER, env=env)


@pytest.fixture
def graceful(tmp_path: Path) -> Iterator[ToastyProcess]:
    proc = slow_process(tmp_path, slow_seconds=1.5, grace_seconds=10)
    proc.start()
    yield proc
    proc.kill()


async def test_sigterm_flips_health_lets_in_flight_calls_finish_and_refuses_new_ones(graceful: ToastyProcess) -> None:
    async with grpc.aio.insecure_channel(graceful.address) as channel:
        watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=""))
        assert (await watch.read()).status == SERVING

        in_flight = asyncio.ensure_future(unary(channel, STATUS, v1.StatusRequest(), timeout=30))
        await asyncio.to_thread(graceful.wait_for_log, "slow call started")
        started = time.monotonic()
        graceful.signal(signal.SIGTERM)

        # Health says NOT_SERVING while the in-flight call is still running.
        assert (await asyncio.wait_for(watch.read(), 5)).status == NOT_SERVING
        assert not in_flight.done()

        # A new call (here on a fresh connection) is refused with UNAVAILABLE and a reason to retry;
        # health checks are still answered.
        async with grpc.aio.insecure_channel(graceful.address) as fresh:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await unary(fresh, STATUS, v1.StatusRequest(), timeout=3)
            assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
            assert trailing(refused.value, "toasty-reason") == "SHUTTING_DOWN"
            assert "shutting down" in (refused.value.details() or "")
            check = await health_pb2_grpc.HealthStub(fresh).Check(health_pb2.HealthCheckRequest(service=""))
            assert check.status == NOT_SERVING

        # The in-flight call completes normally, well within the 10 s grace period.
        response = await asyncio.wait_for(in_flight, 10)
        assert isinstance(response, v1.StatusResponse)
        assert time.monotonic() - started < 5
        watch.cancel()
    assert await asyncio.to_thread(graceful.wait, 15) == 0
    assert "slow call finished" in graceful.log()
    assert "stopped" in graceful.log()


async def test_a_second_signal_exits_at_once(tmp_path: Path) -> None:
    proc = slow_process(tmp_path, slow_seconds=60, grace_seconds=30)
    proc.start()
    try:
        async with grpc.aio.insecure_channel(proc.address) as channel:
            in_flight = asyncio.ensure_future(unary(channel, STATUS, v1.StatusRequest(), timeout=60))
            await asyncio.to_thread(proc.wait_for_log, "slow call started")
            proc.signal(signal.SIGTERM)
            await asyncio.to_thread(proc.wait_for_log, "stopping gracefully")
            await asyncio.sleep(0.2)
            assert proc.proc is not None
            assert proc.proc.poll() is None  # waiting for the slow call (grace 30 s)
            started = time.monotonic()
            proc.signal(signal.SIGTERM)
            code = await asyncio.to_thread(proc.wait, 10)
            assert time.monotonic() - started < 3
            assert code == 130
            with pytest.raises(grpc.aio.AioRpcError):
                await in_flight
    finally:
        proc.kill()
