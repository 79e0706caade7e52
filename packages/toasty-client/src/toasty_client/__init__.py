"""Toasty client: `notify()` and `ask()` for synchronous code, `ResilientNotificationClient` for asyncio,
and typed builders for the four notification templates."""

from toasty_client.answers import Answer, Outcome
from toasty_client.builders import (
    Button,
    Choice,
    Image,
    ImageTextNotification,
    InteractiveNotification,
    NotificationBuilder,
    Placement,
    ProgressNotification,
    ProgressState,
    SelectionInput,
    TextInput,
    TextNotification,
    Urgency,
)
from toasty_client.client import ProgressBar, ResilientNotificationClient, RetryPolicy
from toasty_client.errors import (
    InvalidNotification,
    NotFound,
    PermissionDenied,
    RateLimited,
    ServerUnavailable,
    SubscriptionReplaced,
    ToastyError,
    Unauthenticated,
)
from toasty_client.simple import ask, notify

__all__ = [
    "Answer",
    "Button",
    "Choice",
    "Image",
    "ImageTextNotification",
    "InteractiveNotification",
    "InvalidNotification",
    "NotFound",
    "NotificationBuilder",
    "Outcome",
    "PermissionDenied",
    "Placement",
    "ProgressBar",
    "ProgressNotification",
    "ProgressState",
    "RateLimited",
    "ResilientNotificationClient",
    "RetryPolicy",
    "SelectionInput",
    "ServerUnavailable",
    "SubscriptionReplaced",
    "TextInput",
    "TextNotification",
    "ToastyError",
    "Unauthenticated",
    "Urgency",
    "ask",
    "notify",
]
