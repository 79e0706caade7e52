"""Windows desktop backend: native toasts through windows-toasts' own classes, under Toasty's AUMID.

windows-toasts (and the PyWinRT below it) is imported by `start()`, not when this module loads, so the
module loads on every platform and a non-Windows desktop is reported as BackendUnavailable.

Every WinRT call runs on one dedicated worker thread: the event loop never blocks, the calls stay in
order (a progress update never overtakes the show it updates), and PyWinRT initialises COM once, on the
thread that imported it. Windows raises the toast events on threads of its own; they re-enter the event
loop with `call_soon_threadsafe`, where they are mapped to at most one Interaction per notification.

Arguments carried by a toast (written and read in render.windows_arguments):
- a button: `toasty:<notification id>:<button id>` (both percent-encoded, so ':' cannot be ambiguous);
- the body (launch): the toast tag, `toasty:<notification id>` when that fits the 64 characters Windows
  allows for a tag, otherwise `toasty-h:<hash>`; a progress toast's tag is `toasty-p:<hash of publisher
  and progress key>`, stable across the updates. A notification with a `launch_url` launches that URL.

Windows raises the Activated event only in the process that showed the toast, while it runs. A click after
that process is gone (the hub restarted, or the toast is clicked in the Action Center later) reaches the
COM activator that `toasty-server register-aumid` registers: render.windows_activation (docs/windows.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from toasty_server.config import Settings
from toasty_server.render.backend import (
    BackendStatus,
    BackendUnavailable,
    Interaction,
    InteractionKind,
    InteractionSink,
)
from toasty_server.render.spec import Kind, Placement, ProgressSpec, ProgressState, ToastSpec, Urgency
from toasty_server.render.windows_arguments import button_arguments, launch_arguments
from toasty_server.render.windows_arguments import parse_arguments as parse_arguments  # the one parser, re-exported

if TYPE_CHECKING:
    from windows_toasts import (
        InteractableWindowsToaster,
        Toast,
        ToastActivatedEventArgs,
        ToastAudio,
        ToastDuration,
        ToastImagePosition,
        ToastProgressBar,
        ToastScenario,
    )

log = logging.getLogger(__name__)

T = TypeVar("T")

APP_TEXT = "Toasty"
HASHED_TAG_PREFIX = "toasty-h:"
PROGRESS_TAG_PREFIX = "toasty-p:"
TOAST_GROUP = "toasty"
MAX_TAG_CHARS = 64  # Windows refuses a longer tag (or group)
MAX_ACTIONS = 5  # Windows shows at most 5 buttons ...
MAX_INPUTS = 5  # ... and 5 inputs on one toast
MAX_TRACKED = 1000  # toasts whose answer is still awaited; the oldest are forgotten beyond this
SHORT_DISPLAY_SECONDS = 10  # display_seconds up to this → "short" (about 7 s), above → "long" (about 25 s)


# --- arguments and tags ------------------------------------------------------------------------------


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:48]


def toast_tag(toast: ToastSpec) -> str:
    """The Windows tag: stable per (publisher, progress key) for progress, else derived from the id.

    windows-toasts also uses the tag as the toast's launch arguments, so when the id fits, the tag is
    `launch_arguments(id)` and a body click carries the notification id.
    """
    key = toast.replace_key
    if key is not None:
        return PROGRESS_TAG_PREFIX + _digest(*key)
    tag = launch_arguments(toast.notification_id)
    return tag if len(tag) <= MAX_TAG_CHARS else HASHED_TAG_PREFIX + _digest(toast.notification_id)


# --- ToastSpec → windows-toasts objects ---------------------------------------------------------------


def text_fields(toast: ToastSpec) -> list[str | None]:
    """Title and two body lines; a progress toast shows only the title (its status sits under the bar).

    The count must not change across updates of one toast: Windows binds text1..textN at show time.
    """
    if toast.kind is Kind.PROGRESS:
        return [toast.title]
    return [toast.title, *toast.lines[:2]]


def progress_bar(progress: ProgressSpec) -> ToastProgressBar:
    """A bound progress bar; a finished task says so in the status and stops any indeterminate bar."""
    from windows_toasts import ToastProgressBar

    value: float | None = None if progress.indeterminate else min(max(progress.value, 0.0), 1.0)
    status = progress.status
    if progress.state is ProgressState.SUCCEEDED:
        status = f"Succeeded: {status}" if status else "Succeeded"
        value = 1.0
    elif progress.state is ProgressState.FAILED:
        status = f"Failed: {status}" if status else "Failed"
        value = 0.0 if value is None else value
    # windows-toasts would bind None for an indeterminate bar without override; WinRT wants a string.
    override: str | None = progress.value_override or (None if value is not None else "")
    return ToastProgressBar(status=status, caption=progress.caption or None, progress=value, progress_override=override)


def _position(placement: Placement) -> ToastImagePosition:
    from windows_toasts import ToastImagePosition

    return {
        Placement.HERO: ToastImagePosition.Hero,
        Placement.INLINE: ToastImagePosition.Inline,
        Placement.APP_LOGO: ToastImagePosition.AppLogo,
    }[placement]


def _style(toast: ToastSpec) -> tuple[ToastScenario, ToastAudio | None, ToastDuration]:
    """Urgency → (scenario, audio, duration); see the mapping table in the README."""
    from windows_toasts import AudioSource, ToastAudio, ToastDuration, ToastScenario

    if toast.display_seconds > 0:
        duration = ToastDuration.Short if toast.display_seconds <= SHORT_DISPLAY_SECONDS else ToastDuration.Long
    elif toast.kind is Kind.INTERACTIVE or toast.urgency is not Urgency.INFO:
        duration = ToastDuration.Long  # someone is waiting for the answer, or it matters
    else:
        duration = ToastDuration.Default
    if toast.urgency is Urgency.CRITICAL:
        # Looping audio makes windows-toasts set duration="long" itself.
        return ToastScenario.Alarm, ToastAudio(AudioSource.Alarm, looping=True), duration
    if toast.urgency is Urgency.WARNING:
        scenario = ToastScenario.Reminder if toast.buttons else ToastScenario.Default
        return scenario, ToastAudio(AudioSource.Reminder), duration
    return ToastScenario.Default, None, duration


def build_toast(toast: ToastSpec, tag: str) -> Toast:
    """The windows-toasts Toast for a spec (blocking: it checks that a local image exists)."""
    from windows_toasts import (
        InvalidImageException,
        Toast,
        ToastButton,
        ToastDisplayImage,
        ToastImage,
        ToastInputSelectionBox,
        ToastInputTextBox,
        ToastScenario,
        ToastSelection,
        ToastSystemButton,
        ToastSystemButtonAction,
    )

    scenario, audio, duration = _style(toast)
    result = Toast(
        text_fields=text_fields(toast),
        audio=audio,
        duration=duration,
        group=TOAST_GROUP,
        launch_action=toast.launch_url or None,
        progress_bar=progress_bar(toast.progress) if toast.progress is not None else None,
        attribution_text=toast.attribution or None,
        scenario=scenario,
    )
    result.tag = tag
    image = toast.image
    if image is not None and image.path is not None:
        try:
            result.AddImage(
                ToastDisplayImage(
                    ToastImage(image.path),
                    altText=image.alt_text or None,
                    position=_position(image.placement),
                    circleCrop=image.crop_circle and image.placement is not Placement.HERO,
                )
            )
        except InvalidImageException as exc:
            log.warning("toast %s shown without its image: %s", toast.notification_id, exc)
    # Assigned directly: Toast.AddAction/AddInput cap actions + inputs at 5 together, Windows allows 5 each.
    result.inputs = [
        ToastInputTextBox(t.id, caption=t.title, placeholder=t.placeholder) for t in toast.text_inputs[:MAX_INPUTS]
    ]
    for selection in toast.selections[: MAX_INPUTS - len(result.inputs)]:
        choices = [ToastSelection(c.id, c.label) for c in selection.choices]
        default = next((c for c in choices if c.selection_id == selection.default_choice_id), None)
        result.inputs.append(ToastInputSelectionBox(selection.id, selection.title, choices, default))
    result.actions = [  # the publisher's buttons, then the hub's own (mute, snooze) where there is room
        ToastButton(content=b.label, arguments=button_arguments(toast.notification_id, b.id))
        for b in (*toast.buttons, *toast.actions)[:MAX_ACTIONS]
    ]
    if scenario is ToastScenario.Alarm and not result.actions:
        # Windows shows the alarm scenario (on screen until acted on) only on a toast with a button.
        result.actions.append(ToastSystemButton(ToastSystemButtonAction.Dismiss))
    if len(toast.buttons) > MAX_ACTIONS or len(toast.text_inputs) + len(toast.selections) > MAX_INPUTS:
        log.warning("toast %s has more buttons or inputs than Windows shows (5 each)", toast.notification_id)
    return result


# --- the backend ---------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Live:
    """A toast on screen (or in the Action Center) whose outcome was not reported yet."""

    notification_id: str
    is_progress: bool
    toast: Toast | None = None  # None until show_toast returned
    answered: bool = False


class WindowsBackend:
    """Shows ToastSpecs with windows-toasts' InteractableWindowsToaster under one AUMID."""

    name = "windows"

    def __init__(self, aumid: str, application_text: str = APP_TEXT) -> None:
        self.aumid = aumid
        self.application_text = application_text
        self._loop: asyncio.AbstractEventLoop | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._toaster: InteractableWindowsToaster | None = None
        self._sink: InteractionSink | None = None
        self._live: OrderedDict[str, _Live] = OrderedDict()  # tag → toast
        self._tags: dict[str, str] = {}  # notification id → tag
        self._closed = False

    # ToastBackend ----------------------------------------------------------------------------------

    @property
    def available(self) -> bool:
        """Windows' notifier does not come and go like a D-Bus daemon: usable from start to close."""
        return self._toaster is not None and not self._closed

    def status(self) -> BackendStatus:
        if self.available:
            return BackendStatus(self.name, True, f"Windows toasts under AUMID {self.aumid}")
        return BackendStatus(self.name, False, "closed" if self._closed else "not started")

    async def start(self, sink: InteractionSink) -> None:
        self._loop = asyncio.get_running_loop()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="toasty-winrt")
        try:
            self._toaster = await self._call(self._create_toaster)
        except ImportError as exc:
            self._shutdown_executor()
            raise BackendUnavailable(
                f"windows-toasts / PyWinRT cannot be imported here ({exc}); toasts need Windows 10 or later"
            ) from exc
        except Exception as exc:
            self._shutdown_executor()
            raise BackendUnavailable(f"cannot create a toast notifier for AUMID {self.aumid!r}: {exc!r}") from exc
        self._sink = sink
        log.info("windows toasts under AUMID %s", self.aumid)

    async def show(self, toast: ToastSpec) -> None:
        toaster = self._started()
        tag = toast_tag(toast)
        live = self._live.get(tag)
        # a progress bar is updated in place (data binding); a group or repeated toast with the same tag is
        # shown anew, which Windows puts in the place of the one with that tag
        if toast.progress is not None and live is not None and live.toast is not None:
            self._rebind(tag, live, toast.notification_id)
            if await self._call(functools.partial(_update, toaster, live.toast, toast)):
                return
            log.debug("progress toast %s is gone: showing it again", tag)
        # Tracked before it is shown: an event may arrive before show_toast returns.
        live = _Live(toast.notification_id, is_progress=toast.progress is not None)
        self._track(tag, live)
        try:
            live.toast = await self._call(functools.partial(self._show_sync, toaster, toast, tag))
        except BaseException:
            self._forget(tag)
            raise

    async def withdraw(self, notification_id: str) -> None:
        tag = self._tags.get(notification_id)
        live = self._live.get(tag) if tag is not None else None
        if tag is None or live is None or live.toast is None or self._toaster is None:
            return
        self._forget(tag)
        await self._call(functools.partial(self._toaster.remove_toast, live.toast))

    async def close(self) -> None:
        self._closed = True
        self._live.clear()
        self._tags.clear()
        self._shutdown_executor()

    # worker thread ---------------------------------------------------------------------------------

    def _create_toaster(self) -> InteractableWindowsToaster:
        # Imported on the worker thread: PyWinRT initialises COM on the thread that imports it.
        from windows_toasts import InteractableWindowsToaster

        return InteractableWindowsToaster(self.application_text, notifierAUMID=self.aumid)

    def _show_sync(self, toaster: InteractableWindowsToaster, spec: ToastSpec, tag: str) -> Toast:
        toast = build_toast(spec, tag)
        toast.on_activated = functools.partial(self._winrt_activated, tag)
        toast.on_dismissed = functools.partial(self._winrt_dismissed, tag)
        toast.on_failed = functools.partial(self._winrt_failed, tag)
        toaster.show_toast(toast)
        return toast

    # WinRT event threads: read the event arguments there (they live there), map on the loop ----------

    def _winrt_activated(self, tag: str, args: ToastActivatedEventArgs) -> None:
        inputs = {str(k): str(v) for k, v in (args.inputs or {}).items()}
        self._to_loop(self._activated, tag, args.arguments or "", inputs)

    def _winrt_dismissed(self, tag: str, args: Any) -> None:
        reason = getattr(getattr(args, "reason", None), "name", str(getattr(args, "reason", "")))
        self._to_loop(self._dismissed, tag, str(reason).upper())

    def _winrt_failed(self, tag: str, args: Any) -> None:
        code = getattr(args, "error_code", None)
        detail = f"0x{code & 0xFFFFFFFF:08X}" if isinstance(code, int) else repr(code)
        self._to_loop(self._failed, tag, detail)

    def _to_loop(self, handler: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or self._closed:
            return
        try:
            loop.call_soon_threadsafe(handler, *args)
        except RuntimeError:  # the loop is closed: the server is gone, nobody awaits the answer
            log.debug("windows toast event after shutdown dropped (%s%r)", handler.__name__, args)

    # event loop thread -----------------------------------------------------------------------------

    def _activated(self, tag: str, arguments: str, inputs: dict[str, str]) -> None:
        live = self._live.get(tag)
        if live is None or live.answered:
            log.debug("activation of %s ignored: no toast awaits an answer", tag)
            return
        parsed = parse_arguments(arguments)
        if parsed is not None and parsed[1]:
            notification_id, button_id = parsed
            self._settle(tag, live, Interaction(notification_id, InteractionKind.BUTTON, self.name, button_id, inputs))
        else:
            self._settle(tag, live, Interaction(live.notification_id, InteractionKind.ACTIVATED, self.name, "", inputs))

    def _dismissed(self, tag: str, reason: str) -> None:
        live = self._live.get(tag)
        if live is None:
            return
        if reason == "APPLICATION_HIDDEN":  # we removed it (withdraw, replacement): not the user's answer
            self._forget(tag)
            return
        if live.answered:
            return
        kind = InteractionKind.TIMED_OUT if reason == "TIMED_OUT" else InteractionKind.DISMISSED
        detail = "" if reason in ("TIMED_OUT", "USER_CANCELED") else reason.lower()
        self._settle(tag, live, Interaction(live.notification_id, kind, self.name, detail=detail))

    def _failed(self, tag: str, detail: str) -> None:
        live = self._live.get(tag)
        if live is None:
            return
        self._forget(tag)  # never shown: a later progress update must show it afresh
        if not live.answered:
            log.warning("windows could not show toast %s: %s", live.notification_id, detail)
            self._deliver(Interaction(live.notification_id, InteractionKind.FAILED, self.name, detail=detail))

    def _settle(self, tag: str, live: _Live, interaction: Interaction) -> None:
        """Report the one outcome of the toast's current notification."""
        live.answered = True
        if not live.is_progress:  # a progress toast stays known: later updates go to it in place
            self._forget(tag)
        self._deliver(interaction)

    def _deliver(self, interaction: Interaction) -> None:
        if self._sink is not None:
            self._sink(interaction)

    def _track(self, tag: str, live: _Live) -> None:
        self._forget(tag)
        self._live[tag] = live
        self._tags[live.notification_id] = tag
        while len(self._live) > MAX_TRACKED:
            old_tag, old = self._live.popitem(last=False)
            self._tags.pop(old.notification_id, None)
            log.debug("stopped tracking toast %s", old_tag)

    def _rebind(self, tag: str, live: _Live, notification_id: str) -> None:
        """A new progress notification takes over the toast of its key: its outcome is the one awaited."""
        self._tags.pop(live.notification_id, None)
        live.notification_id = notification_id
        live.answered = False
        self._tags[notification_id] = tag
        self._live.move_to_end(tag)

    def _forget(self, tag: str) -> None:
        live = self._live.pop(tag, None)
        if live is not None and self._tags.get(live.notification_id) == tag:
            del self._tags[live.notification_id]

    # helpers ---------------------------------------------------------------------------------------

    def _started(self) -> InteractableWindowsToaster:
        if self._toaster is None or self._closed:
            raise RuntimeError("the windows backend is not started")
        return self._toaster

    async def _call(self, fn: Callable[[], T]) -> T:
        if self._loop is None or self._executor is None:
            raise RuntimeError("the windows backend is not started")
        return await self._loop.run_in_executor(self._executor, fn)

    def _shutdown_executor(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


def _update(toaster: InteractableWindowsToaster, toast: Toast, spec: ToastSpec) -> bool:
    """Update a shown progress toast in place (worker thread); False when Windows no longer has it."""
    toast.text_fields = text_fields(spec)
    if spec.progress is not None:
        toast.progress_bar = progress_bar(spec.progress)
    return toaster.update_toast(toast)


def create_backend(settings: Settings) -> WindowsBackend:
    """Entry point used by render.selection."""
    return WindowsBackend(settings.aumid)
