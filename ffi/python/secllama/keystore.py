"""The keyset of one service in the OS keychain."""

from __future__ import annotations

import ctypes
import json
from typing import Any, Optional

from ._errors import check
from ._handle import Handle, as_cstr, as_u32, take, wrap
from ._lib import Buf, lib
from .crypto import Keyset


class Keystore(Handle):
    """The keyset of one service in the OS keychain. ``backend`` is ``"secret-service"``,
    ``"keyutils"``, ``"keychain"``, ``"credential-manager"`` or None (``SECLLAMA_KEYSTORE`` or
    the OS default). Usable from any thread."""

    _free = lib.secllama_keystore_free

    def __init__(self, service: str, backend: Optional[str] = None):
        p = ctypes.c_void_p()
        check(lib.secllama_keystore_open(as_cstr(service, "service"), as_cstr(backend, "backend"), ctypes.byref(p)))
        self._init_handle(p.value or 0)

    @property
    def backend(self) -> str:
        out = ctypes.c_char_p()
        with self._use() as p:
            check(lib.secllama_keystore_backend(p, ctypes.byref(out)))
        return (out.value or b"").decode()

    def init(self) -> None:
        """Creates the keyset; raises KeystoreError(KEYSTORE_ALREADY_INITIALIZED) if it exists."""
        with self._use() as p:
            check(lib.secllama_keystore_init(p))

    def init_or_reuse(self) -> bool:
        """Creates the keyset unless it exists; True if it created it."""
        out = ctypes.c_bool()
        with self._use() as p:
            check(lib.secllama_keystore_init_or_reuse(p, ctypes.byref(out)))
        return out.value

    def load(self) -> Keyset:
        """The stored keyset (created on first use)."""
        k = ctypes.c_void_p()
        with self._use() as p:
            check(lib.secllama_keystore_load(p, ctypes.byref(k)))
        ks: Keyset = wrap(Keyset, k.value)
        return ks

    def status(self) -> dict[str, Any]:
        """``{"backend", "service", "survives_reboot", "primary", "keys": [...]}``."""
        out = Buf()
        with self._use() as p:
            check(lib.secllama_keystore_status_json(p, ctypes.byref(out)))
        status: dict[str, Any] = json.loads(take(out))
        return status

    def rotate(self) -> int:
        out = ctypes.c_uint32()
        with self._use() as p:
            check(lib.secllama_keystore_rotate(p, ctypes.byref(out)))
        return out.value

    def enable(self, key_id: int) -> None:
        with self._use() as p:
            check(lib.secllama_keystore_enable(p, as_u32(key_id, "key_id")))

    def disable(self, key_id: int) -> None:
        with self._use() as p:
            check(lib.secllama_keystore_disable(p, as_u32(key_id, "key_id")))

    def destroy(self, key_id: int, *, force: bool = False) -> None:
        """Destroys a stored key other than the primary (a tombstone stays). A key that was
        primary less than the grace period (24 h) ago raises :class:`KeystoreError` with
        ``Status.KEYSTORE_RECENTLY_PRIMARY``, since a running process may still seal with it;
        ``force=True`` destroys it anyway (only when no process can still hold the old
        keyset)."""
        destroy = lib.secllama_keystore_destroy_forced if force else lib.secllama_keystore_destroy
        with self._use() as p:
            check(destroy(p, as_u32(key_id, "key_id")))

    def delete(self) -> int:
        """Removes every entry of the service; returns how many."""
        out = ctypes.c_size_t()
        with self._use() as p:
            check(lib.secllama_keystore_delete(p, ctypes.byref(out)))
        return out.value
