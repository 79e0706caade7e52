"""`toasty`: publish and subscribe from a shell, with the same client library agents use."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import json
import math
import os
import re
import sys
import time
from pathlib import Path
from typing import Any, NoReturn

import betterproto2
from pydantic import ValidationError

from toasty_client.answers import Outcome
from toasty_client.builders import (
    Button,
    Choice,
    Image,
    ImageTextNotification,
    InteractiveNotification,
    NotificationBuilder,
    Placement,
    ProgressNotification,
    ProgressState,
    SelectionInput,
    TextInput,
    TextNotification,
    Urgency,
)
from toasty_client.client import DEFAULT_ADDRESS, ResilientNotificationClient, RetryPolicy
from toasty_client.errors import ServerUnavailable, ToastyError
from toasty_client.person import person_secret, person_secret_file
from toasty_client.safe_text import printable
from toasty_proto import v1

EPILOG = """\
examples:
  toasty publish --title "Build passed" --line1 "main @ 4f2a9c"
  toasty publish --title "Disk almost full" --urgency critical --target ops-agent
  toasty publish --title "New photo" --image ~/Pictures/cat.png --placement hero
  toasty publish --title "Deploy v1.2?" --button approve=Approve --button reject=Reject --input reason=Why
  toasty publish --title "Upload" --progress 0.4 --key upload-42 --status "4 of 10 files"
  toasty publish --json notification.json        # a Notification in protobuf JSON form
  toasty subscribe --client-id my-agent --json   # one JSON object per delivery
  toasty ask --title "Deploy v1.2?" --button approve=Approve --button reject=Reject --input reason=Why
  toasty answer 3f2c... approve --input reason="looks good"   # answer from a terminal (SSH, headless)
  seq 0 10 100 | sed 's/$/%/' | toasty progress --title "Build"   # one bar fed from stdin
  toasty status
  toasty asks                                    # the open questions: id, asker, age, title

The server address comes from --address, else TOASTY_ADDRESS, else localhost:50053; the agent id
from --agent-id, else TOASTY_AGENT_ID. A server with TLS: TOASTY_CA_FILE=/path/to/its-ca.pem (or
TOASTY_TLS=1 to trust the system's roots); a token file: TOASTY_TOKEN.
"""


class _Parser(argparse.ArgumentParser):
    """argparse, with the argument it quotes in an error ("unrecognized arguments: ...") made printable."""

    def error(self, message: str) -> NoReturn:
        super().error(printable(message))


class _SubParser(_Parser):
    """A subcommand's parser: it also takes the global --address and --agent-id."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs, parents=[_COMMON_FLAGS])


_COMMON_FLAGS = argparse.ArgumentParser(add_help=False)
_COMMON_FLAGS.add_argument("--address", default=argparse.SUPPRESS, help="server address (also before the command)")
_COMMON_FLAGS.add_argument("--agent-id", default=argparse.SUPPRESS, help="who you are (also before the command)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="toasty",
        description="Publish to and subscribe from a Toasty notification hub.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--address", help=f"server address (default {DEFAULT_ADDRESS})")
    p.add_argument("--agent-id", help="who you are to the server (x-agent-id)")
    # the same flags after the subcommand too (`toasty publish --address ...`): see _SubParser
    sub = p.add_subparsers(dest="command", required=True, parser_class=_SubParser)

    note = sub.add_parser("notify", help='show one message: toasty notify "Backup done"')
    note.add_argument("message", help="the toast's title (with --title: its first line)")
    note.add_argument("--title", help="a title above the message")
    note.add_argument("--urgency", choices=[u.value for u in Urgency], default="info")
    note.add_argument("--target", default="", help="client id to deliver to (default: every subscriber)")
    note.add_argument("--in", dest="in_", metavar="DURATION", help="show it this much later: 90s, 10m, 2h, 1h30m")
    note.add_argument("--expire-in", metavar="DURATION", help="take it down after this long: 90s, 10m, 1h")
    note.add_argument("--group", help="collapse the toasts of this group into one that counts them")
    note.add_argument("--dedupe-key", help="the same event again updates one toast with a repeat count")

    pub = sub.add_parser(
        "publish", help="publish one notification", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    pub.add_argument("--title", help="title line (required unless --json)")
    pub.add_argument("--line1", default="", help="first body line")
    pub.add_argument("--line2", default="", help="second body line")
    pub.add_argument("--urgency", choices=[u.value for u in Urgency], default="info")
    pub.add_argument("--target", default="", help="client id to deliver to (default: every subscriber)")
    pub.add_argument("--id", help="notification id (default: generated)")
    pub.add_argument("--no-toast", action="store_true", help="deliver to subscribers only, no desktop toast")
    pub.add_argument("--image", help="image file or http(s) URL (makes an ImageText toast)")
    pub.add_argument("--placement", choices=[x.value for x in Placement], default="inline")
    pub.add_argument("--button", action="append", default=[], metavar="ID=LABEL", help="add a button")
    pub.add_argument("--input", action="append", default=[], metavar="ID=TITLE", help="add a text input")
    pub.add_argument("--select", action="append", default=[], metavar="ID=A,B,C", help="add a selection input")
    pub.add_argument("--progress", type=float, help="progress value 0..1 (makes a Progress toast)")
    pub.add_argument("--key", help="progress key: the same key updates one toast in place")
    pub.add_argument("--status", default="", help="progress status text")
    pub.add_argument("--json", type=Path, metavar="FILE", help="read the Notification from a JSON file ('-': stdin)")

    subs = sub.add_parser("subscribe", help="print deliveries as they arrive")
    subs.add_argument("--client-id", help="subscribe as this client (default: the agent id)")
    subs.add_argument("--after", type=int, default=0, help="resume after this sequence")
    subs.add_argument("--from-beginning", action="store_true", help="replay everything retained first")
    subs.add_argument("--json", action="store_true", help="one JSON object per line")
    subs.add_argument("--count", type=int, default=0, help="exit after this many deliveries")

    ask = sub.add_parser(
        "ask",
        help="publish an Interactive notification and wait for the answer",
        description="Prints the answer as JSON. Exit code: 0 answered, 3 dismissed, 4 timed out, 5 other.",
    )
    ask.add_argument("--title", required=True)
    ask.add_argument("--line1", default="")
    ask.add_argument("--urgency", choices=[u.value for u in Urgency], default="info")
    ask.add_argument("--button", action="append", required=True, metavar="ID=LABEL")
    ask.add_argument("--input", action="append", default=[], metavar="ID=TITLE")
    ask.add_argument("--select", action="append", default=[], metavar="ID=A,B,C")
    ask.add_argument("--timeout", type=float, default=300.0, help="seconds before the outcome is timed_out")

    answer = sub.add_parser("answer", help="answer an Interactive notification from the terminal")
    answer.add_argument("notification_id")
    answer.add_argument("button_id", nargs="?", default="", help="the button to press")
    answer.add_argument("--input", action="append", default=[], metavar="ID=VALUE", help="a typed or chosen value")
    answer.add_argument("--dismiss", action="store_true", help="dismiss instead of pressing a button")

    progress = sub.add_parser(
        "progress",
        help="one Progress toast fed from stdin",
        description=(
            "Reads lines 'VALUE [STATUS]' from stdin (VALUE 0..1 or N%) and updates one toast in place; "
            "at end of input the bar completes, and a line 'fail [REASON]' marks it failed. "
            'Example: for i in 1 2 3; do echo "$((i*33))% step $i"; sleep 1; done | toasty progress --title Build'
        ),
    )
    progress.add_argument("--title", required=True)
    progress.add_argument("--key", help="progress key (default: generated)")
    progress.add_argument("--caption", default="")

    sub.add_parser("asks", help="list the questions waiting for an answer (id, asker, age, title)")

    dnd = sub.add_parser(
        "dnd",
        help="do-not-disturb: hold toasts back (critical ones still show); alone, says whether it is on",
        description="Held toasts are stored and delivered as always; when it ends, one digest toast sums them up. "
        "Open questions stay answerable with `toasty asks` / `toasty answer` and on the page meanwhile.",
        epilog="examples:\n  toasty dnd on --for 1h\n  toasty dnd on --until 07:30\n  toasty dnd off\n  toasty dnd",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    dnd.add_argument("switch", nargs="?", choices=["on", "off"], help="turn it on or off (alone: show the state)")
    dnd.add_argument("--for", dest="for_", metavar="DURATION", help="with on: for 90s, 45m, 2h or 1h30m")
    dnd.add_argument("--until", metavar="HH:MM", help="with on: until this local time (today, else tomorrow)")

    mute = sub.add_parser("mute", help="hold one agent's toasts for a while (its questions still show)")
    mute.add_argument("agent")
    mute.add_argument("--for", dest="for_", metavar="DURATION", default="1h", help="90s, 45m, 2h (default 1h)")
    unmute = sub.add_parser("unmute", help="show an agent's toasts again (what was held is summed up)")
    unmute.add_argument("agent")
    snooze = sub.add_parser("snooze", help="put an open question off; it comes back before its deadline")
    snooze.add_argument("notification_id")
    snooze.add_argument("--for", dest="for_", metavar="DURATION", default="10m", help="90s, 10m, 1h (default 10m)")

    withdraw = sub.add_parser("withdraw", help="take one of your notifications down")
    withdraw.add_argument("notification_id")

    sub.add_parser("status", help="health, version, store, desktop backends, subscribers and their queue depths")

    page = sub.add_parser(
        "page",
        help="print the web page's link for the person (it carries your person secret; open it in your browser)",
    )
    page.add_argument("--url", default=DEFAULT_PAGE_URL, help=f"the server's HTTP address (default {DEFAULT_PAGE_URL})")
    return p


def _pair(value: str, flag: str) -> tuple[str, str]:
    key, sep, rest = value.partition("=")
    if not sep or not key or not rest:
        raise SystemExit(f"toasty: {flag} expects ID=VALUE, got {value!r}")
    return key, rest


def _interactive(args: argparse.Namespace, common: dict[str, Any], image: Image | None) -> InteractiveNotification:
    inputs: list[TextInput | SelectionInput] = [
        TextInput(id=k, title=t) for k, t in (_pair(v, "--input") for v in args.input)
    ]
    for value in args.select:
        key, choices = _pair(value, "--select")
        inputs.append(SelectionInput(id=key, choices=[Choice(id=c, label=c) for c in choices.split(",")]))
    buttons = [Button(id=k, label=label) for k, label in (_pair(v, "--button") for v in args.button)]
    line2 = getattr(args, "line2", "")
    return InteractiveNotification(**common, line1=args.line1, line2=line2, buttons=buttons, inputs=inputs, image=image)


DEFAULT_PAGE_URL = "http://127.0.0.1:8053"
PERSON_COMMANDS = frozenset({"answer", "withdraw", "subscribe", "asks", "dnd", "mute", "unmute", "snooze"})
EXIT_CODES = {Outcome.BUTTON: 0, Outcome.DISMISSED: 3, Outcome.TIMED_OUT: 4}


def build_notification(args: argparse.Namespace) -> NotificationBuilder | v1.Notification:
    """Pick the template from the flags: --json, --progress, --button, --image, else Text."""
    if args.json is not None:
        text = sys.stdin.read() if str(args.json) == "-" else args.json.read_text()
        return v1.Notification.from_dict(json.loads(text))
    if not args.title:
        raise SystemExit("toasty: --title is required (or give --json FILE)")
    common: dict[str, Any] = {"title": args.title, "urgency": Urgency(args.urgency), "id": args.id}
    if args.progress is not None or args.key:
        if not args.key:
            raise SystemExit("toasty: --progress needs --key (the same key updates one toast in place)")
        return ProgressNotification(**common, key=args.key, value=args.progress or 0.0, status=args.status)
    image = Image(source=args.image, placement=Placement(args.placement)) if args.image else None
    if args.button:
        return _interactive(args, common, image)
    if image is not None:
        return ImageTextNotification(**common, line1=args.line1, line2=args.line2, image=image)
    return TextNotification(**common, line1=args.line1, line2=args.line2)


def describe(delivery: v1.Delivery) -> str:
    """One human-readable line per delivery, control characters escaped (agents choose its text)."""
    return printable(_describe(delivery))


def _describe(delivery: v1.Delivery) -> str:
    head = f"#{delivery.sequence} from {delivery.publisher_agent_id or '?'}"
    n = delivery.notification
    if n is not None:
        kind, payload = betterproto2.which_one_of(n, "payload")
        title = getattr(getattr(payload, "header", None), "title", "")
        return f"{head} [{n.urgency.name.lower()} {kind}] {title} (id {n.id})"
    if delivery.interaction is not None:
        i = delivery.interaction
        return f"{head} answer to {i.notification_id}: {i.kind.name.lower()} {i.button_id} {dict(i.inputs)}"
    if delivery.gap is not None:
        return f"{head} GAP {delivery.gap.from_sequence}..{delivery.gap.to_sequence}: {delivery.gap.reason}"
    return head


def parse_progress_line(line: str) -> tuple[float | None, str]:
    """'40% compiling' -> (0.4, 'compiling'); '0.4' -> (0.4, ''); 'fail disk full' -> (None, 'disk full')."""
    head, _, status = line.strip().partition(" ")
    if head.lower() == "fail":
        return None, status.strip()
    try:
        value = float(head[:-1]) / 100 if head.endswith("%") else float(head)
    except ValueError:
        raise SystemExit(
            f"toasty: progress lines look like '40% status' or '0.4 status', got {line.strip()!r}"
        ) from None
    if not 0.0 <= value <= 1.0:
        raise SystemExit(f"toasty: progress value {head} is outside 0..1 (or 0%..100%)")
    return value, status.strip()


async def _feed_progress(client: ResilientNotificationClient, args: argparse.Namespace) -> int:
    loop = asyncio.get_running_loop()
    async with client.progress(args.title, key=args.key, caption=args.caption) as bar:
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            if not line.strip():
                continue
            value, status = parse_progress_line(line)
            if value is None:
                await bar.update(state=ProgressState.FAILED, status=status or "failed")
                return 1
            await bar.update(value, status=status)
    return 0


async def _run(args: argparse.Namespace) -> int:
    retry = RetryPolicy(publish_attempts=3)
    # The person's commands (answer, withdraw, subscribe as anyone) present the person secret; publishing
    # and asking go as an agent (its TOASTY_TOKEN, or none: a question's answer_key proves it is ours).
    token = person_secret() if args.command in PERSON_COMMANDS and not os.environ.get("TOASTY_TOKEN") else None
    async with ResilientNotificationClient(args.address, agent_id=args.agent_id, retry=retry, token=token) as client:
        if args.command == "publish":
            response = await client.publish(build_notification(args), target=args.target, skip_toast=args.no_toast)
            toast = "requested" if response.toast_requested else "not requested"
            print(
                printable(
                    f"published {response.notification_id} (sequence {response.sequence}, "
                    f"{response.queued_subscribers} live subscriber(s), toast {toast})"
                )
            )
        elif args.command == "subscribe":
            await client.status()  # a server that is not there is one clear error, not endless reconnects
            seen = 0
            async for delivery in client.subscribe(
                args.client_id, after_sequence=args.after, from_beginning=args.from_beginning
            ):
                print(json_line(delivery.to_dict()) if args.json else describe(delivery), flush=True)
                seen += 1
                if args.count and seen >= args.count:
                    break
        elif args.command == "asks":
            questions = await client.open_questions()
            if not questions:
                print("no question is waiting for an answer")
            now_ms = time.time() * 1000
            for q in questions:
                age = f"{(now_ms - q.asked_at_unix_ms) / 1000:.0f}s" if q.asked_at_unix_ms else "?"
                buttons = "/".join(q.button_ids)
                print(printable(f"{q.notification_id}  from {q.publisher_agent_id}  {age} ago  {q.title}  [{buttons}]"))
        elif args.command == "dnd":
            if args.switch is None:
                state = await client.attention()
            else:
                for_seconds, until = _dnd_end(args)
                state = await client.do_not_disturb(args.switch == "on", for_seconds=for_seconds, until_unix=until)
            print(printable(describe_attention(state)))
        elif args.command in ("mute", "unmute"):
            if args.command == "mute":
                state = await client.mute(args.agent, for_seconds=parse_duration(args.for_))
            else:
                state = await client.mute(args.agent, unmute=True)
            muted = {m.agent: m.until_unix_ms for m in state.muted}
            if args.agent in muted:
                ends = datetime.datetime.fromtimestamp(muted[args.agent] / 1000)
                print(printable(f"{args.agent} is muted until {ends:%H:%M}"))
            else:
                print(printable(f"{args.agent} is not muted"))
        elif args.command == "snooze":
            back = await client.snooze(args.notification_id, parse_duration(args.for_))
            print(printable(f"snoozed: shown again at {datetime.datetime.fromtimestamp(back):%H:%M:%S}"))
        elif args.command == "notify":
            title, line1 = (args.title, args.message) if args.title else (args.message, "")
            now = datetime.datetime.now().astimezone()
            deliver_at = now + datetime.timedelta(seconds=parse_duration(args.in_)) if args.in_ else None
            expires_at = (
                (deliver_at or now) + datetime.timedelta(seconds=parse_duration(args.expire_in))
                if args.expire_in
                else None
            )
            message = TextNotification(
                title=title,
                line1=line1,
                urgency=Urgency(args.urgency),
                deliver_at=deliver_at,
                expires_at=expires_at,
                group=args.group or "",
                dedupe_key=args.dedupe_key,
            )
            response = await client.publish(message, target=args.target)
            when = f", shown at {deliver_at:%H:%M:%S}" if deliver_at else ""
            print(printable(f"published {response.notification_id}{when}"))
        elif args.command == "ask":
            common: dict[str, Any] = {"title": args.title, "urgency": Urgency(args.urgency)}
            question = _interactive(args, common, None).to_proto()
            question.answer_timeout_seconds = max(1, math.ceil(args.timeout))
            asked = await client.publish(question)
            # at once, so that another terminal can answer it: the id the person names (service.ids)
            owner = client.agent_id or "anonymous"
            sys.stderr.write(
                printable(
                    f"asked {owner}~{asked.notification_id}: toasty answer {owner}~{asked.notification_id} BUTTON"
                )
                + "\n"
            )
            sys.stderr.flush()
            answer = await client.wait_for_answer(asked.notification_id, timeout=args.timeout + 5)
            print(json_line(dataclasses.asdict(answer) | {"outcome": answer.outcome.value}))
            return EXIT_CODES.get(answer.outcome, 5)
        elif args.command == "answer":
            if not args.button_id and not args.dismiss:
                raise SystemExit("toasty: give the button to press, or --dismiss")
            inputs = dict(_pair(v, "--input") for v in args.input)
            accepted = await client.answer(args.notification_id, args.button_id, inputs, dismiss=args.dismiss)
            print("answered" if accepted else "not recorded: it was already answered, dismissed or timed out")
            return 0 if accepted else 1
        elif args.command == "progress":
            return await _feed_progress(client, args)
        elif args.command == "withdraw":
            withdrawn = await client.withdraw(args.notification_id)
            print("withdrawn" if withdrawn else "already answered or withdrawn")
        elif args.command == "status":
            # Answering at all means serving: a stopping server refuses new calls (SHUTTING_DOWN).
            status = (await client.status()).to_dict()
            print(json.dumps({"health": "SERVING", **status}, indent=2, ensure_ascii=True))
    return 0


def _dnd_end(args: argparse.Namespace) -> tuple[float, float]:
    """(for_seconds, until unix seconds) from --for / --until; SystemExit with what to fix."""
    if args.switch == "off" and (args.for_ or args.until):
        raise SystemExit("toasty: --for and --until go with `dnd on`")
    if args.for_ and args.until:
        raise SystemExit("toasty: give --for or --until, not both")
    if args.for_:
        return parse_duration(args.for_), 0.0
    if args.until:
        return 0.0, next_local_time(args.until).timestamp()
    return 0.0, 0.0


def parse_duration(text: str) -> float:
    """`90s`, `45m`, `2h`, `1h30m` (or plain seconds) → seconds."""
    found = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+)s?)?\s*", text)
    if not text.strip() or found is None or not any(found.groups()):
        raise SystemExit(f"toasty: duration {text!r}: write it as 90s, 45m, 2h or 1h30m")
    hours, minutes, seconds = (int(g) if g else 0 for g in found.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise SystemExit(f"toasty: duration {text!r} is zero: give a time to wait")
    return float(total)


def next_local_time(text: str) -> datetime.datetime:
    """The next time the local clock shows HH:MM (today, else tomorrow)."""
    found = re.fullmatch(r"\s*(\d{1,2}):(\d{2})\s*", text)
    if found is None or int(found.group(1)) > 23 or int(found.group(2)) > 59:
        raise SystemExit(f"toasty: time {text!r}: write it as HH:MM, e.g. 07:30")
    now = datetime.datetime.now().astimezone()
    moment = now.replace(hour=int(found.group(1)), minute=int(found.group(2)), second=0, microsecond=0)
    return moment if moment > now else moment + datetime.timedelta(days=1)


def describe_attention(state: Any) -> str:
    """One line for people: whether toasts are held, why, until when, and how many were."""
    if state.do_not_disturb:
        until = (
            f" until {datetime.datetime.fromtimestamp(state.until_unix_ms / 1000):%H:%M}"
            if state.until_unix_ms
            else " until you turn it off"
        )
        head = f"do-not-disturb is on{until}"
    elif state.quiet_hours:
        head = f"quiet hours ({state.quiet_hours_spec}): toasts are held"
    else:
        head = "do-not-disturb is off" + (f" (quiet hours {state.quiet_hours_spec})" if state.quiet_hours_spec else "")
    held = len(state.held)
    if held:
        head += f"; {held} toast{'s' if held != 1 else ''} held"
    if state.muted:
        head += "; muted: " + ", ".join(m.agent for m in state.muted)
    if state.holding and state.critical_breaks_through:
        head += "; critical toasts still show"
    return head


def _page_link(base: str) -> int:
    """The page's address with the person secret in its fragment (never sent to a server, taken out of the
    address bar by the page at once)."""
    secret = person_secret()
    if not secret:
        sys.stderr.write(
            printable(
                f"toasty: no person secret in {person_secret_file()}: start toasty-server once as this user, "
                "or set TOASTY_PERSON_SECRET_FILE"
            )
            + "\n"
        )
        return 1
    print(printable(f"{base.rstrip('/')}/#token={secret}"))
    return 0


def json_line(value: Any) -> str:
    """One JSON object on one line, all ASCII: a control or bidi character in a string is a `\\uXXXX` escape."""
    return json.dumps(value, ensure_ascii=True)


def main(argv: list[str] | None = None) -> int:
    """Run the command; every error is one line on stderr, control characters escaped (they may quote an
    agent's text, or a server's)."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "page":
            return _page_link(args.url)
        return asyncio.run(_run(args))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        sys.stderr.write(f"toasty: invalid notification: {printable(problems)}\n")
        return 2
    except ServerUnavailable:
        address = args.address or os.environ.get("TOASTY_ADDRESS") or DEFAULT_ADDRESS
        sys.stderr.write(
            printable(f"toasty: cannot reach toasty-server at {address}; start it with `toasty-server`") + "\n"
        )
        return 1
    except ToastyError as exc:
        sys.stderr.write(f"toasty: {printable(str(exc))}\n")
        return 1
    except SystemExit as exc:  # `raise SystemExit("toasty: ...")` quotes flags and input lines
        if isinstance(exc.code, str):
            raise SystemExit(printable(exc.code)) from None
        raise
    except KeyboardInterrupt:
        return 130
