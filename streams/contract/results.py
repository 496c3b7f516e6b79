"""Result types of the seed API ``setConversationCustomData`` (V2TimValueCallback and
V2TimConversationOperationResult), with the seed's camelCase names on the wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ConversationOperationResult(BaseModel):
    """The result for one requested conversation."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    conversation_id: str = Field(alias="conversationID")
    result_code: int = Field(alias="resultCode")
    result_info: str = Field(alias="resultInfo")


class ValueCallback(BaseModel):
    """The overall result: ``code`` 0 when the call went through; per-conversation codes in data."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    code: int
    desc: str
    data: list[ConversationOperationResult] = Field(default_factory=list)
