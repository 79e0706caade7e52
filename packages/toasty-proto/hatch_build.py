"""Generate toasty_proto/_generated/ from proto/ with betterproto2, as a hatch build hook or a command.

Run as a script to regenerate the development tree (`hatch run gen`); with `--check`, to fail when the
on-disk tree differs from what the .proto would produce (`hatch run gen-check`); with `--sync`, to
regenerate only when it differs (run first by `hatch run test` and `hatch run check`). The tree is
git-ignored and written by the editable install's build hook, so a clone that reuses an existing hatch
env, or an env that predates a .proto change, would otherwise run against missing or stale code.

Besides betterproto2's dataclasses it writes `rpc_table.py`: one typed `RpcMethod` constant per RPC, read
from protoc's descriptor set, because betterproto2 emits no service information for grpc.aio.
"""

from __future__ import annotations

import argparse
import filecmp
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
PROTO_DIR = ROOT / "proto"
OUT_DIR = ROOT / "src" / "toasty_proto" / "_generated"
GENERATED_PACKAGE = "toasty_proto._generated"


def _tool_path() -> str:
    """PATH with the interpreter's scripts dir and ruff's binary first: the plugin shells out to `ruff`."""
    dirs = [sysconfig.get_path("scripts"), str(Path(sys.executable).parent)]
    try:
        from ruff.__main__ import find_ruff_bin  # type: ignore[import-untyped]

        dirs.insert(0, str(Path(find_ruff_bin()).parent))
    except ImportError:
        pass
    return os.pathsep.join([*dirs, os.environ.get("PATH", "")])


def _plugin_path(path_env: str) -> str:
    plugin = shutil.which("protoc-gen-python_betterproto2", path=path_env)
    if plugin is None:
        raise RuntimeError("protoc-gen-python_betterproto2 not found: install betterproto2-compiler")
    return plugin


def _protos() -> list[Path]:
    return sorted(PROTO_DIR.rglob("*.proto"))


def _rpc_table_source(descriptor_set: bytes) -> str:
    from betterproto2_compiler.lib.google.protobuf import FileDescriptorSet

    lines = [
        '"""RPC method table generated from the .proto by hatch_build.py. Do not edit."""',
        "",
        "from typing import Any",
        "",
        "from toasty_proto.method import RpcMethod",
    ]
    imports: set[tuple[str, str]] = set()
    constants: list[str] = []
    names: list[str] = []
    for file in FileDescriptorSet.parse(descriptor_set).file:
        module = f"{GENERATED_PACKAGE}.{file.package}"
        for service in file.service:
            service_full = f"{file.package}.{service.name}"
            for method in service.method:
                request = method.input_type.rsplit(".", 1)[-1]
                response = method.output_type.rsplit(".", 1)[-1]
                imports.update({(module, request), (module, response)})
                const = f"{_upper_snake(service.name)}_{_upper_snake(method.name)}"
                names.append(const)
                constants.append(
                    f"{const}: RpcMethod[{request}, {response}] = RpcMethod(\n"
                    f'    service="{service_full}",\n'
                    f'    name="{method.name}",\n'
                    f"    request_type={request},\n"
                    f"    response_type={response},\n"
                    f"    client_streaming={bool(method.client_streaming)},\n"
                    f"    server_streaming={bool(method.server_streaming)},\n"
                    ")"
                )
    by_module: dict[str, list[str]] = {}
    for module, name in sorted(imports):
        by_module.setdefault(module, []).append(name)
    for module, classes in by_module.items():
        lines.append(f"from {module} import {', '.join(classes)}")
    lines += ["", f"__all__ = {tuple(['ALL_METHODS', *names])!r}", ""]
    lines += [c + "\n" for c in constants]
    lines.append("ALL_METHODS: tuple[RpcMethod[Any, Any], ...] = (")
    lines += [f"    {n}," for n in names]
    lines.append(")")
    return "\n".join(lines) + "\n"


def _upper_snake(name: str) -> str:
    out = "".join(f"_{c}" if c.isupper() and i else c for i, c in enumerate(name))
    return out.upper()


def generate(out_dir: Path) -> None:
    """Run protoc with the betterproto2 plugin into out_dir (replaced whole), then write rpc_table.py."""
    from grpc_tools import protoc  # build-time only dependency

    path_env = _tool_path()
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    well_known = Path(protoc.__file__).parent / "_proto"
    with tempfile.TemporaryDirectory() as tmp:
        descriptor = Path(tmp) / "descriptor.bin"
        args = [
            "grpc_tools.protoc",
            f"-I{PROTO_DIR}",
            f"-I{well_known}",
            f"--plugin=protoc-gen-python_betterproto2={_plugin_path(path_env)}",
            f"--python_betterproto2_out={out_dir}",
            "--python_betterproto2_opt=client_generation=none",
            f"--descriptor_set_out={descriptor}",
            "--include_imports",
            *[str(p.relative_to(PROTO_DIR)) for p in _protos()],
        ]
        old_path = os.environ.get("PATH", "")
        os.environ["PATH"] = path_env
        try:
            code = protoc.main(args)
        finally:
            os.environ["PATH"] = old_path
        if code != 0:
            raise RuntimeError(f"protoc failed with exit code {code}; see its message above")
        (out_dir / "rpc_table.py").write_text(_rpc_table_source(descriptor.read_bytes()))
        # Shipped for server reflection and for users who generate stubs in other languages.
        shutil.copyfile(descriptor, out_dir / "descriptor_set.bin")
        shutil.copytree(PROTO_DIR, out_dir / "proto")
    _format(out_dir / "rpc_table.py", path_env)


def _format(path: Path, path_env: str) -> None:
    ruff = shutil.which("ruff", path=path_env)
    if ruff is not None:
        subprocess.run([ruff, "format", "--quiet", "--isolated", "--line-length", "120", str(path)], check=True)


def _differences(a: Path, b: Path) -> list[str]:
    cmp = filecmp.dircmp(a, b, ignore=["__pycache__"])
    diffs = [*cmp.left_only, *cmp.right_only, *cmp.diff_files]
    for name, sub in cmp.subdirs.items():
        diffs += [f"{name}/{d}" for d in _differences(Path(sub.left), Path(sub.right))]
    return diffs


def _compare(*, write: bool) -> list[str]:
    """Regenerate into a temp dir and compare with the development tree: what differs (everything when
    the tree is missing). With `write`, replace the tree by the fresh one when anything differs."""
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / "_generated"
        generate(fresh)
        stale = sorted(_differences(fresh, OUT_DIR)) if OUT_DIR.exists() else [f"{OUT_DIR.name}/ (missing)"]
        if write and stale:
            if OUT_DIR.exists():
                shutil.rmtree(OUT_DIR)
            shutil.copytree(fresh, OUT_DIR)
    return stale


def check() -> int:
    """Fail when the development tree differs from what the .proto produces."""
    stale = _compare(write=False)
    if stale:
        print(f"generated code is stale ({', '.join(stale)}): run `hatch run gen`", file=sys.stderr)
        return 1
    return 0


def sync() -> int:
    """Regenerate the development tree only when it differs, so an up-to-date tree is left untouched."""
    stale = _compare(write=True)
    if stale:
        print(f"regenerated toasty_proto/_generated ({', '.join(stale)})", file=sys.stderr)
    return 0


try:
    from hatchling.builders.hooks.plugin.interface import BuildHookInterface
except ImportError:  # running as a plain script in an env without hatchling
    BuildHookInterface = object


class ProtoBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Generates the code before hatchling collects the wheel's files (standard and editable)."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        generate(OUT_DIR)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="fail when the generated tree is stale")
    mode.add_argument("--sync", action="store_true", help="regenerate only when the generated tree is stale")
    args = parser.parse_args()
    if args.check:
        return check()
    if args.sync:
        return sync()
    generate(OUT_DIR)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
