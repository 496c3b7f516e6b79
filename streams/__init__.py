"""Conversation custom-data stream processor: Faust agents applying changes through Tencent IM."""

__version__ = "0.1.0"
