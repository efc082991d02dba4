"""Misuse from plain Python never crashes the interpreter: no handle from a raw pointer, no
copies, bytes-like arguments only, closed handles refuse calls, and a handle closed while
another thread uses it is freed only after that call returns."""

import copy
import pickle
import threading

import pytest

import secllama
from secllama import Status


def test_a_handle_cannot_be_made_from_a_raw_pointer():
    with pytest.raises(TypeError):
        secllama.Keyset(0xDEADBEEF)
    with pytest.raises(TypeError):
        secllama.Keyset._wrap(0xDEADBEEF)


def test_a_handle_cannot_be_copied_or_pickled():
    with secllama.Keyset.generate() as ks:
        for attempt in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(TypeError):
                attempt(ks)
        assert ks.open(ks.seal(b"still usable")) == b"still usable"


def test_a_closed_handle_refuses_every_call():
    ks = secllama.Keyset.generate()
    ks.close()
    ks.close()
    assert ks.closed
    with pytest.raises(secllama.ArgumentError) as e:
        ks.seal(b"x")
    assert e.value.status == Status.NULL_PARAMETER
    assert "closed" in e.value.message


def test_arguments_must_be_bytes_like():
    with secllama.Keyset.generate() as ks:
        with pytest.raises(TypeError):
            ks.seal(12)
        with pytest.raises(TypeError):
            ks.seal("text")
        with pytest.raises(TypeError):
            ks.open(ks.seal(b"x"), aad=3)
        assert ks.open(ks.seal(bytearray(b"ab"), memoryview(b"c")), b"c") == b"ab"
        with pytest.raises(TypeError):
            ks.disable("1")
        with pytest.raises(secllama.ArgumentError):
            ks.disable(-1)
    with pytest.raises(TypeError):
        secllama.password_seal("pw", b"x")


def test_close_from_another_thread_waits_for_the_running_call():
    ks = secllama.Keyset.generate()
    big = b"\0" * (16 << 20)
    results = []

    def seal_many():
        for _ in range(8):
            try:
                results.append(len(ks.seal(big)))
            except secllama.ArgumentError:
                results.append("closed")

    t = threading.Thread(target=seal_many)
    t.start()
    while not results:
        pass
    ks.close()
    t.join()
    assert results[0] == len(big) + secllama.ENVELOPE_OVERHEAD
    assert results[-1] == "closed"


def test_status_members_match_the_library():
    from secllama._lib import lib
    import ctypes

    for s in Status:
        out = ctypes.c_char_p()
        assert lib.secllama_status_name(s.value, ctypes.byref(out)) == 0
        assert out.value.decode() == "SECLLAMA_STATUS_" + s.name
    assert Status.BUSY == 106 and Status.RUNNER_TIMEOUT == 518
    assert issubclass(secllama.TimeoutError, TimeoutError)
    assert issubclass(secllama.TimeoutError, secllama.RunnerError)
