"""One live subscriber stream: who it is, its mailbox, how far it has read."""

from __future__ import annotations

from dataclasses import dataclass, field

from toasty_server.broker.mailbox import Mailbox


@dataclass(eq=False)
class Subscription:
    client_id: str
    mailbox: Mailbox
    cursor: int = 0  # last sequence written to the stream
    replaced: bool = field(default=False)
    reset_from: int | None = None  # resumed after this sequence of another log: starts with a LogReset
