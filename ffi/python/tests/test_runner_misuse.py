"""The runner under misuse: close() and re-entry from the piece callback, a stopped runner
under a deadline, close() from another thread during a stuck request. None may crash, hang
or reach freed memory (CI also runs the close-from-the-callback case under valgrind)."""

import os
import signal
import threading
import time

import pytest

import secllama
from secllama import GenerationParams, Status, StopReason
from conftest import default_model

if not default_model().is_file():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the default model is missing in CI: {default_model()}")
    pytest.skip("default model not downloaded: run examples/fetch-model.sh", allow_module_level=True)


def stop_tree(pid: int) -> None:
    """SIGSTOPs a process and its descendants (the sandbox may put an init between)."""
    os.kill(pid, signal.SIGSTOP)
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return
    for c in children:
        stop_tree(c)


def spawn() -> secllama.Runner:
    return secllama.Runner(threads=2, context_length=512)


def test_close_from_the_callback_cancels_and_frees_after_the_call():
    r = spawn()
    seen = []

    def close_now(piece):
        seen.append(piece)
        r.close()

    max_tokens = 400
    response = r.complete("Count from one to two hundred, one number per line:", GenerationParams.greedy(max_tokens), close_now)
    assert response.reason == StopReason.CANCELLED
    # The runner stops within one token of the cancel; pieces it made before the cancel reached
    # it still come (several when the host is slow next to the runner, as under valgrind).
    assert 1 <= len(seen) and response.metrics.eval_count < max_tokens
    assert response.text == "".join(seen)
    assert r.closed
    with pytest.raises(secllama.ArgumentError) as e:
        r.complete("again", GenerationParams.greedy(2))
    assert e.value.status == Status.NULL_PARAMETER and "closed" in e.value.message
    r.close()


def test_a_request_from_inside_the_callback_is_refused_as_busy():
    with spawn() as r:
        def reenter(piece):
            r.complete("inner", GenerationParams.greedy(2))

        with pytest.raises(secllama.BusyError) as e:
            r.complete("Count from one to ten:", GenerationParams.greedy(32), reenter)
        assert e.value.status == Status.BUSY
        assert r.complete("Hello", GenerationParams.greedy(2)).reason in (StopReason.MAX_TOKENS, StopReason.END_OF_TEXT)


def gone(pid: int, seconds: float = 10.0) -> bool:
    """The runner sits below the sandbox's waiter and init: once the library has killed and
    reaped the waiter, the kernel tears the PID namespace down a moment later."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    return False


def test_a_stopped_runner_times_out_and_is_killed():
    with spawn() as r:
        pid = r.pid
        assert pid > 0
        # Stopped before the request, so the outcome does not depend on how fast tokens come.
        stop_tree(pid)
        with pytest.raises(secllama.TimeoutError) as e:
            r.complete("Count from one to fifty:", GenerationParams.greedy(200), timeout=1.5)
        assert isinstance(e.value, TimeoutError)
        assert e.value.status == Status.RUNNER_TIMEOUT
        with pytest.raises(secllama.RunnerError) as e2:
            r.complete("Hello", GenerationParams.greedy(2))
        assert e2.value.status == Status.RUNNER_CLOSED
        assert gone(pid)  # killed and reaped


def test_close_from_another_thread_kills_a_stuck_runner_and_returns():
    r = spawn()
    pid = r.pid
    stop_tree(pid)
    outcome = []

    def request():
        try:
            outcome.append(r.complete("Count from one to fifty:", GenerationParams.greedy(200)))
        except secllama.SecllamaError as e:
            outcome.append(e)

    t = threading.Thread(target=request)
    t.start()
    while not r._active:  # the request is inside the library
        t.join(0.01)
    closer = threading.Thread(target=r.close)
    closer.start()
    closer.join(120)  # a hang detector, not a timing assertion
    assert not closer.is_alive(), "close() hung on a stopped runner"
    t.join(120)
    assert not t.is_alive()
    assert r.closed
    assert isinstance(outcome[0], secllama.RunnerError)
    assert outcome[0].status in (Status.RUNNER_IO, Status.RUNNER_CRASHED)
    assert gone(pid)
