"""Documented limits of the Tencent Cloud Chat API, shared by the client, the core and the emulator.

They live with the contract because the pydantic models enforce them too, and the contract
imports nothing else of the application.
"""

from typing import Final

#: customData / CustomMark is at most 256 bytes of UTF-8 (not characters).
MAX_CUSTOM_DATA_BYTES: Final = 256
#: ``mark_contact`` accepts at most 100 MarkItem per request (51006 above).
MAX_ITEMS_PER_REQUEST: Final = 100
#: A user may have at most 1000 marked conversations (51008 above).
MAX_MARKED_PER_USER: Final = 1000
#: The app-wide REST budget (requests per second) before 60007.
REQUESTS_PER_SECOND: Final = 200
#: Upper bound for ids and other short strings; keeps every input bounded.
MAX_ID_BYTES: Final = 128
#: Largest ``version`` a JSON consumer in any language can hold exactly (2^53 - 1).
MAX_VERSION: Final = 2**53 - 1
#: A key cut to fit a record limit (an outcome's, a dead letter's) keeps at most this many bytes
#: (a contract key is a user id, <= 128; longer ones are rejected `too_large`).
MAX_KEY_PREFIX: Final = 1024
