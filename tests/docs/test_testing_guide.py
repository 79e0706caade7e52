"""The example in docs/testing.md runs as written (a guide whose code does not run is worse than none)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "testing.md"


async def test_testing_guide_example_passes() -> None:
    code = re.search(r"```python\n(.*?)```", DOC.read_text(), re.DOTALL)
    assert code is not None
    namespace: dict[str, object] = {}
    exec(compile(code.group(1), str(DOC), "exec"), namespace)
    test = namespace["test_my_agent_acts_on_the_answer"]
    await test()  # type: ignore[operator]
