"""The checked-in lock (`constraints.txt`): what judges the code and what the tests run on.

The three wheels declare version *ranges* (they are libraries). The development environment, CI
included, installs exact versions from `constraints.txt` instead, so that a release elsewhere (a new
mypy, new stubs, a new grpcio) cannot turn main red: hatch's uv installer reads it through
`UV_CONSTRAINT` (hatch.toml).

    python .ci/lock.py            refresh the lock (`hatch run lock`): resolve everything anew
    python .ci/lock.py --keep     add what a new dependency needs, keeping every pin already locked
    python .ci/lock.py --sync     bring an existing env in line with the lock (`hatch run test` / `check`
                                  run it first: hatch only re-syncs an env when hatch.toml changes)
    python .ci/lock.py --lowest   write constraints-lowest.txt: every runtime dependency at its declared
                                  lower bound (`hatch run lowest:test` proves those bounds)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parent.parent
LOCK = ROOT / "constraints.txt"
LOWEST = ROOT / "constraints-lowest.txt"
OVERRIDES = ROOT / "tests" / "uv-overrides.txt"
PACKAGES = ("toasty-proto", "toasty-server", "toasty-client")
PYTHON = "3.11"  # the lowest Python the wheels support; --universal makes the lock hold for newer ones too


def workspace_requirements(build: bool = True, extras: bool = True) -> list[str]:
    """Every third-party requirement of the three wheels, optional extras (and build systems) included
    unless told otherwise."""
    found: list[str] = []
    for package in PACKAGES:
        project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())
        found += project["build-system"]["requires"] if build else []
        found += project["project"].get("dependencies", [])
        for extra in project["project"].get("optional-dependencies", {}).values() if extras else ():
            found += extra
    return [item for item in found if Requirement(item).name not in PACKAGES]


def tool_requirements() -> list[str]:
    """The development tools hatch.toml adds (tests, checkers, codegen, the benchmark's peers)."""
    envs = tomllib.loads((ROOT / "hatch.toml").read_text())["envs"]
    return [item for env in envs.values() for item in env.get("extra-dependencies", [])]


def compile_lock(requirements: list[str], output: Path, *extra: str, upgrade: bool = True) -> int:
    """`uv pip compile` of `requirements` into `output`, valid on every platform and Python >= 3.11."""
    command = [
        "uv", "pip", "compile", "-", "--universal", "--python-version", PYTHON,
        "--override", str(OVERRIDES), "--output-file", str(output), "--quiet",
        "--custom-compile-command", "hatch run lock", *(["--upgrade"] if upgrade else []), *extra,
    ]  # fmt: skip
    # hatch's env sets UV_CONSTRAINT to the lock itself: a refresh must resolve free of the old lock
    env = {k: v for k, v in os.environ.items() if k not in ("UV_CONSTRAINT", "UV_BUILD_CONSTRAINT")}
    return subprocess.run(command, input="\n".join(requirements), text=True, cwd=ROOT, env=env).returncode


def out_of_lock() -> list[str]:
    """The locked pins that this interpreter's environment does not have (missing or another version)."""
    stale: list[str] = []
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        pin = Requirement(line)
        if pin.marker is not None and not pin.marker.evaluate():
            continue
        try:
            installed = metadata.version(pin.name)
        except metadata.PackageNotFoundError:
            continue  # the lock also pins what only another env (bench) or an extra installs
        if not pin.specifier.contains(installed, prereleases=True):
            stale.append(f"{pin.name}{pin.specifier}")
    return stale


def sync() -> int:
    """Reinstall, at the locked version, whatever this env holds at another version."""
    stale = out_of_lock()
    if not stale:
        return 0
    print(f"lock: bringing {len(stale)} package(s) to constraints.txt: {', '.join(stale)}", file=sys.stderr)
    command = ["uv", "pip", "install", "--python", sys.executable, "--constraint", str(LOCK)]
    return subprocess.run([*command, "--override", str(OVERRIDES), *stale], cwd=ROOT).returncode


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--sync", action="store_true", help="install the locked version of anything out of line")
    mode.add_argument("--lowest", action="store_true", help="write constraints-lowest.txt (runtime lower bounds)")
    mode.add_argument("--keep", action="store_true", help="resolve with the locked pins kept (a new dependency)")
    args = parser.parse_args()
    if args.sync:
        return sync()
    if args.lowest:
        # the base wheels only: an extra's own needs (mcp wants a newer pydantic) must not raise their floor
        return compile_lock(workspace_requirements(build=False, extras=False), LOWEST, "--resolution", "lowest-direct")
    return compile_lock(workspace_requirements() + tool_requirements(), LOCK, upgrade=not args.keep)


if __name__ == "__main__":
    sys.exit(main())
