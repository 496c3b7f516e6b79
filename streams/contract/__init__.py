"""The contract: pydantic models of the Kafka records and SDK results, and their JSON Schemas."""

from streams.contract.models import (
    CustomDataChange,
    Outcome,
    OutcomeReason,
    OutcomeStatus,
    SourcePosition,
    utf8_len,
)
from streams.contract.results import ConversationOperationResult, ValueCallback

__all__ = [
    "ConversationOperationResult",
    "CustomDataChange",
    "Outcome",
    "OutcomeReason",
    "OutcomeStatus",
    "SourcePosition",
    "ValueCallback",
    "utf8_len",
]
