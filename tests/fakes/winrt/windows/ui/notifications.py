"""`winrt.windows.ui.notifications`: a toast notifier that records instead of showing.

State is class-level, like the real ToastNotificationManager's; tests call `reset()` between runs.
Test hooks: `notifier_for(aumid)` (what was shown, updated, hidden), `ToastNotification.fire_activated /
fire_dismissed / fire_failed` (raise the events Windows would raise, on whatever thread calls them), and
`ToastNotifier.show_error` (make the next show() raise, as WinRT does when it refuses a toast).

With FAKE_WINDOWS_DIR set (a hub run as a child process over this fake), the Action Center is also kept
in that folder, as Windows keeps it beyond the life of the process that showed a toast: the test's fake
Windows (winrt/shell.py) reads it there to click a toast after that process is gone.
"""

from __future__ import annotations

import datetime
import enum
import json
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from winrt import system
from winrt.windows.data.xml.dom import XmlDocument

MAX_TAG_CHARS = 64  # Windows 10 Creators Update and later; a longer tag or group makes show() fail


class ToastDismissalReason(enum.IntEnum):
    USER_CANCELED = 0
    APPLICATION_HIDDEN = 1
    TIMED_OUT = 2


class NotificationUpdateResult(enum.IntEnum):
    SUCCEEDED = 0
    FAILED = 1
    NOTIFICATION_NOT_FOUND = 2


class _StringMap(dict[str, str]):
    """IMap<String, String>: values must be strings (PyWinRT refuses None for an hstring)."""

    def __setitem__(self, key: str, value: str) -> None:
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(f"NotificationData values are strings, got {key!r}: {value!r}")
        super().__setitem__(key, value)

    def insert(self, key: str, value: str) -> bool:
        replaced = key in self
        self[key] = value
        return replaced


class NotificationData:
    def __init__(self) -> None:
        self.values = _StringMap()
        self.sequence_number = 0


class ToastActivatedEventArgs(system.Object):
    def __init__(self, arguments: str, user_input: Mapping[str, system.Object]) -> None:
        self.arguments = arguments
        self.user_input = dict(user_input)


class ToastDismissedEventArgs(system.Object):
    def __init__(self, reason: ToastDismissalReason) -> None:
        self.reason = reason


class ToastFailedEventArgs(system.Object):
    def __init__(self, error_code: int) -> None:
        self.error_code = error_code


Handler = Callable[[Any, Any], None]


class ToastNotification:
    def __init__(self, content: XmlDocument) -> None:
        self.content = content
        self.tag = ""
        self.group = ""
        self.data: NotificationData | None = None
        self.expiration_time: datetime.datetime | None = None
        self.suppress_popup = False
        self._handlers: dict[str, list[Handler]] = {"activated": [], "dismissed": [], "failed": []}

    def add_activated(self, handler: Handler) -> int:
        self._handlers["activated"].append(handler)
        return len(self._handlers["activated"])

    def add_dismissed(self, handler: Handler) -> int:
        self._handlers["dismissed"].append(handler)
        return len(self._handlers["dismissed"])

    def add_failed(self, handler: Handler) -> int:
        self._handlers["failed"].append(handler)
        return len(self._handlers["failed"])

    # --- test hooks -------------------------------------------------------------------------------

    @property
    def xml(self) -> str:
        """The toast XML exactly as Windows receives it (bindings such as {text1} unresolved)."""
        return self.content.get_xml()

    @property
    def rendered_xml(self) -> str:
        """The XML with the data bindings filled in from the current NotificationData: what is on screen."""
        values = self.data.values if self.data is not None else {}
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), self.xml)

    def fire_activated(self, arguments: str, inputs: Mapping[str, str] | None = None) -> None:
        boxed = {k: system.box_string(v) for k, v in (inputs or {}).items()}
        self._fire("activated", ToastActivatedEventArgs(arguments, boxed))

    def fire_dismissed(self, reason: ToastDismissalReason) -> None:
        self._fire("dismissed", ToastDismissedEventArgs(reason))

    def fire_failed(self, error_code: int = -2147024891) -> None:
        self._fire("failed", ToastFailedEventArgs(error_code))

    def _fire(self, event: str, args: system.Object) -> None:
        for handler in list(self._handlers[event]):
            handler(self, args)


class ScheduledToastNotification:
    def __init__(self, content: XmlDocument, delivery_time: datetime.datetime) -> None:
        self.content = content
        self.delivery_time = delivery_time
        self.tag = ""
        self.group = ""
        self.expiration_time: datetime.datetime | None = None
        self.suppress_popup = False


@dataclass
class Update:
    """One update_with_tag_and_group call: the values sent and whether a toast matched."""

    values: dict[str, str]
    sequence_number: int
    tag: str
    group: str
    result: NotificationUpdateResult


class ToastNotifier:
    def __init__(self, app_id: str) -> None:
        self.app_id = app_id
        self.shown: list[ToastNotification] = []
        self.updates: list[Update] = []
        self.hidden: list[ToastNotification] = []
        self.scheduled: list[ScheduledToastNotification] = []
        self.show_error: BaseException | None = None
        self.threads: list[str] = []  # name of the thread of every call, to check the event loop is spared

    def show(self, notification: ToastNotification) -> None:
        self.threads.append(threading.current_thread().name)
        if self.show_error is not None:
            error, self.show_error = self.show_error, None
            raise error
        for name in ("tag", "group"):
            if len(getattr(notification, name)) > MAX_TAG_CHARS:
                raise OSError(f"The parameter is incorrect: {name} longer than {MAX_TAG_CHARS} characters")
        self.shown.append(notification)
        ToastNotificationManager.history._add(self.app_id, notification)

    def hide(self, notification: ToastNotification) -> None:
        self.threads.append(threading.current_thread().name)
        self.hidden.append(notification)
        ToastNotificationManager.history._remove(self.app_id, notification.tag, notification.group)
        notification.fire_dismissed(ToastDismissalReason.APPLICATION_HIDDEN)

    def update_with_tag_and_group(self, data: NotificationData, tag: str, group: str) -> NotificationUpdateResult:
        self.threads.append(threading.current_thread().name)
        target = ToastNotificationManager.history._find(self.app_id, tag, group)
        result = NotificationUpdateResult.NOTIFICATION_NOT_FOUND
        if target is not None:
            if target.data is None:
                target.data = NotificationData()
            for key, value in data.values.items():
                target.data.values[key] = value
            target.data.sequence_number = data.sequence_number
            result = NotificationUpdateResult.SUCCEEDED
        self.updates.append(Update(dict(data.values), data.sequence_number, tag, group, result))
        return result

    def add_to_schedule(self, notification: ScheduledToastNotification) -> None:
        self.scheduled.append(notification)

    def remove_from_schedule(self, notification: ScheduledToastNotification) -> None:
        self.scheduled.remove(notification)

    def get_scheduled_toast_notifications(self) -> list[ScheduledToastNotification]:
        return list(self.scheduled)


def _share(event: str, app_id: str, tag: str = "", group: str = "", xml: str = "") -> None:
    """Append to the Action Center kept in FAKE_WINDOWS_DIR, when there is one."""
    folder = os.environ.get("FAKE_WINDOWS_DIR")
    if not folder:
        return
    record = {"event": event, "app_id": app_id, "tag": tag, "group": group, "xml": xml, "pid": os.getpid()}
    with (Path(folder) / "action-center.jsonl").open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


class ToastNotificationHistory:
    """The Action Center: toasts still there, per app id, and the removals asked for."""

    def __init__(self) -> None:
        self.active: dict[str, list[ToastNotification]] = {}
        self.removed: list[tuple[str, str, str]] = []  # (tag, group, app id)

    def remove_grouped_tag_with_id(self, tag: str, group: str, app_id: str) -> None:
        self.removed.append((tag, group, app_id))
        self._remove(app_id, tag, group)

    def remove_group_with_id(self, group: str, app_id: str) -> None:
        self.active[app_id] = [n for n in self.active.get(app_id, []) if n.group != group]
        _share("group_removed", app_id, group=group)

    def clear_with_id(self, app_id: str) -> None:
        self.active.pop(app_id, None)
        _share("cleared", app_id)

    def _add(self, app_id: str, notification: ToastNotification) -> None:
        # A toast with the tag and group of one already there replaces it, as on Windows.
        self._remove(app_id, notification.tag, notification.group)
        self.active.setdefault(app_id, []).append(notification)
        _share("shown", app_id, notification.tag, notification.group, notification.xml)

    def _remove(self, app_id: str, tag: str, group: str) -> None:
        self.active[app_id] = [n for n in self.active.get(app_id, []) if (n.tag, n.group) != (tag, group)]
        _share("removed", app_id, tag, group)

    def _find(self, app_id: str, tag: str, group: str) -> ToastNotification | None:
        return next((n for n in self.active.get(app_id, []) if (n.tag, n.group) == (tag, group)), None)


class ToastNotificationManager:
    notifiers: ClassVar[dict[str, ToastNotifier]] = {}
    history: ClassVar[ToastNotificationHistory] = ToastNotificationHistory()

    @staticmethod
    def create_toast_notifier_with_id(app_id: str) -> ToastNotifier:
        return ToastNotificationManager.notifiers.setdefault(app_id, ToastNotifier(app_id))


def notifier_for(app_id: str) -> ToastNotifier:
    """The notifier of an app id (created if the code under test did not create it)."""
    return ToastNotificationManager.create_toast_notifier_with_id(app_id)


def reset() -> None:
    ToastNotificationManager.notifiers.clear()
    ToastNotificationManager.history = ToastNotificationHistory()
