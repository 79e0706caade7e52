"""The one way a Delivery is serialized: once per log entry, when its sequence and time are known."""

from __future__ import annotations

import betterproto2

from toasty_server.service.wire import delivery_bytes
from toasty_server.store.base import Encoder


def delivery_encoder(
    *, target: str, publisher: str = "", skip_toast: bool = False, **event: betterproto2.Message | bytes
) -> Encoder:
    """An Encoder for the broker. `event` names the Delivery's payload and gives it as a message or as
    its canonical bytes (notification=, interaction=, receipt=): serialized here once, whatever the
    number of subscribers, and the envelope by upb (`service.wire`)."""
    if len(event) != 1:
        raise TypeError(f"a delivery carries exactly one event, got {sorted(event)}")
    ((field, payload),) = event.items()
    payload_bytes = payload if isinstance(payload, bytes) else bytes(payload)

    def encode(sequence: int, published_at: float) -> bytes:
        return delivery_bytes(sequence, published_at, publisher, target, field, payload_bytes, skip_toast)

    return encode
