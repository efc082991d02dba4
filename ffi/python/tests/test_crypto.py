import threading

import pytest

import secllama
from secllama import Status


def test_version_features_and_status_names_describe_this_build():
    assert secllama.version() == "0.1.0"
    f = secllama.features()
    assert f & secllama.FEATURE_RUNNER and f & secllama.FEATURE_SECRET_SERVICE
    assert not f & secllama.FEATURE_KEYCHAIN
    assert Status.OK == 0
    assert Status.NULL_PARAMETER == 100
    assert Status.AUTHENTICATION_FAILED == 202
    assert Status.RUNNER_INVALID_REQUEST == 512


def test_seal_open_round_trips_and_a_tampered_envelope_raises_authentication_error():
    with secllama.Keyset.generate() as ks:
        env = ks.seal(b"chat history", aad=b"chat/1")
        assert len(env) == len(b"chat history") + secllama.ENVELOPE_OVERHEAD
        assert env[0] == 1
        assert ks.open(env, aad=b"chat/1") == b"chat history"
        with pytest.raises(secllama.AuthenticationError) as e:
            ks.open(env, aad=b"chat/2")
        assert e.value.status == Status.AUTHENTICATION_FAILED
        tampered = bytearray(env)
        tampered[-1] ^= 1
        with pytest.raises(secllama.AuthenticationError) as e:
            ks.open(bytes(tampered), aad=b"chat/1")
        assert "authentication failed" in str(e.value)
        with pytest.raises(secllama.CryptoError) as e:
            ks.open(env[:10], aad=b"chat/1")
        assert e.value.status == Status.MALFORMED
        # Empty plaintext, embedded NULs.
        assert ks.open(ks.seal(b"")) == b""
        assert ks.open(ks.seal(b"a\0b", b"\0"), b"\0") == b"a\0b"


def test_rotation_keeps_old_envelopes_open_and_serialization_round_trips():
    with secllama.Keyset.generate() as ks:
        first = ks.primary_id
        env = ks.seal(b"old")
        second = ks.rotate()
        assert second != first and ks.primary_id == second
        with pytest.raises(secllama.CryptoError) as e:
            ks.disable(second)
        assert e.value.status == Status.KEY_IS_PRIMARY
        raw = ks.to_bytes()
    with secllama.Keyset.from_bytes(raw) as copy:
        assert copy.open(env) == b"old"
        keys = copy.keys()
        assert [k["id"] for k in keys] == [first, second]
        assert [k["primary"] for k in keys] == [False, True]
        copy.destroy(first)
        with pytest.raises(secllama.CryptoError) as e:
            copy.open(env)
        assert e.value.status == Status.KEY_DESTROYED
    with pytest.raises(secllama.CryptoError) as e:
        secllama.Keyset.from_bytes(raw[: len(raw) // 2])
    assert e.value.status == Status.MALFORMED
    with secllama.Keyset.generate() as other:
        with pytest.raises(secllama.CryptoError) as e:
            other.open(env)
        assert e.value.status == Status.KEY_UNKNOWN


def test_a_closed_keyset_refuses_work_and_closing_twice_is_harmless():
    ks = secllama.Keyset.generate()
    ks.close()
    ks.close()
    with pytest.raises(secllama.ArgumentError) as e:
        ks.seal(b"x")
    assert e.value.status == Status.NULL_PARAMETER


def test_null_and_invalid_arguments_give_exact_codes_from_the_c_api():
    lib = secllama._lib.lib
    out = secllama._lib.Buf()
    import ctypes

    assert lib.secllama_keyset_seal(None, b"x", 1, None, 0, ctypes.byref(out)) == Status.NULL_PARAMETER
    assert secllama._errors.last_error() == "keyset is NULL"
    with secllama.Keyset.generate() as ks, ks._use() as p:
        assert lib.secllama_keyset_seal(p, None, 5, None, 0, ctypes.byref(out)) == Status.NULL_PARAMETER
        assert lib.secllama_keyset_seal(p, b"x", 1, None, 0, None) == Status.NULL_PARAMETER
    n = ctypes.c_size_t()
    assert lib.secllama_last_error(None, 0, ctypes.byref(n)) == Status.BUFFER_TOO_SMALL
    assert lib.secllama_status_name(1, ctypes.byref(ctypes.c_char_p())) == Status.INVALID_ARGUMENT
    lib.secllama_buf_free(None)
    assert lib.secllama_keyset_free(None) == Status.OK
    assert lib.secllama_keystore_free(None) == Status.OK


def test_keysets_seal_and_open_from_many_threads():
    errors = []
    with secllama.Keyset.generate() as ks:

        def work(i):
            try:
                msg = f"message {i}".encode()
                assert ks.open(ks.seal(msg)) == msg
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []


def test_password_sealing_round_trips_and_refuses_bad_input():
    pw = b"correct horse battery staple"
    env = secllama.password_seal(pw, b"export", b"v1", iterations=secllama.PASSWORD_MIN_ITERATIONS)
    assert len(env) == len(b"export") + secllama.PASSWORD_OVERHEAD and env[0] == 2
    assert secllama.password_open(pw, env, b"v1") == b"export"
    with pytest.raises(secllama.AuthenticationError):
        secllama.password_open(b"wrong", env, b"v1")
    with pytest.raises(secllama.CryptoError) as e:
        secllama.password_seal(pw, b"x", iterations=10)
    assert e.value.status == Status.INVALID_ITERATIONS
    with pytest.raises(secllama.CryptoError) as e:
        secllama.password_seal(b"", b"x", iterations=secllama.PASSWORD_MIN_ITERATIONS)
    assert e.value.status == Status.EMPTY_PASSWORD
    bad = bytearray(env)
    bad[1:5] = b"\xff\xff\xff\xff"
    with pytest.raises(secllama.CryptoError) as e:
        secllama.password_open(pw, bytes(bad), b"v1")
    assert e.value.status == Status.INVALID_ITERATIONS


def test_the_sandbox_probe_reports_linux():
    caps = secllama.probe_sandbox()
    assert caps["os"] == "linux"
    assert isinstance(caps["seccomp_filter"], bool)
