import os
import time

import pytest

import secllama
from secllama import Status


def test_keystore_arguments_are_checked_before_the_keychain():
    with pytest.raises(secllama.KeystoreError) as e:
        secllama.Keystore("bad/name")
    assert e.value.status == Status.KEYSTORE_INVALID_SERVICE
    with pytest.raises(secllama.KeystoreError) as e:
        secllama.Keystore("ok", backend="file")
    assert e.value.status == Status.KEYSTORE_UNKNOWN_BACKEND
    with pytest.raises(secllama.ArgumentError) as e:
        secllama.Keystore(b"\xff\xfe")
    assert e.value.status == Status.INVALID_UTF8
    with pytest.raises(secllama.ArgumentError) as e:
        secllama.Keystore("a\0b")
    assert e.value.status == Status.INVALID_ARGUMENT


@pytest.mark.skipif(
    not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and os.environ.get("SECLLAMA_TEST_SECRET_SERVICE") != "1",
    reason="no D-Bus session bus: run inside .ci/test-in-session.sh",
)
def test_keychain_init_rotate_status_and_delete_against_the_secret_service():
    service = f"secllama-ffi-py-{os.getpid()}-{time.time_ns()}"
    with secllama.Keystore(service, backend="secret-service") as store:
        assert store.backend == "secret-service"
        with pytest.raises(secllama.KeystoreError) as e:
            store.status()
        assert e.value.status == Status.KEYSTORE_NOT_INITIALIZED
        store.init()
        try:
            with pytest.raises(secllama.KeystoreError) as e:
                store.init()
            assert e.value.status == Status.KEYSTORE_ALREADY_INITIALIZED
            assert store.init_or_reuse() is False
            with store.load() as ks:
                env = ks.seal(b"kept", b"aad")
                first = ks.primary_id
            second = store.rotate()
            status = store.status()
            assert status["backend"] == "secret-service"
            assert status["service"] == service
            assert status["primary"] == second
            assert [(k["id"], k["status"], k["primary"]) for k in status["keys"]] == [
                (first, "enabled", False),
                (second, "enabled", True),
            ]
            with store.load() as ks:
                assert ks.primary_id == second
                assert ks.open(env, b"aad") == b"kept"
        finally:
            removed = store.delete()
        assert removed == 4  # two keys, the primary record, the index
        with pytest.raises(secllama.KeystoreError) as e:
            store.status()
        assert e.value.status == Status.KEYSTORE_NOT_INITIALIZED


@pytest.mark.skipif(
    not os.environ.get("DBUS_SESSION_BUS_ADDRESS") and os.environ.get("SECLLAMA_TEST_SECRET_SERVICE") != "1",
    reason="no D-Bus session bus: run inside .ci/test-in-session.sh",
)
def test_a_recently_primary_key_is_destroyed_only_when_forced():
    service = f"secllama-ffi-py-destroy-{os.getpid()}-{time.time_ns()}"
    with secllama.Keystore(service, backend="secret-service") as store:
        store.init()
        try:
            with store.load() as ks:
                env = ks.seal(b"old")
                first = ks.primary_id
            second = store.rotate()
            with pytest.raises(secllama.KeystoreError) as e:
                store.destroy(first)
            assert e.value.status == Status.KEYSTORE_RECENTLY_PRIMARY
            assert "grace period" in e.value.message
            with pytest.raises(secllama.CryptoError) as e:
                store.destroy(second, force=True)
            assert e.value.status == Status.KEY_IS_PRIMARY
            store.destroy(first, force=True)
            keys = {k["id"]: k["status"] for k in store.status()["keys"]}
            assert keys == {first: "destroyed", second: "enabled"}
            with store.load() as ks:
                with pytest.raises(secllama.CryptoError) as e:
                    ks.open(env)
                assert e.value.status == Status.KEY_DESTROYED
        finally:
            store.delete()
