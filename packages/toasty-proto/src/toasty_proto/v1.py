"""The `toasty.v1` messages, enums and RPC methods under a stable import path.

The generated modules live in `toasty_proto._generated` (rebuilt from the .proto, never edited); import
from here instead.
"""

from toasty_proto._generated.rpc_table import *  # noqa: F403
from toasty_proto._generated.toasty.v1 import *  # noqa: F403
