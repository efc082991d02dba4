"""SecLlama from Python: keysets and sealed envelopes, password sealing, the OS keychain, the
sandbox probe and the sandboxed llama.cpp runner, through the C ABI (ctypes, no compiled
extension).

The shared library is found through ``SECLLAMA_LIB`` (a path), else cargo's target directory
(``CARGO_TARGET_DIR`` or the repository's ``target/``), else the system's search path.

    import secllama
    with secllama.Keyset.generate() as ks:
        env = ks.seal(b"chat history", aad=b"chat/1")
        assert ks.open(env, aad=b"chat/1") == b"chat history"

Every handle is a context manager (``close()`` is also called when it is garbage collected);
failures raise :class:`SecllamaError` subclasses carrying the library's exact
:class:`Status`.
"""

from __future__ import annotations

import ctypes
import enum
import json
import threading
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from . import _lib
from ._lib import lib

__all__ = [
    "Status",
    "SecllamaError",
    "ArgumentError",
    "CryptoError",
    "AuthenticationError",
    "KeystoreError",
    "SandboxError",
    "RunnerError",
    "Keyset",
    "Keystore",
    "Runner",
    "GenerationParams",
    "Done",
    "Metrics",
    "StopReason",
    "password_seal",
    "password_open",
    "probe_sandbox",
    "version",
    "features",
    "ENVELOPE_OVERHEAD",
    "PASSWORD_OVERHEAD",
    "PASSWORD_MIN_ITERATIONS",
    "PASSWORD_MAX_ITERATIONS",
    "PASSWORD_DEFAULT_ITERATIONS",
]

ENVELOPE_OVERHEAD = 33
PASSWORD_OVERHEAD = 49
PASSWORD_DEFAULT_ITERATIONS = 600_000
PASSWORD_MIN_ITERATIONS = 100_000
PASSWORD_MAX_ITERATIONS = 10_000_000


def _status_names() -> dict[str, int]:
    names = {}
    for code in range(1000):
        out = ctypes.c_char_p()
        if lib.secllama_status_name(code, ctypes.byref(out)) == 0:
            names[out.value.decode().removeprefix("SECLLAMA_STATUS_")] = code
    return names


#: Every ``secllama_status`` of the loaded library, e.g. ``Status.AUTHENTICATION_FAILED``.
Status = enum.IntEnum("Status", _status_names())


class SecllamaError(Exception):
    """A failed call: ``status`` is the exact :class:`Status`, the message the library's."""

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


def _error_class(code: int) -> type:
    if code == Status.AUTHENTICATION_FAILED:
        return AuthenticationError
    return {1: ArgumentError, 2: CryptoError, 3: KeystoreError, 4: SandboxError, 5: RunnerError}.get(
        code // 100, SecllamaError
    )


def _last_error() -> str:
    n = ctypes.c_size_t()
    lib.secllama_last_error(None, 0, ctypes.byref(n))
    buf = ctypes.create_string_buffer(n.value + 1)
    if lib.secllama_last_error(buf, len(buf), ctypes.byref(n)) != 0:
        return ""
    return buf.value.decode("utf-8", "replace")


def _check(status: int) -> None:
    """Raises the error for a non-zero status (ctypes calls run on the calling OS thread, so
    the thread-local last error belongs to this call)."""
    if status != 0:
        raise _error_class(status)(status, _last_error())


def _take(buf: _lib.Buf) -> bytes:
    """Copies a library buffer into Python bytes and frees (wipes) the original."""
    try:
        return ctypes.string_at(buf.ptr, buf.len) if buf.len else b""
    finally:
        lib.secllama_buf_free(ctypes.byref(buf))


def _bytes(b) -> bytes:
    return b"" if b is None else bytes(b)


def _cstr(s: Optional[str]) -> Optional[bytes]:
    if s is None:
        return None
    b = s.encode("utf-8") if isinstance(s, str) else bytes(s)
    if b"\0" in b:
        raise ArgumentError(Status.INVALID_ARGUMENT, "string contains a NUL byte")
    return b


def version() -> str:
    """The library's version, e.g. ``"0.1.0"``."""
    out = ctypes.c_char_p()
    _check(lib.secllama_version(ctypes.byref(out)))
    return out.value.decode()


FEATURE_RUNNER = 1
FEATURE_SECRET_SERVICE = 1 << 1
FEATURE_KEYUTILS = 1 << 2
FEATURE_KEYCHAIN = 1 << 3
FEATURE_CREDENTIAL_MANAGER = 1 << 4
FEATURE_SANDBOX_LINUX = 1 << 5
FEATURE_SANDBOX_MACOS = 1 << 6
FEATURE_SANDBOX_WINDOWS = 1 << 7
FEATURE_CUDA = 1 << 8
FEATURE_VULKAN = 1 << 9
FEATURE_METAL = 1 << 10


def features() -> int:
    """The ``FEATURE_*`` bits of this build."""
    out = ctypes.c_uint32()
    _check(lib.secllama_features(ctypes.byref(out)))
    return out.value


class _Handle:
    """An owned C handle: closed by ``close()``, ``with``, or garbage collection."""

    _free = None

    def __init__(self, ptr: int):
        self._ptr = ctypes.c_void_p(ptr)
        self._lock = threading.RLock()

    def _p(self) -> ctypes.c_void_p:
        if not self._ptr:
            raise ArgumentError(Status.NULL_PARAMETER, f"the {type(self).__name__} is closed")
        return self._ptr

    def close(self) -> None:
        """Frees the handle; safe to call twice."""
        with self._lock:
            if self._ptr:
                type(self)._free(self._ptr)
                self._ptr = ctypes.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


class Keyset(_Handle):
    """AES-256-GCM keys with ids and statuses, one primary. Keys are wiped on ``close()``."""

    _free = lib.secllama_keyset_free

    @classmethod
    def generate(cls) -> "Keyset":
        """A keyset with one fresh key."""
        p = ctypes.c_void_p()
        _check(lib.secllama_keyset_generate(ctypes.byref(p)))
        return cls(p.value)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Keyset":
        """Parses a keyset serialized by :meth:`to_bytes`."""
        data = _bytes(data)
        p = ctypes.c_void_p()
        _check(lib.secllama_keyset_from_bytes(data, len(data), ctypes.byref(p)))
        return cls(p.value)

    def to_bytes(self) -> bytes:
        """The keyset with its key material: a secret."""
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_keyset_to_bytes(self._p(), ctypes.byref(out)))
        return _take(out)

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypts with the primary key; ``aad`` is authenticated, not stored."""
        plaintext, aad = _bytes(plaintext), _bytes(aad)
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_keyset_seal(self._p(), plaintext, len(plaintext), aad, len(aad), ctypes.byref(out)))
        return _take(out)

    def open(self, envelope: bytes, aad: bytes = b"") -> bytes:
        """Decrypts an envelope from :meth:`seal`; raises :class:`AuthenticationError` when it
        was modified or ``aad`` differs."""
        envelope, aad = _bytes(envelope), _bytes(aad)
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_keyset_open(self._p(), envelope, len(envelope), aad, len(aad), ctypes.byref(out)))
        return _take(out)

    def rotate(self) -> int:
        """Adds a fresh primary key; returns its id."""
        out = ctypes.c_uint32()
        with self._lock:
            _check(lib.secllama_keyset_rotate(self._p(), ctypes.byref(out)))
        return out.value

    @property
    def primary_id(self) -> int:
        """The id of the sealing key."""
        out = ctypes.c_uint32()
        with self._lock:
            _check(lib.secllama_keyset_primary_id(self._p(), ctypes.byref(out)))
        return out.value

    def keys(self) -> list[dict]:
        """``[{"id", "status", "primary", "created"}, ...]`` (never key bytes)."""
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_keyset_keys_json(self._p(), ctypes.byref(out)))
        return json.loads(_take(out))

    def enable(self, key_id: int) -> None:
        with self._lock:
            _check(lib.secllama_keyset_enable(self._p(), key_id))

    def disable(self, key_id: int) -> None:
        with self._lock:
            _check(lib.secllama_keyset_disable(self._p(), key_id))

    def destroy(self, key_id: int) -> None:
        with self._lock:
            _check(lib.secllama_keyset_destroy(self._p(), key_id))


def password_seal(password: bytes, plaintext: bytes, aad: bytes = b"", iterations: int = 0) -> bytes:
    """Encrypts under a password (PBKDF2-HMAC-SHA256; ``iterations`` 0 = the default)."""
    password, plaintext, aad = _bytes(password), _bytes(plaintext), _bytes(aad)
    out = _lib.Buf()
    _check(
        lib.secllama_password_seal(
            password, len(password), iterations, plaintext, len(plaintext), aad, len(aad), ctypes.byref(out)
        )
    )
    return _take(out)


def password_open(password: bytes, envelope: bytes, aad: bytes = b"") -> bytes:
    """Decrypts a :func:`password_seal` envelope."""
    password, envelope, aad = _bytes(password), _bytes(envelope), _bytes(aad)
    out = _lib.Buf()
    _check(
        lib.secllama_password_open(password, len(password), envelope, len(envelope), aad, len(aad), ctypes.byref(out))
    )
    return _take(out)


def probe_sandbox() -> dict:
    """What this OS and kernel can enforce (``os``, ``landlock_abi``, ``seccomp_filter``, ...)."""
    out = _lib.Buf()
    _check(lib.secllama_sandbox_probe_json(ctypes.byref(out)))
    return json.loads(_take(out))


class Keystore(_Handle):
    """The keyset of one service in the OS keychain. ``backend`` is ``"secret-service"``,
    ``"keyutils"``, ``"keychain"``, ``"credential-manager"`` or None (``SECLLAMA_KEYSTORE`` or
    the OS default)."""

    _free = lib.secllama_keystore_free

    def __init__(self, service: str, backend: Optional[str] = None):
        p = ctypes.c_void_p()
        _check(lib.secllama_keystore_open(_cstr(service), _cstr(backend), ctypes.byref(p)))
        super().__init__(p.value)

    @property
    def backend(self) -> str:
        out = ctypes.c_char_p()
        _check(lib.secllama_keystore_backend(self._p(), ctypes.byref(out)))
        return out.value.decode()

    def init(self) -> None:
        """Creates the keyset; raises KeystoreError(KEYSTORE_ALREADY_INITIALIZED) if it exists."""
        _check(lib.secllama_keystore_init(self._p()))

    def init_or_reuse(self) -> bool:
        """Creates the keyset unless it exists; True if it created it."""
        out = ctypes.c_bool()
        _check(lib.secllama_keystore_init_or_reuse(self._p(), ctypes.byref(out)))
        return out.value

    def load(self) -> Keyset:
        """The stored keyset (created on first use)."""
        p = ctypes.c_void_p()
        _check(lib.secllama_keystore_load(self._p(), ctypes.byref(p)))
        return Keyset(p.value)

    def status(self) -> dict:
        """``{"backend", "service", "survives_reboot", "primary", "keys": [...]}``."""
        out = _lib.Buf()
        _check(lib.secllama_keystore_status_json(self._p(), ctypes.byref(out)))
        return json.loads(_take(out))

    def rotate(self) -> int:
        out = ctypes.c_uint32()
        _check(lib.secllama_keystore_rotate(self._p(), ctypes.byref(out)))
        return out.value

    def enable(self, key_id: int) -> None:
        _check(lib.secllama_keystore_enable(self._p(), key_id))

    def disable(self, key_id: int) -> None:
        _check(lib.secllama_keystore_disable(self._p(), key_id))

    def destroy(self, key_id: int) -> None:
        _check(lib.secllama_keystore_destroy(self._p(), key_id))

    def delete(self) -> int:
        """Removes every entry of the service; returns how many."""
        out = ctypes.c_size_t()
        _check(lib.secllama_keystore_delete(self._p(), ctypes.byref(out)))
        return out.value


# ---- runner ----------------------------------------------------------------------------------


class StopReason(enum.IntEnum):
    NONE = 0
    END_OF_TEXT = 1
    STOP_STRING = 2
    MAX_TOKENS = 3
    CONTEXT_FULL = 4
    CANCELLED = 5


@dataclass
class Metrics:
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_count: int
    eval_duration_ns: int
    load_duration_ns: int
    total_duration_ns: int
    prompt_tokens_per_second: float
    eval_tokens_per_second: float


@dataclass
class Done:
    reason: StopReason
    metrics: Metrics


@dataclass
class GenerationParams:
    """A request's sampling settings; start from :meth:`greedy` or :meth:`default`."""

    max_tokens: int = 256
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.05
    seed: int = 0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    stop: Sequence[str] = field(default_factory=list)

    @classmethod
    def default(cls) -> "GenerationParams":
        c = _lib.GenerationParams()
        _check(lib.secllama_generation_params_default(ctypes.byref(c)))
        return cls._from_c(c)

    @classmethod
    def greedy(cls, max_tokens: int) -> "GenerationParams":
        c = _lib.GenerationParams()
        _check(lib.secllama_generation_params_greedy(max_tokens, ctypes.byref(c)))
        return cls._from_c(c)

    @classmethod
    def _from_c(cls, c: _lib.GenerationParams) -> "GenerationParams":
        return cls(
            c.max_tokens, c.temperature, c.top_k, c.top_p, c.min_p, c.seed, c.repeat_penalty, c.repeat_last_n, []
        )

    def _to_c(self):
        stops = [_cstr(s) for s in self.stop]
        arr = (ctypes.c_char_p * len(stops))(*stops) if stops else None
        c = _lib.GenerationParams(
            self.max_tokens,
            self.temperature,
            self.top_k,
            self.top_p,
            self.min_p,
            self.seed,
            self.repeat_penalty,
            self.repeat_last_n,
            ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)) if arr is not None else None,
            len(stops),
        )
        return c, arr  # keep `arr` alive for the call


def _done(c: _lib.DoneC) -> Done:
    m = c.metrics
    return Done(
        StopReason(c.reason),
        Metrics(
            m.prompt_eval_count,
            m.prompt_eval_duration_ns,
            m.eval_count,
            m.eval_duration_ns,
            m.load_duration_ns,
            m.total_duration_ns,
            m.prompt_tokens_per_second,
            m.eval_tokens_per_second,
        ),
    )


_SANDBOX = {"strict": (True, True), "best-effort": (True, False), "off": (False, False)}


class Runner(_Handle):
    """A sandboxed runner process with its model loaded. Requests run one at a time;
    :meth:`cancel` works from any thread."""

    _free = getattr(lib, "secllama_runner_free", None)

    def __init__(
        self,
        model_path: Optional[str] = None,
        *,
        sha256: Optional[str] = None,
        threads: int = 0,
        context_length: int = 0,
        sandbox: Optional[str] = None,
        runner_path: Optional[str] = None,
    ):
        """Starts a runner and waits until the model is loaded. ``model_path`` None is the
        default model (pinned by SHA-256); ``sandbox`` is ``"strict"``, ``"best-effort"``,
        ``"off"`` or None (the ``SECLLAMA_*`` environment)."""
        cfg = ctypes.c_void_p()
        if model_path is None:
            _check(lib.secllama_runner_config_default_model(ctypes.byref(cfg)))
        else:
            _check(lib.secllama_runner_config_new(_cstr(model_path), ctypes.byref(cfg)))
        try:
            if sha256 is not None:
                _check(lib.secllama_runner_config_set_sha256(cfg, _cstr(sha256)))
            if runner_path is not None:
                _check(lib.secllama_runner_config_set_runner_path(cfg, _cstr(runner_path)))
            _check(lib.secllama_runner_config_set_threads(cfg, threads))
            if context_length:
                _check(lib.secllama_runner_config_set_context_length(cfg, context_length))
            if sandbox is not None:
                if sandbox not in _SANDBOX:
                    raise ArgumentError(Status.INVALID_ARGUMENT, f"sandbox must be one of {sorted(_SANDBOX)}")
                _check(lib.secllama_runner_config_set_sandbox(cfg, *_SANDBOX[sandbox]))
            p = ctypes.c_void_p()
            _check(lib.secllama_runner_spawn(cfg, _lib.PROGRESS_CALLBACK(), None, ctypes.byref(p)))
        finally:
            lib.secllama_runner_config_free(cfg)
        super().__init__(p.value)
        h = ctypes.c_void_p()
        _check(lib.secllama_runner_cancel_handle(self._ptr, ctypes.byref(h)))
        self._cancel = h
        self._cancel_lock = threading.Lock()

    def close(self) -> None:
        """Shuts the runner down (waits for a running request); safe to call twice."""
        with self._lock:
            cancel = getattr(self, "_cancel", None)
            if cancel:
                with self._cancel_lock:
                    lib.secllama_cancel_handle_free(cancel)
                    self._cancel = ctypes.c_void_p()
            super().close()

    def cancel(self) -> None:
        """Stops the request in progress (it ends with ``StopReason.CANCELLED``)."""
        with self._cancel_lock:
            if not self._cancel:
                raise ArgumentError(Status.NULL_PARAMETER, "the Runner is closed")
            _check(lib.secllama_cancel_handle_cancel(self._cancel))

    def _generate(self, call, on_piece: Optional[Callable[[str], Optional[bool]]]) -> Done:
        raised: list[BaseException] = []

        def piece(_user, ptr, n):
            if on_piece is None:
                return 0
            try:
                return 1 if on_piece(ctypes.string_at(ptr, n).decode("utf-8")) else 0
            except BaseException as e:  # re-raised after the call; cancel meanwhile
                raised.append(e)
                return 1

        cb = _lib.PIECE_CALLBACK(piece)
        done = _lib.DoneC()
        with self._lock:
            status = call(self._p(), cb, ctypes.byref(done))
        if raised:
            raise raised[0]
        _check(status)
        return _done(done)

    def complete(
        self,
        prompt: str,
        params: Optional[GenerationParams] = None,
        on_piece: Optional[Callable[[str], Optional[bool]]] = None,
    ) -> Done:
        """Continues ``prompt``; ``on_piece(text)`` gets each piece, returning True cancels."""
        c, keep = (params or GenerationParams.default())._to_c()
        p = _cstr(prompt)
        return self._generate(lambda r, cb, d: lib.secllama_runner_complete(r, p, ctypes.byref(c), cb, None, d), on_piece)

    def chat(
        self,
        messages: Sequence[dict],
        params: Optional[GenerationParams] = None,
        on_piece: Optional[Callable[[str], Optional[bool]]] = None,
    ) -> Done:
        """One chat turn; ``messages`` are ``{"role": ..., "content": ...}`` dicts."""
        c, keep = (params or GenerationParams.default())._to_c()
        arr = (_lib.ChatMessageC * max(len(messages), 1))(
            *[_lib.ChatMessageC(_cstr(m["role"]), _cstr(m["content"])) for m in messages]
        )
        n = len(messages)
        return self._generate(
            lambda r, cb, d: lib.secllama_runner_chat(r, arr if n else None, n, ctypes.byref(c), cb, None, d),
            on_piece,
        )

    def model_info(self) -> dict:
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_runner_model_info_json(self._p(), ctypes.byref(out)))
        return json.loads(_take(out))

    def sandbox_report(self) -> Optional[dict]:
        out = _lib.Buf()
        with self._lock:
            _check(lib.secllama_runner_sandbox_report_json(self._p(), ctypes.byref(out)))
        return json.loads(_take(out))


from .terminal import TerminalText  # noqa: E402  (needs _Handle, _check and _take above)

__all__.append("TerminalText")
