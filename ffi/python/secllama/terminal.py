"""TerminalText: model output made safe to print on a terminal (secllama_terminal_text)."""

from __future__ import annotations

import ctypes
import threading
from typing import Union

from . import _lib
from ._errors import check
from ._handle import Handle, take
from ._lib import lib

_lib._sig("secllama_terminal_text_new", _lib.pvp)
_lib._sig("secllama_terminal_text_push", _lib.vp, _lib.inb, _lib.size, _lib.pbuf)
_lib._sig("secllama_terminal_text_finish", _lib.vp, _lib.pbuf)
_lib._sig("secllama_terminal_text_free", _lib.vp)


class TerminalText(Handle):
    """Makes untrusted model text safe to print on a terminal.

    Use it whenever a program prints runner output to a terminal: the runner may be hostile,
    and a terminal obeys escape sequences in what it prints (OSC 52 writes the clipboard, CSI
    moves the cursor, ...). It keeps printable text, ``\\n`` and ``\\t`` and replaces every other
    control visibly: ESC as ``␛`` (other C0 controls as their control pictures), C1 and bidi
    controls as ``<U+009B>``, bytes that are not UTF-8 as U+FFFD. Feed the pieces in order to
    :meth:`push` and print what it returns, then print :meth:`finish`. Leave text unfiltered
    for files, pipes and JSON::

        with secllama.TerminalText() as safe:
            runner.complete(prompt, on_piece=lambda p: print(safe.push(p), end="", flush=True))
            print(safe.finish())
    """

    _free = lib.secllama_terminal_text_free

    def __init__(self) -> None:
        p = ctypes.c_void_p()
        check(lib.secllama_terminal_text_new(ctypes.byref(p)))
        self._init_handle(p.value or 0)
        self._lock = threading.Lock()  # push/finish take the filter exclusively

    def push(self, piece: Union[bytes, str]) -> str:
        """Filters one piece; a UTF-8 character cut at its end waits for the next piece."""
        if isinstance(piece, str):
            data = piece.encode()
        elif isinstance(piece, (bytes, bytearray, memoryview)):
            data = bytes(piece)
        else:
            raise TypeError(f"piece must be str or bytes-like, not {type(piece).__name__}")
        out = _lib.Buf()
        with self._lock, self._use() as p:
            check(lib.secllama_terminal_text_push(p, data, len(data), ctypes.byref(out)))
        return take(out).decode()

    def finish(self) -> str:
        """Ends the text: U+FFFD if a cut character was left pending, else ``""``."""
        out = _lib.Buf()
        with self._lock, self._use() as p:
            check(lib.secllama_terminal_text_finish(p, ctypes.byref(out)))
        return take(out).decode()
