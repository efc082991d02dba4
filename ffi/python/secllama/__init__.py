"""SecLlama from Python: keysets and sealed envelopes, password sealing, the OS keychain, the
sandbox probe and the sandboxed llama.cpp runner, through the C ABI (ctypes).

The shared library and the ``secllama-runner`` executable are found inside the installed
package (``pip install ./ffi/python`` builds both), else through ``SECLLAMA_LIB`` (a path),
else cargo's target directory of the source tree (release before debug).

    import secllama
    with secllama.Runner() as r:
        print(r.complete("The capital of France is").text)
    with secllama.Keyset.generate() as ks:
        env = ks.seal(b"chat history", aad=b"chat/1")
        assert ks.open(env, aad=b"chat/1") == b"chat history"

Every handle is a context manager (``close()`` is also called when it is garbage collected)
and can be closed from any thread or callback without ever reaching freed memory; failures
raise :class:`SecllamaError` subclasses carrying the library's exact :class:`Status`.
"""

from __future__ import annotations

import ctypes
import json
from typing import Any

from ._errors import (
    ArgumentError,
    AuthenticationError,
    BusyError,
    CryptoError,
    GpuUnavailableError,
    KeystoreError,
    RunnerError,
    SandboxError,
    SecllamaError,
    Status,
    TimeoutError,
    check,
)
from ._handle import take
from ._lib import Buf, lib
from .crypto import (
    ENVELOPE_OVERHEAD,
    PASSWORD_DEFAULT_ITERATIONS,
    PASSWORD_MAX_ITERATIONS,
    PASSWORD_MIN_ITERATIONS,
    PASSWORD_OVERHEAD,
    Keyset,
    password_open,
    password_seal,
)
from .keystore import Keystore
from .terminal import TerminalText
from .runner import (
    CLOSE_GRACE,
    MAX_DETOKENIZE_BYTES,
    MAX_DETOKENIZE_TOKENS,
    MAX_EMBED_INPUTS,
    MAX_TOKENIZE_BYTES,
    CancelToken,
    Done,
    GenerationParams,
    LoadStage,
    Metrics,
    Response,
    Runner,
    StopReason,
    Stream,
)

__all__ = [
    "Status",
    "SecllamaError",
    "ArgumentError",
    "BusyError",
    "CryptoError",
    "AuthenticationError",
    "KeystoreError",
    "SandboxError",
    "RunnerError",
    "TimeoutError",
    "GpuUnavailableError",
    "Keyset",
    "Keystore",
    "TerminalText",
    "Runner",
    "CancelToken",
    "Stream",
    "Response",
    "GenerationParams",
    "Done",
    "Metrics",
    "StopReason",
    "LoadStage",
    "CLOSE_GRACE",
    "MAX_EMBED_INPUTS",
    "MAX_TOKENIZE_BYTES",
    "MAX_DETOKENIZE_TOKENS",
    "MAX_DETOKENIZE_BYTES",
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


def version() -> str:
    """The library's version, e.g. ``"0.1.0"``."""
    out = ctypes.c_char_p()
    check(lib.secllama_version(ctypes.byref(out)))
    return (out.value or b"").decode()


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
    check(lib.secllama_features(ctypes.byref(out)))
    return out.value


def probe_sandbox() -> dict[str, Any]:
    """What this OS and kernel can enforce (``os``, ``landlock_abi``, ``seccomp_filter``, ...)."""
    out = Buf()
    check(lib.secllama_sandbox_probe_json(ctypes.byref(out)))
    probe: dict[str, Any] = json.loads(take(out))
    return probe
