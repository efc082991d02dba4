"""Status codes and the exceptions that carry them."""

from __future__ import annotations

import builtins
import ctypes
import enum
from typing import Union

from ._lib import lib


class Status(enum.IntEnum):
    """Every ``secllama_status`` of ffi/include/secllama.h (a test checks that the loaded
    library spells the same names and numbers)."""

    OK = 0
    NULL_PARAMETER = 100
    INVALID_UTF8 = 101
    BUFFER_TOO_SMALL = 102
    PANIC = 103
    INVALID_ARGUMENT = 104
    INPUT_TOO_LARGE = 105
    BUSY = 106
    MALFORMED = 200
    UNSUPPORTED_VERSION = 201
    AUTHENTICATION_FAILED = 202
    KEY_UNKNOWN = 203
    KEY_DISABLED = 204
    KEY_DESTROYED = 205
    KEY_EXHAUSTED = 206
    KEY_IS_PRIMARY = 207
    KEY_TOO_MANY = 208
    KEY_INVALID_LENGTH = 209
    KEYSET_INVALID = 210
    INVALID_ITERATIONS = 211
    EMPTY_PASSWORD = 212
    RANDOM_FAILED = 213
    CRYPTO_OTHER = 299
    KEYSTORE_NO_BACKEND = 300
    KEYSTORE_UNKNOWN_BACKEND = 301
    KEYSTORE_INVALID_SERVICE = 302
    KEYSTORE_LOCKED = 303
    KEYSTORE_NOT_INITIALIZED = 304
    KEYSTORE_ALREADY_INITIALIZED = 305
    KEYSTORE_CORRUPT = 306
    KEYSTORE_TOO_MANY_KEYS = 307
    KEYSTORE_LOCK_FILE = 308
    KEYSTORE_BACKEND = 309
    KEYSTORE_RECENTLY_PRIMARY = 310
    KEYSTORE_OTHER = 399
    SANDBOX_NETWORK_ISOLATION_UNAVAILABLE = 400
    SANDBOX_PATH = 401
    SANDBOX_LANDLOCK = 402
    SANDBOX_SECCOMP = 403
    SANDBOX_OS = 404
    SANDBOX_INVALID_SETTING = 405
    SANDBOX_UNSUPPORTED = 406
    SANDBOX_FILESYSTEM_ISOLATION_UNAVAILABLE = 407
    SANDBOX_OTHER = 499
    RUNNER_NOT_FOUND = 500
    RUNNER_MODEL_NOT_FOUND = 501
    RUNNER_CONFIG = 502
    RUNNER_SPAWN = 503
    RUNNER_IO = 504
    RUNNER_FRAME_REJECTED = 505
    RUNNER_PEER_REJECTED_FRAME = 506
    RUNNER_ENCRYPTION_MISMATCH = 507
    RUNNER_CHECKSUM_MISMATCH = 508
    RUNNER_INVALID_MODEL = 509
    RUNNER_MODEL_LOAD = 510
    RUNNER_UNSUPPORTED_CPU = 511
    RUNNER_INVALID_REQUEST = 512
    RUNNER_PROMPT_TOO_LONG = 513
    RUNNER_GENERATION = 514
    RUNNER_PROTOCOL = 515
    RUNNER_CRASHED = 516
    RUNNER_CLOSED = 517
    RUNNER_TIMEOUT = 518
    RUNNER_GPU_UNAVAILABLE = 519
    RUNNER_OTHER = 599


class SecllamaError(Exception):
    """A failed call: ``status`` is the exact :class:`Status`, ``message`` the library's."""

    status: Union[Status, int]
    message: str

    def __init__(self, status: int, message: str):
        try:
            self.status = Status(status)
        except ValueError:
            self.status = status
        self.message = message
        name = self.status.name if isinstance(self.status, Status) else str(status)
        super().__init__(f"{message} ({name})" if message else name)


class ArgumentError(SecllamaError, ValueError):
    """A NULL, non-UTF-8, out-of-range or too large argument (1xx)."""


class BusyError(SecllamaError):
    """The object is in use by a call that has not returned (``Status.BUSY``): e.g. a
    request started from inside another request's callback."""


class CryptoError(SecllamaError):
    """A cryptography error (2xx)."""


class AuthenticationError(CryptoError):
    """Wrong key, password or associated data, or modified data."""


class KeystoreError(SecllamaError):
    """A keychain error (3xx)."""


class SandboxError(SecllamaError):
    """The sandbox cannot be enforced as configured (4xx)."""


class RunnerError(SecllamaError):
    """A runner error (5xx)."""


class TimeoutError(RunnerError, builtins.TimeoutError):  # noqa: A001 - the public name
    """A request's ``timeout`` passed (``Status.RUNNER_TIMEOUT``); also a builtin
    :class:`TimeoutError`."""


class GpuUnavailableError(RunnerError):
    """GPU layers were asked for, but the runner has no GPU backend or found no usable device
    (``Status.RUNNER_GPU_UNAVAILABLE``); nothing was loaded."""


def error_class(code: int) -> type[SecllamaError]:
    """The exception class of a status code."""
    special: dict[int, type[SecllamaError]] = {
        Status.AUTHENTICATION_FAILED: AuthenticationError,
        Status.BUSY: BusyError,
        Status.RUNNER_TIMEOUT: TimeoutError,
        Status.RUNNER_GPU_UNAVAILABLE: GpuUnavailableError,
    }
    if code in special:
        return special[code]
    bands: dict[int, type[SecllamaError]] = {
        1: ArgumentError,
        2: CryptoError,
        3: KeystoreError,
        4: SandboxError,
        5: RunnerError,
    }
    return bands.get(code // 100, SecllamaError)


def last_error() -> str:
    """The calling thread's message for its last failed call."""
    n = ctypes.c_size_t()
    lib.secllama_last_error(None, 0, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value + 1)
    if lib.secllama_last_error(buf, len(buf), ctypes.byref(n)) != 0:
        return ""
    return buf.value.decode("utf-8", "replace")


def check(status: int) -> None:
    """Raises the error for a non-zero status (ctypes calls run on the calling OS thread, so
    the thread-local last error belongs to this call)."""
    if status != 0:
        raise error_class(status)(status, last_error())
