"""Every code block of README.md and docs/*.md runs as written, against a real hub (issue 16).

Python blocks run as scripts in their own process (a block that defines pytest tests runs under pytest),
shell blocks under bash with `set -eo pipefail`, and a TOML block is a configuration file that
`toasty-server --config FILE --print-config` must take, its values in effect. Each must end within
BLOCK_TIMEOUT with exit code 0, and a Python block must print what it did.

They run as a user on a fresh machine would: no TOASTY_* setting but TOASTY_ADDRESS (the module's hub),
HOME a fresh folder whose user data folder holds the hub's database and person secret (so `toasty answer`
and `~/.local/share/toasty/person.secret` work as documented), and `localhost:8053` is the hub's HTTP
port. The hub is the shipped one but for its ports, the console renderer and no rate limit (the blocks of
one module publish more than one person's attention budget).

While a block runs, the person answers every question it asks with the question's first button, by the
global id `toasty asks` shows. In shell blocks `curl` fails on an HTTP error (`--fail-with-body`),
`hatch run X` runs X in this environment, and `pip install NAME` checks that NAME is installed here (the
workspace's packages are) without asking a package index. A command that starts a hub (`toasty-server`,
`hatch run server`) runs in the background on free ports and a fresh HOME, the block's other commands
talk to it, and it must stop cleanly on SIGTERM; one that follows deliveries (`toasty subscribe`,
`curl -N`) runs in the background until it printed a notification published for it.

A block that cannot run as written carries `<!-- snippet: not run (why) -->` right above it: exactly those
are skipped (tests/docs/snippets.py finds the blocks).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import sys
import time
import tomllib
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.core.process import ServerProcess, free_port
from tests.docs.snippets import Command, Kind, Snippet, all_snippets, commands, snippets
from tests.requires import missing
from toasty_client import ResilientNotificationClient, TextNotification, ToastyError

BLOCK_TIMEOUT = 30.0  # seconds one block may take
MASKED = "**********"  # how --print-config shows a secret setting
SNIPPETS = all_snippets()
pytestmark = pytest.mark.timeout(90)

PRELUDE = """\
set -eo pipefail
curl() { command curl --fail-with-body -sS "$@"; }
hatch() {  # `hatch run X` inside this hatch environment: hatch.toml's scripts
  [ "$1" = run ] || { echo "hatch $1: not run by the snippet test" >&2; return 2; }
  shift
  if [ "$1" = server ]; then shift; toasty-server "$@"; else "$@"; fi
}
pip() {  # `pip install NAME...`: this environment has them from the workspace; they must be the right names
  [ "$1" = install ] || { command pip "$@"; return; }
  shift
  python -c 'import importlib.metadata as m, sys; [m.distribution(n) for n in sys.argv[1:]]' "$@"
}
"""


@dataclass(frozen=True)
class Hub:
    """A running hub as a block sees it."""

    address: str
    http_port: int
    home: Path  # HOME of its user: the data folder is home/.local/share/toasty

    @property
    def person_secret(self) -> str:
        return (data_dir(self.home) / "person.secret").read_text().strip()

    def env(self) -> dict[str, str]:
        """A user's environment on defaults: no TOASTY_* setting but the address of this hub."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("TOASTY_") and k != "XDG_DATA_HOME"}
        return {**env, "HOME": str(self.home), "TOASTY_ADDRESS": self.address, "PYTHONUNBUFFERED": "1"}


def data_dir(home: Path) -> Path:
    return home / ".local" / "share" / "toasty"


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub for the module's blocks, its data in the user data folder of a fresh HOME."""
    home = tmp_path_factory.mktemp("home")
    data_dir(home).mkdir(parents=True)
    http_port = free_port()
    env = {
        "HOME": str(home),
        "XDG_DATA_HOME": str(home / ".local" / "share"),
        "TOASTY_PERSON_SECRET_FILE": str(data_dir(home) / "person.secret"),  # the default place, for this HOME
        "TOASTY_HTTP_ENABLED": "true",
        "TOASTY_HTTP_PORT": str(http_port),
        "TOASTY_METRICS_PORT": "0",
    }
    server = ServerProcess(data_dir(home) / "toasty.db", env=env)
    server.start()
    try:
        wait_listening(http_port, lambda: server.proc.poll() if server.proc else None)
        yield Hub(server.address, http_port, home)
    finally:
        server.kill()


def wait_listening(port: int, exit_code: Callable[[], int | None], timeout: float = 15.0) -> None:
    """Until something accepts connections on the loopback `port`; fail if the hub exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        if (code := exit_code()) is not None:
            raise AssertionError(f"the hub exited with {code} before listening on {port}")
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {port} after {timeout} s")


@pytest.mark.parametrize("snippet", SNIPPETS, ids=str)
async def test_snippet_runs(snippet: Snippet, hub: Hub, tmp_path: Path) -> None:
    if snippet.exempt:
        pytest.skip(f"not run: {snippet.exempt}")
    if snippet.language == "python":
        await run_python(snippet, hub, tmp_path)
    elif snippet.language == "toml":
        await run_toml(snippet, hub, tmp_path)
    else:
        await run_shell(snippet, hub, tmp_path)


def test_every_document_has_its_blocks_found() -> None:
    found = {s.where for s in SNIPPETS}
    readme = [s for s in SNIPPETS if s.path.name == "README.md"]
    assert sum(s.language == "python" for s in readme) >= 3, found
    assert any(s.path.name == "client.md" for s in SNIPPETS), found
    exempt = [s for s in SNIPPETS if s.exempt]
    assert len(exempt) <= len(SNIPPETS) // 4, f"exemptions are for the rare block: {[str(s) for s in exempt]}"


def test_markers_and_commands_are_read_as_documented(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("<!-- snippet: not run (needs Windows) -->\n```sh\ntoasty-server register-aumid\n```\n")
    [block] = snippets(doc)
    assert block.exempt == "needs Windows"
    doc.write_text("<!-- snippet: not run (a typo) -->\n\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="not right above a code block"):
        snippets(doc)
    doc.write_text("<!-- snippet: skip -->\n```python\nprint(1)\n```\n")
    with pytest.raises(ValueError, match="write `<!-- snippet: not run"):
        snippets(doc)
    steps = commands(
        "A='-H X: y'  # a comment\ncurl $A -d '{\n}' \\\n  localhost:8053/v1/publish\n"
        "TOASTY_HTTP_ENABLED=true hatch run server\nhatch run toasty subscribe\ndf | curl -N x\n"
    )
    assert [(c.kind, c.argv[:1]) for c in steps] == [
        (Kind.PLAIN, []),
        (Kind.PLAIN, ["curl"]),
        (Kind.HUB, ["toasty-server"]),
        (Kind.FOLLOW, ["toasty"]),
        (Kind.PLAIN, ["df"]),
    ]
    assert steps[2].env == {"TOASTY_HTTP_ENABLED": "true"}


# -- Python ------------------------------------------------------------------------------------------


async def run_python(snippet: Snippet, hub: Hub, tmp_path: Path) -> None:
    if "import pytest" in snippet.code and "def test_" in snippet.code:
        script = tmp_path / "test_snippet.py"  # a test module: run as its reader runs it
        argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(script)]
    else:
        script = tmp_path / "snippet.py"
        argv = [sys.executable, str(script)]
    script.write_text(snippet.code)
    async with person_answering(hub):
        result = await run(argv, hub.env(), tmp_path)
    result.check(snippet)
    assert result.out.strip(), f"{snippet} prints nothing: a snippet should show what it did\n{result}"


# -- TOML: a configuration file ----------------------------------------------------------------------


async def run_toml(snippet: Snippet, hub: Hub, tmp_path: Path) -> None:
    """The server takes the file, and its effective settings are the file's."""
    config = tmp_path / "toasty.toml"
    config.write_text(snippet.code)
    result = await run(["toasty-server", "--config", str(config), "--print-config"], hub.env(), tmp_path)
    result.check(snippet)
    effective = json.loads(result.out)
    for name, value in tomllib.loads(snippet.code).items():
        if effective[name] == MASKED:  # a secret (the database URL): --print-config never shows it
            continue
        assert effective[name] == value, f"{snippet}: {name} = {value!r} in the file, {effective[name]!r} in effect"


# -- shell -------------------------------------------------------------------------------------------


async def run_shell(snippet: Snippet, hub: Hub, tmp_path: Path) -> None:
    if "curl " in snippet.code and shutil.which("curl") is None:
        missing("curl is not installed", "TOASTY_REQUIRE_TOOLS")
    steps = commands(snippet.code)
    async with contextlib.AsyncExitStack() as stack:
        for command in (c for c in steps if c.kind is Kind.HUB):  # started first: the others talk to it
            hub = await stack.enter_async_context(own_hub(command, tmp_path))
        await stack.enter_async_context(person_answering(hub))
        for command in (c for c in steps if c.kind is Kind.FOLLOW):
            await follow(snippet, command, hub, tmp_path)
        script = "\n".join(c.text for c in steps if c.kind is Kind.PLAIN)
        if script:
            result = await run(["bash", "-c", PRELUDE + for_hub(script, hub)], hub.env(), tmp_path)
            result.check(snippet)


def for_hub(text: str, hub: Hub) -> str:
    return text.replace("localhost:8053", f"localhost:{hub.http_port}")


@contextlib.asynccontextmanager
async def own_hub(command: Command, tmp_path: Path) -> AsyncIterator[Hub]:
    """The hub a block starts, as written (`hatch run server` is `toasty-server`), on free ports and a fresh
    HOME; it must stop cleanly on SIGTERM."""
    home = tmp_path / f"home-{uuid.uuid4().hex[:6]}"
    home.mkdir()
    grpc_port, http_port = free_port(), free_port()
    hub = Hub(f"localhost:{grpc_port}", http_port, home)
    settings = {"TOASTY_PORT": str(grpc_port), "TOASTY_HTTP_PORT": str(http_port), "TOASTY_METRICS_PORT": "0"}
    env = {**hub.env(), **settings, **command.env}
    log = tmp_path / "own-hub.log"
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(*command.argv, env=env, stdout=out, stderr=out, cwd=tmp_path)
    try:
        await asyncio.to_thread(wait_listening, grpc_port, lambda: proc.returncode)
        if command.env.get("TOASTY_HTTP_ENABLED") == "true":
            await asyncio.to_thread(wait_listening, http_port, lambda: proc.returncode)
        yield hub
    finally:
        code = await stop(proc)
    assert code == 0, f"{command.text!r} exited with {code} on SIGTERM (None: it did not stop):\n{log.read_text()}"


async def stop(proc: asyncio.subprocess.Process, grace: float = 15.0) -> int | None:
    """SIGTERM, then its exit code; None if it had to be killed."""
    if proc.returncode is None:
        proc.send_signal(signal.SIGTERM)
    try:
        return await asyncio.wait_for(proc.wait(), grace)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return None


async def follow(snippet: Snippet, command: Command, hub: Hub, tmp_path: Path) -> None:
    """Start a command that prints deliveries until stopped; it must print one published for it."""
    proc = await asyncio.create_subprocess_exec(
        "bash", "-c", PRELUDE + for_hub(command.text, hub), env=hub.env(), cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    title = f"for-the-follower-{uuid.uuid4().hex[:8]}"
    seen = bytearray()

    async def read() -> None:
        assert proc.stdout is not None
        while title.encode() not in seen and (chunk := await proc.stdout.read(4096)):
            seen.extend(chunk)

    reading = asyncio.ensure_future(read())
    try:
        async with ResilientNotificationClient(hub.address, agent_id="snippet-test", token=hub.person_secret) as c:
            deadline = time.monotonic() + BLOCK_TIMEOUT
            while not reading.done() and time.monotonic() < deadline:  # until it is subscribed and prints it
                await c.publish(TextNotification(title=title), skip_toast=True)
                await asyncio.wait([reading], timeout=0.5)
        still_running = proc.returncode is None
    finally:
        reading.cancel()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        _, err = await proc.communicate()
    assert title.encode() in seen, (
        f"{snippet}: {command.text!r} never printed a notification published for it "
        f"(exit {proc.returncode})\nstdout:\n{seen.decode(errors='replace')}\nstderr:\n{err.decode(errors='replace')}"
    )
    assert still_running, f"{snippet}: {command.text!r} ended by itself:\n{err.decode(errors='replace')}"


# -- the person, and processes -----------------------------------------------------------------------


@contextlib.asynccontextmanager
async def person_answering(hub: Hub) -> AsyncIterator[None]:
    """While the block runs, answer each open question with its first button, as the person would; at
    the end, the questions still open too, so that no block leaves one behind for the next."""
    answered: set[str] = set()
    async with ResilientNotificationClient(hub.address, agent_id="person", token=hub.person_secret) as person:

        async def answer_all() -> None:
            for question in await person.open_questions():
                if question.notification_id not in answered and question.button_ids:
                    answered.add(question.notification_id)
                    with contextlib.suppress(ToastyError):  # decided meanwhile (withdrawn, answered)
                        await person.answer(question.notification_id, question.button_ids[0])

        async def keep_answering() -> None:
            while True:
                await answer_all()
                await asyncio.sleep(0.1)

        task = asyncio.ensure_future(keep_answering())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await answer_all()


@dataclass
class Result:
    argv: list[str]
    code: int | None  # None: killed after BLOCK_TIMEOUT
    out: str
    err: str

    def check(self, snippet: Snippet) -> None:
        print(f"{snippet}: {' '.join(self.argv[:2])} ...\n{self}")  # shown when the test fails
        if self.code is None:
            raise AssertionError(f"{snippet} did not finish within {BLOCK_TIMEOUT:g} s\n{self}")
        assert self.code == 0, f"{snippet} exited with {self.code}\n{self}"

    def __str__(self) -> str:
        return f"--- stdout:\n{self.out}--- stderr:\n{self.err}"


async def run(argv: list[str], env: dict[str, str], cwd: Path) -> Result:
    proc = await asyncio.create_subprocess_exec(
        *argv, env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )  # fmt: skip
    communicating = asyncio.ensure_future(proc.communicate())
    done, _ = await asyncio.wait([communicating], timeout=BLOCK_TIMEOUT)
    if not done:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
    out, err = await communicating
    with contextlib.suppress(ProcessLookupError):  # whatever the block left running in the background
        os.killpg(proc.pid, signal.SIGKILL)
    code = proc.returncode if done else None
    return Result(argv, code, out.decode(errors="replace"), err.decode(errors="replace"))
