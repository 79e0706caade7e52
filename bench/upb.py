"""The toasty.v1 schema as protobuf (upb, C codec) classes, generated at bench time into a temp folder.

The baseline server and the bench clients use these classes: same .proto, same wire format as Toasty's
betterproto2 dataclasses, but ~100x cheaper to (de)serialize, so client cost does not hide server cost.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parent.parent
PROTO_ROOT = REPO / "packages" / "toasty-proto" / "proto"
PROTO_FILE = "toasty/v1/toasty.proto"
SERVICE = "toasty.v1.NotificationService"
PUBLISH = f"/{SERVICE}/Publish"
SUBSCRIBE = f"/{SERVICE}/Subscribe"
GET_STATUS = f"/{SERVICE}/GetStatus"
# many publishes on one bidi call (PublishStreamRequest in, PublishStreamResponse out)
PUBLISH_STREAM = f"/{SERVICE}/PublishStream"


def generate(out_dir: Path) -> Path:
    """Run grpcio-tools' protoc (--python_out) over toasty.proto into out_dir; return out_dir."""
    import grpc_tools
    from grpc_tools import protoc

    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(grpc_tools.__file__).parent / "_proto"
    args = ["protoc", f"-I{PROTO_ROOT}", f"-I{include}", f"--python_out={out_dir}", PROTO_FILE]
    rc = protoc.main(args)
    if rc != 0:
        raise RuntimeError(f"protoc failed ({rc}) on {PROTO_ROOT / PROTO_FILE}")
    return out_dir


def load(pb_dir: str | Path) -> ModuleType:
    """Import the generated toasty_pb2 module from pb_dir."""
    path = str(pb_dir)
    if path not in sys.path:
        sys.path.insert(0, path)
    return importlib.import_module("toasty.v1.toasty_pb2")
