"""Approval agent: asks a person before deploying, then acts on the answer.

It publishes an Interactive toast ("Deploy v1.2 to production?" with Approve / Reject buttons) and
awaits the answer with `ask()`. Approved: it "deploys" with a Progress toast updated in place.
Rejected, dismissed or unanswered: it stops and says why.

    hatch run server                                         # terminal 1
    hatch run python examples/approval_agent.py --version 1.2  # terminal 2
    # answer on the desktop toast, or from any terminal:
    hatch run toasty answer <notification id> approve

Exit code: 0 deployed, 1 rejected or dismissed, 2 nobody answered in time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from toasty_client import Button, InteractiveNotification, ResilientNotificationClient, Urgency

log = logging.getLogger("approval_agent")


async def deploy(toasty: ResilientNotificationClient, version: str, steps: int) -> None:
    """Stand-in for real work: one Progress toast, updated in place, completed at the end."""
    async with toasty.progress(f"Deploying v{version}", key=f"deploy-{version}") as bar:
        for step in range(1, steps + 1):
            await asyncio.sleep(0.2)
            await bar.update(step / steps, status=f"step {step} of {steps}")


async def run(version: str, answer_within: float, steps: int) -> int:
    async with ResilientNotificationClient(agent_id="deployer") as toasty:
        answer = await toasty.ask(
            InteractiveNotification(
                title=f"Deploy v{version} to production?",
                line1="All checks passed on main.",
                urgency=Urgency.WARNING,
                buttons=[Button(id="approve", label="Approve"), Button(id="reject", label="Reject")],
            ),
            timeout=answer_within,
        )
        if answer.button_id == "approve":
            log.info("approved via %s: deploying v%s", answer.backend, version)
            await deploy(toasty, version, steps)
            log.info("deployed v%s", version)
            return 0
        if answer.timed_out:
            log.warning("nobody answered within %.0f s: not deploying", answer_within)
            return 2
        log.warning("not deploying: %s %s", answer.outcome.value, answer.button_id)
        return 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", default="1.2")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for an answer")
    parser.add_argument("--steps", type=int, default=5, help="steps of the pretend deployment")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    return asyncio.run(run(args.version, args.timeout, args.steps))


if __name__ == "__main__":
    raise SystemExit(main())
