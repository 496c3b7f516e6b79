"""`streams tail` prints what producers wrote without letting it drive the terminal."""

import orjson
import pytest

from streams.cli.terminal import tail_line, terminal_safe

#: C0 and C1 controls, DEL, and every Unicode bidi control.
UNSAFE = (
    [chr(c) for c in range(0x20)]
    + [chr(c) for c in range(0x7F, 0xA0)]
    + ["\u061c", "\u200e", "\u200f"]
    + [chr(c) for c in range(0x202A, 0x202F)]
    + [chr(c) for c in range(0x2066, 0x206A)]
)


@pytest.mark.parametrize("char", UNSAFE, ids=lambda char: f"U+{ord(char):04X}")
def test_every_terminal_control_is_escaped(char: str) -> None:
    assert terminal_safe(f"a{char}b") == f"a\\u{ord(char):04x}b"


def test_printable_text_is_left_alone() -> None:
    text = 'plain "quoted" é 中文 עברית 🙂 \\ back \u00a0 \u2028'
    assert terminal_safe(text) == text


def test_outcome_fields_are_escaped_and_the_line_stays_the_same_json() -> None:
    outcome = {
        "event_id": "evt\x1b]0;owned\x07\x1b[2J",
        "source": {"topic": "t\u202eexe.txt", "partition": 0, "offset": 1},
        "info": "c1 \x9b31m del \x7f isolate \u2067x\u2069 marks \u200e\u200f\u061c",
        "custom_data": "日本語",
    }
    line = tail_line(orjson.dumps(outcome))
    assert line.isprintable()
    assert "\\u001b]0;owned\\u0007\\u001b[2J" in line
    assert "t\\u202eexe.txt" in line and "\\u009b31m" in line and "\\u007f" in line
    assert orjson.loads(line) == outcome


def test_a_value_that_is_not_json_is_shown_raw_and_escaped() -> None:
    line = tail_line(b"\xff\x1b[31mred \xc2\x9b \xe2\x80\xae")
    assert line.isprintable()
    assert orjson.loads(line) == {"raw": "\ufffd\x1b[31mred \x9b \u202e"}
