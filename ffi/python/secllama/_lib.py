"""Loads libsecllama_ffi and declares the C signatures of ffi/include/secllama.h."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from pathlib import Path
from typing import Any, Optional

LIB_NAME = "libsecllama_ffi.so"


RUNNER_NAME = "secllama-runner"
PACKAGE_DIR = Path(__file__).resolve().parent


def _candidates() -> list[Path]:
    """Where the shared library is looked for, in order: $SECLLAMA_LIB, inside the installed
    package, then cargo's target directories of the source tree (release before debug)."""
    found: list[Path] = []
    env = os.environ.get("SECLLAMA_LIB")
    if env:
        return [Path(env)]
    found.append(PACKAGE_DIR / LIB_NAME)
    repo = PACKAGE_DIR.parents[2]
    targets = []
    if os.environ.get("CARGO_TARGET_DIR"):
        targets.append(Path(os.environ["CARGO_TARGET_DIR"]))
    targets.append(repo / "target")
    for t in targets:
        for profile in ("release", "debug"):
            # `cargo build` copies the library up; `cargo test` leaves it in deps/.
            found.append(t / profile / LIB_NAME)
            found.append(t / profile / "deps" / LIB_NAME)
    return found


def runner_path(lib_path: Optional[str]) -> Optional[str]:
    """The runner executable shipped with the library: inside the installed package, or next
    to the library in cargo's target directory (`deps/..`). None: the library's own lookup
    ($SECLLAMA_RUNNER_PATH, next to the program)."""
    if os.environ.get("SECLLAMA_RUNNER_PATH"):
        return None
    dirs = [PACKAGE_DIR]
    if lib_path:
        d = Path(lib_path).resolve().parent
        dirs += [d, d.parent]
    for d in dirs:
        exe = d / RUNNER_NAME
        if exe.is_file() and os.access(exe, os.X_OK):
            return str(exe)
    return None


LOADED_FROM: Optional[str] = None


def load() -> ctypes.CDLL:
    """The library: $SECLLAMA_LIB, the package, cargo's target dir, the system's search path."""
    global LOADED_FROM
    for path in _candidates():
        if path.is_file():
            LOADED_FROM = str(path)
            return ctypes.CDLL(str(path))
    if os.environ.get("SECLLAMA_LIB"):
        raise OSError(f"SECLLAMA_LIB={os.environ['SECLLAMA_LIB']} does not exist")
    name = ctypes.util.find_library("secllama_ffi")
    if name:
        return ctypes.CDLL(name)
    raise OSError(
        "libsecllama_ffi.so not found: build it with `cargo build -p secllama-ffi` "
        "or set SECLLAMA_LIB to its path"
    )


lib = load()

# ---- types -------------------------------------------------------------------------------

status_t = ctypes.c_uint32
u8p = ctypes.POINTER(ctypes.c_uint8)
# Input bytes: c_char_p passes a bytes object's buffer (NULs included; the length goes
# separately) and None as NULL.
inb = ctypes.c_char_p


class Buf(ctypes.Structure):
    """secllama_buf: bytes owned by the library until secllama_buf_free."""

    _fields_ = [("ptr", u8p), ("len", ctypes.c_size_t)]


class GenerationParams(ctypes.Structure):
    """secllama_generation_params."""

    _fields_ = [
        ("max_tokens", ctypes.c_uint32),
        ("temperature", ctypes.c_float),
        ("top_k", ctypes.c_uint32),
        ("top_p", ctypes.c_float),
        ("min_p", ctypes.c_float),
        ("seed", ctypes.c_uint32),
        ("repeat_penalty", ctypes.c_float),
        ("repeat_last_n", ctypes.c_uint32),
        ("stop", ctypes.POINTER(ctypes.c_char_p)),
        ("stop_len", ctypes.c_size_t),
        ("timeout_ms", ctypes.c_uint64),
        ("cancel", ctypes.c_void_p),
    ]


class EmbeddingsC(ctypes.Structure):
    """secllama_embeddings."""

    _fields_ = [("data", ctypes.POINTER(ctypes.c_float)), ("count", ctypes.c_size_t), ("dimensions", ctypes.c_size_t)]


class TokensC(ctypes.Structure):
    """secllama_tokens."""

    _fields_ = [("ptr", ctypes.POINTER(ctypes.c_int32)), ("len", ctypes.c_size_t)]


class ChatMessageC(ctypes.Structure):
    """secllama_chat_message."""

    _fields_ = [("role", ctypes.c_char_p), ("content", ctypes.c_char_p)]


class MetricsC(ctypes.Structure):
    """secllama_metrics."""

    _fields_ = [
        ("prompt_eval_count", ctypes.c_uint64),
        ("prompt_eval_duration_ns", ctypes.c_uint64),
        ("eval_count", ctypes.c_uint64),
        ("eval_duration_ns", ctypes.c_uint64),
        ("load_duration_ns", ctypes.c_uint64),
        ("total_duration_ns", ctypes.c_uint64),
        ("prompt_tokens_per_second", ctypes.c_double),
        ("eval_tokens_per_second", ctypes.c_double),
    ]


class DoneC(ctypes.Structure):
    """secllama_done."""

    _fields_ = [("reason", ctypes.c_uint32), ("metrics", MetricsC)]


PIECE_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.POINTER(ctypes.c_char), ctypes.c_size_t)
PROGRESS_CALLBACK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_float)

vp = ctypes.c_void_p
pvp = ctypes.POINTER(ctypes.c_void_p)
size = ctypes.c_size_t
u32 = ctypes.c_uint32
cstr = ctypes.c_char_p
pbuf = ctypes.POINTER(Buf)


def _sig(name: str, *args: Any, restype: Any = status_t) -> None:
    try:
        fn = getattr(lib, name)
    except AttributeError:
        return  # an older library without this function: calling it raises AttributeError
    fn.argtypes = list(args)
    fn.restype = restype


_sig("secllama_status_name", u32, ctypes.POINTER(ctypes.c_char_p))
_sig("secllama_last_error", ctypes.c_char_p, size, ctypes.POINTER(size))
_sig("secllama_version", ctypes.POINTER(ctypes.c_char_p))
_sig("secllama_features", ctypes.POINTER(u32))
_sig("secllama_buf_free", pbuf, restype=None)

_sig("secllama_keyset_generate", pvp)
_sig("secllama_keyset_from_bytes", inb, size, pvp)
_sig("secllama_keyset_to_bytes", vp, pbuf)
_sig("secllama_keyset_rotate", vp, ctypes.POINTER(u32))
_sig("secllama_keyset_primary_id", vp, ctypes.POINTER(u32))
_sig("secllama_keyset_enable", vp, u32)
_sig("secllama_keyset_disable", vp, u32)
_sig("secllama_keyset_destroy", vp, u32)
_sig("secllama_keyset_keys_json", vp, pbuf)
_sig("secllama_keyset_seal", vp, inb, size, inb, size, pbuf)
_sig("secllama_keyset_open", vp, inb, size, inb, size, pbuf)
_sig("secllama_keyset_free", vp)
_sig("secllama_password_seal", inb, size, u32, inb, size, inb, size, pbuf)
_sig("secllama_password_open", inb, size, inb, size, inb, size, pbuf)

_sig("secllama_keystore_open", cstr, cstr, pvp)
_sig("secllama_keystore_backend", vp, ctypes.POINTER(ctypes.c_char_p))
_sig("secllama_keystore_init", vp)
_sig("secllama_keystore_init_or_reuse", vp, ctypes.POINTER(ctypes.c_bool))
_sig("secllama_keystore_load", vp, pvp)
_sig("secllama_keystore_status_json", vp, pbuf)
_sig("secllama_keystore_rotate", vp, ctypes.POINTER(u32))
_sig("secllama_keystore_enable", vp, u32)
_sig("secllama_keystore_disable", vp, u32)
_sig("secllama_keystore_destroy", vp, u32)
_sig("secllama_keystore_destroy_forced", vp, u32)
_sig("secllama_keystore_delete", vp, ctypes.POINTER(size))
_sig("secllama_keystore_free", vp)

_sig("secllama_sandbox_probe_json", pbuf)

_sig("secllama_generation_params_default", ctypes.POINTER(GenerationParams))
_sig("secllama_generation_params_greedy", u32, ctypes.POINTER(GenerationParams))
_sig("secllama_runner_config_new", cstr, pvp)
_sig("secllama_runner_config_default_model", pvp)
_sig("secllama_runner_config_set_sha256", vp, cstr)
_sig("secllama_runner_config_set_runner_path", vp, cstr)
_sig("secllama_runner_config_set_threads", vp, u32)
_sig("secllama_runner_config_set_context_length", vp, u32)
_sig("secllama_runner_config_set_gpu_layers", vp, u32)
_sig("secllama_runner_config_set_sandbox", vp, ctypes.c_bool, ctypes.c_bool)
_sig("secllama_runner_config_free", vp)
_sig("secllama_runner_spawn", vp, PROGRESS_CALLBACK, vp, pvp)
_sig(
    "secllama_runner_complete",
    vp,
    cstr,
    ctypes.POINTER(GenerationParams),
    PIECE_CALLBACK,
    vp,
    ctypes.POINTER(DoneC),
)
_sig(
    "secllama_runner_chat",
    vp,
    ctypes.POINTER(ChatMessageC),
    size,
    ctypes.POINTER(GenerationParams),
    PIECE_CALLBACK,
    vp,
    ctypes.POINTER(DoneC),
)
_sig("secllama_runner_model_info_json", vp, pbuf)
_sig("secllama_runner_sandbox_report_json", vp, pbuf)
_sig("secllama_runner_cancel_handle", vp, pvp)
_sig("secllama_cancel_handle_cancel", vp)
_sig("secllama_cancel_handle_terminate", vp)
_sig("secllama_runner_pid", vp, ctypes.POINTER(u32))
_sig("secllama_cancel_handle_free", vp)
_sig("secllama_runner_free", vp)
_sig("secllama_request_token_new", pvp)
_sig("secllama_request_token_cancel", vp)
_sig("secllama_request_token_free", vp)
_sig("secllama_runner_embed", vp, ctypes.POINTER(ctypes.c_char_p), size, ctypes.c_bool, ctypes.POINTER(EmbeddingsC))
_sig("secllama_embeddings_free", ctypes.POINTER(EmbeddingsC), restype=None)
_sig("secllama_runner_tokenize", vp, cstr, ctypes.c_bool, ctypes.c_bool, ctypes.POINTER(TokensC))
_sig("secllama_tokens_free", ctypes.POINTER(TokensC), restype=None)
_sig("secllama_runner_detokenize", vp, ctypes.POINTER(ctypes.c_int32), size, pbuf)
_sig("secllama_runner_context_length", vp, ctypes.POINTER(u32))
