"""The owned C handle every class wraps, and the argument checks shared by them."""

from __future__ import annotations

import ctypes
import threading
from typing import Any, Callable, NoReturn, Optional, Union

from ._errors import ArgumentError, Status
from ._lib import Buf, lib


# Only the library's own constructors may wrap a pointer: a handle built from an arbitrary
# integer would make the next call dereference it.
_TOKEN = object()


class Handle:
    """An owned C handle, freed by ``close()``, ``with`` or garbage collection.

    Calls go through :meth:`_use`, which counts them: ``close()`` while calls run (from one of
    their callbacks or another thread) marks the handle closed at once, so no new call starts,
    and the last running call frees it. No call ever reaches freed memory, and the library's
    ``SECLLAMA_STATUS_BUSY`` never escapes as a crash. Handles cannot be copied or pickled.
    """

    _free: Optional[Callable[[ctypes.c_void_p], int]] = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise TypeError(f"{type(self).__name__} objects are made by its class methods")

    @classmethod
    def _wrap(cls, ptr: Optional[int], token: object = None) -> Any:
        if token is not _TOKEN or not ptr:
            raise TypeError(f"{cls.__name__} objects are made by its class methods")
        self = cls.__new__(cls)
        self._init_handle(ptr)
        return self

    def _init_handle(self, ptr: int) -> None:
        self._ptr = ctypes.c_void_p(ptr)
        self._state = threading.Condition(threading.Lock())
        self._users = 0
        self._closed = False

    # -- use counting ----------------------------------------------------------------------

    def _use(self) -> "_Use":
        """``with self._use() as p:`` the live pointer for one call (raises when closed)."""
        return _Use(self)

    def _enter(self) -> ctypes.c_void_p:
        with self._state:
            if self._closed or not self._ptr:
                raise ArgumentError(Status.NULL_PARAMETER, f"the {type(self).__name__} is closed")
            self._users += 1
            return self._ptr

    def _exit(self) -> None:
        with self._state:
            self._users -= 1
            last = self._users == 0 and self._closed
            self._state.notify_all()
        if last:
            self._release()

    def _release(self) -> None:
        """Frees the C handle once (no call uses it any more)."""
        with self._state:
            ptr, self._ptr = self._ptr, ctypes.c_void_p()
        if ptr and type(self)._free is not None:
            type(self)._free(ptr)  # type: ignore[misc]

    def close(self) -> None:
        """Frees the handle, now or, when calls are running, as the last one returns; safe to
        call twice and from any thread."""
        state = getattr(self, "_state", None)
        if state is None:
            return
        with state:
            if self._closed:
                return
            self._closed = True
            busy = self._users > 0
        if not busy:
            self._release()

    @property
    def closed(self) -> bool:
        return bool(getattr(self, "_closed", True))

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass

    def __copy__(self) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} cannot be copied: it owns a C handle")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} cannot be copied: it owns a C handle")

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise TypeError(f"a {type(self).__name__} cannot be pickled: it owns a C handle")


class _Use:
    def __init__(self, handle: Handle):
        self._handle = handle

    def __enter__(self) -> ctypes.c_void_p:
        return self._handle._enter()

    def __exit__(self, *exc: object) -> None:
        self._handle._exit()


def wrap(cls: Any, ptr: Optional[int]) -> Any:
    """A new ``cls`` owning ``ptr`` (library-internal)."""
    return cls._wrap(ptr, _TOKEN)


def as_bytes(value: object, name: str) -> bytes:
    """A bytes-like argument as bytes; anything else (an int, a str) is a TypeError."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{name} must be bytes, bytearray or memoryview, not {type(value).__name__}")


def as_cstr(value: Union[str, bytes, None], name: str) -> Optional[bytes]:
    """A text argument as NUL-free bytes (None stays None): a str is encoded as UTF-8, bytes
    are passed as they are (the library refuses invalid UTF-8 with ``Status.INVALID_UTF8``)."""
    if value is None:
        return None
    if isinstance(value, str):
        b = value.encode("utf-8")
    elif isinstance(value, bytes):
        b = value
    else:
        raise TypeError(f"{name} must be str, not {type(value).__name__}")
    if b"\0" in b:
        raise ArgumentError(Status.INVALID_ARGUMENT, f"{name} contains a NUL character")
    return b


def as_u32(value: object, name: str) -> int:
    """An unsigned 32-bit integer argument."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be int, not {type(value).__name__}")
    if not 0 <= value <= 0xFFFFFFFF:
        raise ArgumentError(Status.INVALID_ARGUMENT, f"{name} must be in 0..2**32-1, got {value}")
    return value


def take(buf: Buf) -> bytes:
    """Copies a library buffer into Python bytes and frees (wipes) the original."""
    try:
        return ctypes.string_at(buf.ptr, buf.len) if buf.len else b""
    finally:
        lib.secllama_buf_free(ctypes.byref(buf))
