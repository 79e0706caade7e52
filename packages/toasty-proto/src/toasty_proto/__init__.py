"""Toasty's Protobuf schema (toasty.v1) as betterproto2 dataclasses.

`toasty_proto.v1` holds the messages and one `RpcMethod` per RPC; `proto_root()` is the folder holding
`toasty/v1/toasty.proto`, for generating stubs in other languages.
"""

from importlib import resources
from pathlib import Path

__all__ = ["descriptor_set", "proto_root"]


def proto_root() -> Path:
    """Folder with the .proto sources, as shipped in the wheel."""
    return Path(str(resources.files("toasty_proto._generated") / "proto"))


def descriptor_set() -> bytes:
    """Serialized `google.protobuf.FileDescriptorSet` of the schema and its imports (for reflection)."""
    return (resources.files("toasty_proto._generated") / "descriptor_set.bin").read_bytes()
