"""Result types of the seed API ``setConversationCustomData`` (V2TimValueCallback and
V2TimConversationOperationResult), with the seed's camelCase names on the wire."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from streams.contract.codes import value_callback_code_description
from streams.contract.models import schema_root


class ConversationOperationResult(BaseModel):
    """The result for one requested conversation."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, serialize_by_alias=True)

    conversation_id: str = Field(alias="conversationID", description="The conversation's id.")
    result_code: int = Field(
        alias="resultCode",
        description="This conversation's code (see the top-level code for the values).",
    )
    result_info: str = Field(alias="resultInfo", description="The text of this result's code.")


class ValueCallback(BaseModel):
    """The overall result: ``code`` 0 when the call went through; per-conversation codes in data."""

    model_config = ConfigDict(
        frozen=True,
        populate_by_name=True,
        serialize_by_alias=True,
        title="ValueCallback",
        json_schema_extra=schema_root(
            "value_callback.schema.json",
            "The answer of the SDK call setConversationCustomData (the seed API's "
            "V2TimValueCallback): the call's overall code (0 on success) and each requested "
            "conversation's own result in data, in the order requested.",
        ),
    )

    code: int = Field(description=value_callback_code_description())
    desc: str = Field(description="The text of the overall code ('OK' on success).")
    data: list[ConversationOperationResult] = Field(
        default_factory=list, description="One result per requested conversation, in order."
    )
