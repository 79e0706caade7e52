"""Start-up of a process the fake Windows starts as a COM local server: its ole32 is the fake one.

This folder is put on PYTHONPATH of that process only (tests/fakes/winrt/shell.py), never of the tests.
"""

import importlib.util
import sys
from pathlib import Path

_spec = importlib.util.spec_from_file_location("fake_ole32", Path(__file__).resolve().parent.parent / "com.py")
assert _spec is not None
assert _spec.loader is not None
_module = importlib.util.module_from_spec(_spec)
sys.modules["fake_ole32"] = _module
_spec.loader.exec_module(_module)
_module.install()
