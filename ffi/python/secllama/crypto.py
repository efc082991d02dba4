"""Keysets and sealed envelopes, and password sealing."""

from __future__ import annotations

import ctypes
import json
from typing import Any

from ._errors import check
from ._handle import Handle, as_bytes, as_u32, take, wrap
from ._lib import Buf, lib

ENVELOPE_OVERHEAD = 33
PASSWORD_OVERHEAD = 49
PASSWORD_DEFAULT_ITERATIONS = 600_000
PASSWORD_MIN_ITERATIONS = 100_000
PASSWORD_MAX_ITERATIONS = 10_000_000


class Keyset(Handle):
    """AES-256-GCM keys with ids and statuses, one primary. Keys are wiped on ``close()``.
    Made by :meth:`generate`, :meth:`from_bytes` or :meth:`Keystore.load`."""

    _free = lib.secllama_keyset_free

    @classmethod
    def generate(cls) -> "Keyset":
        """A keyset with one fresh key."""
        p = ctypes.c_void_p()
        check(lib.secllama_keyset_generate(ctypes.byref(p)))
        ks: Keyset = wrap(cls, p.value)
        return ks

    @classmethod
    def from_bytes(cls, data: bytes) -> "Keyset":
        """Parses a keyset serialized by :meth:`to_bytes`."""
        b = as_bytes(data, "data")
        p = ctypes.c_void_p()
        check(lib.secllama_keyset_from_bytes(b, len(b), ctypes.byref(p)))
        ks: Keyset = wrap(cls, p.value)
        return ks

    def to_bytes(self) -> bytes:
        """The keyset with its key material: a secret."""
        out = Buf()
        with self._use() as p:
            check(lib.secllama_keyset_to_bytes(p, ctypes.byref(out)))
        return take(out)

    def seal(self, plaintext: bytes, aad: bytes = b"") -> bytes:
        """Encrypts with the primary key; ``aad`` is authenticated, not stored."""
        pt, ad = as_bytes(plaintext, "plaintext"), as_bytes(aad, "aad")
        out = Buf()
        with self._use() as p:
            check(lib.secllama_keyset_seal(p, pt, len(pt), ad, len(ad), ctypes.byref(out)))
        return take(out)

    def open(self, envelope: bytes, aad: bytes = b"") -> bytes:
        """Decrypts an envelope from :meth:`seal`; raises :class:`AuthenticationError` when it
        was modified or ``aad`` differs."""
        env, ad = as_bytes(envelope, "envelope"), as_bytes(aad, "aad")
        out = Buf()
        with self._use() as p:
            check(lib.secllama_keyset_open(p, env, len(env), ad, len(ad), ctypes.byref(out)))
        return take(out)

    def rotate(self) -> int:
        """Adds a fresh primary key; returns its id."""
        out = ctypes.c_uint32()
        with self._use() as p:
            check(lib.secllama_keyset_rotate(p, ctypes.byref(out)))
        return out.value

    @property
    def primary_id(self) -> int:
        """The id of the sealing key."""
        out = ctypes.c_uint32()
        with self._use() as p:
            check(lib.secllama_keyset_primary_id(p, ctypes.byref(out)))
        return out.value

    def keys(self) -> list[dict[str, Any]]:
        """``[{"id", "status", "primary", "created"}, ...]`` (never key bytes)."""
        out = Buf()
        with self._use() as p:
            check(lib.secllama_keyset_keys_json(p, ctypes.byref(out)))
        keys: list[dict[str, Any]] = json.loads(take(out))
        return keys

    def enable(self, key_id: int) -> None:
        with self._use() as p:
            check(lib.secllama_keyset_enable(p, as_u32(key_id, "key_id")))

    def disable(self, key_id: int) -> None:
        with self._use() as p:
            check(lib.secllama_keyset_disable(p, as_u32(key_id, "key_id")))

    def destroy(self, key_id: int) -> None:
        with self._use() as p:
            check(lib.secllama_keyset_destroy(p, as_u32(key_id, "key_id")))


def password_seal(password: bytes, plaintext: bytes, aad: bytes = b"", iterations: int = 0) -> bytes:
    """Encrypts under a password (PBKDF2-HMAC-SHA256; ``iterations`` 0 = the default)."""
    pw, pt, ad = as_bytes(password, "password"), as_bytes(plaintext, "plaintext"), as_bytes(aad, "aad")
    out = Buf()
    check(
        lib.secllama_password_seal(
            pw, len(pw), as_u32(iterations, "iterations"), pt, len(pt), ad, len(ad), ctypes.byref(out)
        )
    )
    return take(out)


def password_open(password: bytes, envelope: bytes, aad: bytes = b"") -> bytes:
    """Decrypts a :func:`password_seal` envelope."""
    pw, env, ad = as_bytes(password, "password"), as_bytes(envelope, "envelope"), as_bytes(aad, "aad")
    out = Buf()
    check(lib.secllama_password_open(pw, len(pw), env, len(env), ad, len(ad), ctypes.byref(out)))
    return take(out)
