"""The pub/sub core: a sequenced log, live mailboxes, catch-up from the store. No gRPC in here."""

from toasty_server.broker.broker import (
    Broker,
    BrokerClosed,
    LogReset,
    PublishOutcome,
    RetentionGap,
    SubscriptionReplaced,
)
from toasty_server.broker.mailbox import Mailbox
from toasty_server.broker.subscription import Subscription

__all__ = [
    "Broker",
    "BrokerClosed",
    "LogReset",
    "Mailbox",
    "PublishOutcome",
    "RetentionGap",
    "Subscription",
    "SubscriptionReplaced",
]
