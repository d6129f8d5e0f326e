"""What the engine needs from a dialect to talk to a user's application: the face a call was made through.

The engine is dialect-free. Each face (Twilio, SignalWire, ...) tells it how that vendor parses its
markup, which form parameters its webhooks carry and how it signs them; the composition root
(`callgate.app`) hands the engine one `Face` per dialect name, and a call uses the face named in its
options (`CallOptions.dialect`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from callgate.core.call import Account, Call
from callgate.core.verbs import Document

Params = list[tuple[str, str]]


class Face(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def status_events(self) -> Sequence[str]:
        """The status callback events the face knows, in the order they happen."""
        ...

    def parse(self, text: str | bytes) -> Document: ...
    def voice_params(self, call: Call) -> Params: ...
    def status_params(self, call: Call, *, event: str, sequence: int, at: datetime) -> Params: ...
    def gather_params(self, call: Call, *, digits: str, finished_on_key: str | None) -> Params: ...
    def dial_action_params(
        self, call: Call, *, dial_call_status: str, dial_call_sid: UUID | None, dial_call_duration: int | None
    ) -> Params: ...
    def fallback_params(self, params: Params, *, error_code: int, error_url: str) -> Params: ...
    def sign(
        self, account: Account, url: str, params: Sequence[tuple[str, str]] | None
    ) -> dict[str, str]: ...
    def call_sid(self, call_id: UUID) -> str: ...
