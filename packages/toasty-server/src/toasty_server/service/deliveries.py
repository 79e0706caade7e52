"""The one way a Delivery is serialized: once per log entry, when its sequence and time are known."""

from __future__ import annotations

from typing import Any

from toasty_proto import v1
from toasty_server.broker.broker import Encoder


def delivery_encoder(*, target: str, publisher: str = "", **event: Any) -> Encoder:
    """An Encoder for the broker: `event` is the Delivery's payload (notification=, interaction=, receipt=)."""

    def encode(sequence: int, published_at: float) -> bytes:
        return bytes(
            v1.Delivery(
                sequence=sequence,
                published_at_unix_ms=int(published_at * 1000),
                publisher_agent_id=publisher,
                target_client_id=target,
                **event,
            )
        )

    return encode
