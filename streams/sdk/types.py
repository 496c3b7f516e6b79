"""Results of REST requests, per request and per conversation, as the pipeline consumes them."""

from __future__ import annotations

from dataclasses import dataclass

from streams.sdk import codes


@dataclass(frozen=True, slots=True)
class ItemResult:
    """What the API said about one conversation of one request."""

    conversation_id: str
    code: int
    info: str
    request_id: str
    retryable: bool

    @property
    def ok(self) -> bool:
        """Whether the value was set."""
        return self.code == codes.OK


@dataclass(frozen=True, slots=True)
class RequestResult:
    """One ``mark_contact`` request: the request-level code and one result per item sent."""

    request_id: str
    code: int
    info: str
    http_status: int | None
    items: tuple[ItemResult, ...]

    @property
    def frequency_limited(self) -> bool:
        """Whether the server asked us to slow down (the rate limiter should back off)."""
        return self.code in codes.FREQUENCY_LIMIT_CODES or any(
            item.code in codes.FREQUENCY_LIMIT_CODES for item in self.items
        )
