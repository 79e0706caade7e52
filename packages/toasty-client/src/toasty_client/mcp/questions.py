"""The questions this `toasty-mcp` process asked, and how their outcome reads to a model.

A model cannot keep a call open for long: hosts cut a tool call after about a minute, and a cut call's
result never reaches the model. So a question outlives the call that asked it. It is remembered here
(its button ids mapped back to the choices' text) until its outcome has been handed to the model once:
`get_answer` picks it up by id, and the same question asked again while it is still open (the model
retrying after a cut call) is the same toast, not a second one.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from toasty_client.answers import Answer, Outcome
from toasty_client.mcp.results import AskResult

MAX_REMEMBERED = 1000  # questions kept per process; the oldest are forgotten first
TEXT_INPUT_ID = "text"  # the id of an `ask`'s text input (the answer's `inputs` key)
ID_SEPARATOR = "~"  # the hub's global ids are `<agent>~<id>` (what `toasty asks` and the toast show)

Kind = Literal["ask", "approval"]


@dataclass
class Question:
    """One question on the hub: its local id, the choices' text by button id, and what is known of it."""

    id: str
    kind: Kind
    key: tuple[str, ...]  # what makes a second, identical call the same question
    labels: dict[str, str]  # button id -> the choice's text
    asked_at: float = field(default_factory=time.monotonic)
    answer: Answer | None = None  # its final outcome, once known
    reported: bool = False  # that outcome reached the model

    @property
    def reusable(self) -> bool:
        """A second identical call attaches to this question rather than asking again: it is open, or
        its outcome never reached the model (the call that asked was cut)."""
        return not self.reported


class Registry:
    """The questions of this process, by local id, at most MAX_REMEMBERED of them."""

    def __init__(self, agent_id: str) -> None:
        self._agent_id = agent_id  # "" when the hub names us from our token (we do not know the name)
        self._questions: collections.OrderedDict[str, Question] = collections.OrderedDict()

    def add(self, question: Question) -> None:
        self._questions[question.id] = question
        while len(self._questions) > MAX_REMEMBERED:
            self._questions.popitem(last=False)

    def find(self, given: str) -> Question | None:
        """The question named by its local id, or by the global id `<agent>~<id>` a person sees."""
        return self._questions.get(self.local_id(given))

    def local_id(self, given: str) -> str:
        """`given` without the `<agent>~` of this agent's global ids (another agent's global id stays)."""
        owner, separator, local = given.rpartition(ID_SEPARATOR)
        if separator and (owner == self._agent_id or local in self._questions):
            return local
        return given

    def global_id(self, local_id: str) -> str:
        """The id the person sees (`toasty asks`, the toast); the local id when the hub names us."""
        return f"{self._agent_id}{ID_SEPARATOR}{local_id}" if self._agent_id else local_id

    def same_as(self, kind: Kind, key: tuple[str, ...]) -> Question | None:
        """The newest question asked with the same arguments whose outcome the model has not had yet."""
        for question in reversed(self._questions.values()):
            if question.kind == kind and question.key == key and question.reusable:
                return question
        return None


def ask_result(question: Question, answer: Answer) -> AskResult | None:
    """How an `ask`'s outcome reads to the model; None for a question no desktop could show (an error)."""
    qid = question.id
    if answer.outcome is Outcome.BUTTON:
        choice = question.labels.get(answer.button_id, answer.button_id)
        text = answer.inputs.get(TEXT_INPUT_ID) or None
        said = f" and wrote: {text!r}" if text is not None else ""
        return AskResult(
            id=qid, outcome="answered", choice=choice, text=text, message=f"The person chose {choice!r}{said}."
        )
    if answer.outcome in (Outcome.DISMISSED, Outcome.ACTIVATED):
        how = "dismissed the question" if answer.outcome is Outcome.DISMISSED else "opened the toast without choosing"
        return _closed(qid, "dismissed", f"The person {how}: no answer will come.")
    if answer.outcome is Outcome.TIMED_OUT:
        return _closed(
            qid, "timed_out", "Nobody answered in time and the question was taken down; the person is likely away."
        )
    if answer.outcome is Outcome.WITHDRAWN:
        return _closed(qid, "withdrawn", "The question was withdrawn before anyone answered it.")
    return None  # FAILED, UNSUPPORTED


def _closed(qid: str, outcome: Literal["dismissed", "timed_out", "withdrawn"], what: str) -> AskResult:
    advice = (
        " Do not ask the same question again on your own: go on without the answer if you safely can, "
        "else stop and tell the user what you need in your reply."
    )
    return AskResult(id=qid, outcome=outcome, choice=None, text=None, message=what + advice)


def pending_result(question: Question, waited: float) -> AskResult:
    return AskResult(
        id=question.id,
        outcome="pending",
        choice=None,
        text=None,
        message=(
            f"No answer yet after {waited:.0f} s; the question is still open on the person's screen. Call "
            f"get_answer with id {question.id!r} to keep waiting for it."
        ),
    )


ALLOW, DENY = "allow", "deny"  # an approval's buttons
REASON_INPUT_ID = "reason"  # an approval's text input: why the person denied


def approval_decision(answer: Answer, tool_input: dict[str, Any], timeout: float) -> dict[str, Any]:
    """Claude Code's permission-prompt result: allow with the input unchanged, or deny with a message the
    model reads. Anything but an Allow click is a deny (a person who did not say yes did not allow it)."""
    if answer.outcome is Outcome.BUTTON and answer.button_id == ALLOW:
        return {"behavior": "allow", "updatedInput": tool_input}
    if answer.outcome is Outcome.BUTTON and answer.button_id == DENY:
        return {"behavior": "deny", "message": answer.inputs.get(REASON_INPUT_ID, "").strip() or "Denied by the user"}
    why = {
        Outcome.TIMED_OUT: f"nobody answered within {timeout:.0f} s",
        Outcome.DISMISSED: "the person dismissed the request",
        Outcome.ACTIVATED: "the person opened the request without choosing",
        Outcome.WITHDRAWN: "the request was withdrawn",
    }.get(answer.outcome, f"the request could not be shown ({answer.detail or answer.outcome.value})")
    return {"behavior": "deny", "message": f"Denied: {why}. Do not retry this on your own; ask the user."}
