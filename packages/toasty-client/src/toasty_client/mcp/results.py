"""What the tools return: pydantic models, so that each tool publishes an output schema and its result
carries the same fields as structured content and as JSON text (for hosts that read only the text)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

AskOutcome = Literal["answered", "dismissed", "timed_out", "withdrawn", "pending"]


class NotifyResult(BaseModel):
    id: str = Field(description="The notification's id: pass it to `withdraw` to take the toast down.")


class ProgressResult(BaseModel):
    id: str = Field(description="The id of this update.")
    key: str = Field(description="The progress key: call `progress` again with it to update the same toast.")


class AskResult(BaseModel):
    id: str = Field(description="The question's id, for `get_answer` and `withdraw`.")
    outcome: AskOutcome = Field(
        description="answered: the person chose; dismissed, timed_out, withdrawn: no answer will come; "
        "pending: still open, call get_answer with the id."
    )
    choice: str | None = Field(description="The text of the choice the person clicked (answered only).")
    text: str | None = Field(description="What the person typed, when the question had a text input.")
    message: str = Field(description="What happened and what to do next, in a sentence or two.")


class WithdrawResult(BaseModel):
    id: str
    withdrawn: bool = Field(description="False when it had already been answered or taken down.")
    message: str
