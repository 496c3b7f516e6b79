"""The IM SDK layer: the seed's setConversationCustomData over the Tencent Cloud Chat REST API."""

from streams.sdk.api import ConversationManager
from streams.sdk.client import TencentIMClient
from streams.sdk.config import IMSettings
from streams.sdk.types import ItemResult, RequestResult

__all__ = ["ConversationManager", "IMSettings", "ItemResult", "RequestResult", "TencentIMClient"]
