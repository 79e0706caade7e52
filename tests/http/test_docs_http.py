"""docs/http.md's table of HTTP statuses says what the server does."""

from __future__ import annotations

import re
from pathlib import Path

import grpc

from toasty_server.http.errors import HTTP_STATUS

DOC = Path(__file__).resolve().parents[2] / "docs" / "http.md"
FROM_AIOHTTP = {405, 413}  # aiohttp's own refusals, not from the error table


def test_the_status_table_matches_the_mapping() -> None:
    text = DOC.read_text()
    table = text[text.index("<!-- http-statuses") :].split("\n\n", 1)[0]
    documented: dict[str, int] = {}
    for line in table.splitlines():
        match = re.match(r"\| (\d{3}) \| (.+?) \|", line)
        if match is None:
            continue
        status = int(match.group(1))
        for name in re.findall(r"`([A-Z_]+)`", match.group(2)):
            if status not in FROM_AIOHTTP:
                documented[name] = status
    expected = {
        code.name: status
        for code, status in HTTP_STATUS.items()
        if code not in (grpc.StatusCode.OK, grpc.StatusCode.CANCELLED, grpc.StatusCode.OUT_OF_RANGE)
        and code not in (grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.UNIMPLEMENTED)
    }
    expected["INTERNAL"] = 500
    assert documented == expected
