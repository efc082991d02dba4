"""TerminalText: model output made safe to print on a terminal (secllama_terminal_text)."""

from __future__ import annotations

import ctypes

from . import _check, _Handle, _lib, _take
from ._lib import lib

_lib._sig("secllama_terminal_text_new", _lib.pvp)
_lib._sig("secllama_terminal_text_push", _lib.vp, _lib.inb, _lib.size, _lib.pbuf)
_lib._sig("secllama_terminal_text_finish", _lib.vp, _lib.pbuf)
_lib._sig("secllama_terminal_text_free", _lib.vp, restype=None)


class TerminalText(_Handle):
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
        _check(lib.secllama_terminal_text_new(ctypes.byref(p)))
        super().__init__(p.value)

    def push(self, piece: bytes | str) -> str:
        """Filters one piece; a UTF-8 character cut at its end waits for the next piece."""
        data = piece.encode() if isinstance(piece, str) else bytes(piece)
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_terminal_text_push(self._p(), data, len(data), ctypes.byref(out)))
        return _take(out).decode()

    def finish(self) -> str:
        """Ends the text: U+FFFD if a cut character was left pending, else ``""``."""
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_terminal_text_finish(self._p(), ctypes.byref(out)))
        return _take(out).decode()
