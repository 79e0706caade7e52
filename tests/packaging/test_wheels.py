"""Three separately installable wheels; the client wheel pulls in no server dependency."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from uv import find_uv_bin

ROOT = Path(__file__).resolve().parents[2]
SERVER_ONLY = {
    "toasty-server",
    "windows-toasts",
    "dbus-fast",
    "aiolimiter",
    "prometheus-client",
    "aiohttp",
    "pydantic-settings",
    "grpcio-health-checking",
    "grpcio-reflection",
}


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    dist = tmp_path_factory.mktemp("dist")
    sources = tmp_path_factory.mktemp("src")
    for package in ("toasty-proto", "toasty-client", "toasty-server"):
        # built from a copy: the proto build hook writes its generated code into the source tree, which
        # tests running at the same time (pytest -n) import
        source = sources / package
        shutil.copytree(ROOT / "packages" / package, source, ignore=shutil.ignore_patterns("__pycache__", "_generated"))
        subprocess.run(
            [find_uv_bin(), "build", "--wheel", "--quiet", "--out-dir", str(dist), str(source)],
            check=True,
        )
    return {w.name.split("-")[0]: w for w in dist.glob("*.whl")}


def test_proto_wheel_ships_the_generated_code(wheels: dict[str, Path]) -> None:
    names = zipfile.ZipFile(wheels["toasty_proto"]).namelist()
    for expected in (
        "toasty_proto/_generated/toasty/v1/__init__.py",
        "toasty_proto/_generated/rpc_table.py",
        "toasty_proto/_generated/proto/toasty/v1/toasty.proto",
        "toasty_proto/py.typed",
    ):
        assert expected in names


def test_server_wheel_keeps_platform_dependencies_behind_markers(wheels: dict[str, Path]) -> None:
    with zipfile.ZipFile(wheels["toasty_server"]) as wheel:
        metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith("METADATA"))).decode()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    assert any("windows-toasts" in r and "sys_platform == 'win32'" in r for r in requires)
    assert any("dbus-fast" in r and "sys_platform == 'linux'" in r for r in requires)


def test_client_wheel_alone_has_no_server_dependency(wheels: dict[str, Path], tmp_path: Path) -> None:
    uv = find_uv_bin()
    venv = tmp_path / "venv"
    subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [
            uv,
            "pip",
            "install",
            "--quiet",
            "--python",
            str(python),
            str(wheels["toasty_proto"]),
            str(wheels["toasty_client"]),
        ],
        check=True,
    )
    listing = subprocess.run(
        [uv, "pip", "list", "--python", str(python), "--format", "freeze"], check=True, capture_output=True, text=True
    ).stdout
    installed = {line.split("==")[0].lower() for line in listing.splitlines() if "==" in line}
    assert {"toasty-client", "toasty-proto", "grpcio", "tenacity", "pydantic"} <= installed
    assert not installed & SERVER_ONLY, f"server dependencies leaked into the client: {installed & SERVER_ONLY}"
    smoke = "import toasty_client; toasty_client.TextNotification(title='t').to_proto(); print('ok')"
    assert subprocess.run([python, "-c", smoke], check=True, capture_output=True, text=True).stdout.strip() == "ok"
    assert subprocess.run([venv / "bin" / "toasty", "--help"], check=True, capture_output=True).returncode == 0
