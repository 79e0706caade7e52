"""Asks survive a server process killed between the publish and the answer."""

from __future__ import annotations

from tests.core.process import ServerProcess
from tests.interactions.test_ask import DEPLOY
from toasty_client import ResilientNotificationClient, RetryPolicy

RETRY = RetryPolicy(initial_backoff=0.05, max_backoff=0.5, jitter=0.1)


async def test_answer_after_a_restart_reaches_the_agent(proc: ServerProcess) -> None:
    async with ResilientNotificationClient(proc.address, agent_id="deployer", retry=RETRY) as deployer:
        response = await deployer.publish(DEPLOY.to_proto())
        proc.kill()
        proc.start()
        async with ResilientNotificationClient(proc.address, agent_id="terminal", retry=RETRY) as person:
            assert await person.answer(response.notification_id, "approve", {"env": "staging"})
        answer = await deployer.wait_for_answer(response.notification_id, timeout=10)
        assert (answer.button_id, answer.inputs) == ("approve", {"env": "staging"})


async def test_server_side_deadline_is_rearmed_after_a_restart(proc: ServerProcess) -> None:
    async with ResilientNotificationClient(proc.address, agent_id="deployer", retry=RETRY) as deployer:
        proto = DEPLOY.to_proto()
        proto.answer_timeout_seconds = 2
        response = await deployer.publish(proto)
        proc.kill()
        proc.start()
        answer = await deployer.wait_for_answer(response.notification_id, timeout=15)
        assert answer.timed_out


async def test_waiting_agent_rides_out_a_restart(proc: ServerProcess) -> None:
    import asyncio

    async with ResilientNotificationClient(proc.address, agent_id="deployer", retry=RETRY) as deployer:
        response = await deployer.publish(DEPLOY.to_proto())
        waiting = asyncio.ensure_future(deployer.wait_for_answer(response.notification_id, timeout=30))
        await asyncio.sleep(0.3)
        proc.kill()
        proc.start()
        async with ResilientNotificationClient(proc.address, agent_id="terminal", retry=RETRY) as person:
            assert await person.answer(response.notification_id, "reject")
        assert (await waiting).button_id == "reject"
