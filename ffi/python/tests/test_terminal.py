import pytest

import secllama


def test_terminal_text_neutralises_escapes_split_over_pieces_and_bad_utf8():
    with secllama.TerminalText() as safe:
        pieces = [b"copy \x1b]52;c;aGk=", "\x07 \u009b2J \u202eok\n\t", b"bad \xff \xf0\x9f"]
        shown = "".join(safe.push(p) for p in pieces) + safe.finish()
    assert shown == "copy ␛]52;c;aGk=␇ <U+009B>2J <U+202E>ok\n\tbad \ufffd \ufffd"


def test_a_closed_terminal_text_raises_argument_error():
    safe = secllama.TerminalText()
    safe.close()
    with pytest.raises(secllama.ArgumentError):
        safe.push("x")
