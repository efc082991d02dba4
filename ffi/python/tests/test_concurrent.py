"""Several requests in flight on one runner from Python threads (the GIL is released while each
call waits), per-request cancellation, embeddings and the tokenizer, on the real runner."""

import math
import os
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

# The prompts the runner crate's own batching test uses.
PROMPTS = [
    "The three primary colors are",
    "The capital of France is",
    "Water boils at a temperature of",
    "A week has seven days: Monday,",
]
LONG = "Count from one to two hundred, one number per line:"


@pytest.fixture(scope="module")
def runner():
    # One thread: on a loaded machine ggml's thread barriers spin against the other work.
    with secllama.Runner(threads=1, context_length=1024) as r:
        yield r


@pytest.fixture(scope="module")
def alone(runner):
    return [runner.complete(p, GenerationParams.greedy(8)).text for p in PROMPTS]


def wait_for(what, cond, seconds=300):
    deadline = time.monotonic() + seconds
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_interleaved_greedy_requests_from_threads_give_their_alone_text(runner, alone):
    assert all(alone), alone
    results = [None] * len(PROMPTS)
    barrier = threading.Barrier(len(PROMPTS))

    def work(i):
        barrier.wait()
        results[i] = runner.complete(PROMPTS[i], GenerationParams.greedy(8), timeout=600).text

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(PROMPTS))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == alone



def test_more_requests_than_slots_queue_and_each_gives_its_alone_text(runner, alone):
    # Six at once on the four slots: two wait for a slot, none is refused.
    n = 6
    results = [None] * n
    barrier = threading.Barrier(n)

    def work(i):
        barrier.wait()
        try:
            results[i] = runner.complete(PROMPTS[i % 4], GenerationParams.greedy(8), timeout=600).text
        except BaseException as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [alone[i % 4] for i in range(n)]

def test_cancelling_one_of_several_leaves_the_others_text_intact(runner, alone):
    token = secllama.CancelToken()
    pieces = []
    results = {}
    errors = []

    def long():
        results["long"] = runner.complete(LONG, GenerationParams.greedy(400), pieces.append, cancel=token)

    def short(i):
        try:
            results[i] = runner.complete(PROMPTS[i], GenerationParams.greedy(8)).text
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=long)] + [threading.Thread(target=short, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    wait_for("the long request to stream", lambda: pieces)
    # While it runs: model info can be read, closing the token is deferred, not a crash.
    assert runner.model_info()["context_length"] == 1024
    token.cancel()
    for t in threads:
        t.join()
    assert not errors, errors
    assert results["long"].reason == StopReason.CANCELLED
    assert results["long"].metrics.eval_count < 400
    assert [results[i] for i in range(3)] == alone[:3]
    # A cancelled token stays cancelled: the next request given it ends at once.
    again = runner.complete(LONG, GenerationParams.greedy(400), cancel=token)
    assert again.reason == StopReason.CANCELLED and again.metrics.eval_count < 400
    token.close()
    with pytest.raises(TypeError):
        runner.complete("x", GenerationParams.greedy(1), cancel=object())


def test_a_token_serves_one_request_at_a_time(runner):
    token = secllama.CancelToken()
    pieces = []
    result = {}
    t = threading.Thread(target=lambda: result.update(r=runner.complete(LONG, GenerationParams.greedy(400), pieces.append, cancel=token)))
    t.start()
    wait_for("the first request to stream", lambda: pieces)
    with pytest.raises(secllama.BusyError) as e:
        runner.complete("Hello", GenerationParams.greedy(2), cancel=token)
    assert e.value.status == Status.BUSY
    token.cancel()
    t.join()
    assert result["r"].reason == StopReason.CANCELLED
    token.close()


def test_a_timeout_ends_only_its_own_request(runner, alone):
    pieces = []
    outcome = {}

    def long():
        try:
            runner.complete(LONG, GenerationParams.greedy(400), pieces.append, timeout=1.5)
        except secllama.TimeoutError as e:
            outcome["timeout"] = e

    t = threading.Thread(target=long)
    t.start()
    wait_for("the long request to stream", lambda: pieces)
    try:
        other = runner.complete(PROMPTS[1], GenerationParams.greedy(8)).text
    except secllama.RunnerError as e:
        other = e
    t.join()
    assert isinstance(outcome.get("timeout"), TimeoutError)
    assert other == alone[1]


def test_stream_close_cancels_only_that_stream(runner, alone):
    stream = runner.stream(LONG, GenerationParams.greedy(400))
    it = iter(stream)
    next(it)
    other = {}
    t = threading.Thread(target=lambda: other.update(text=runner.complete(PROMPTS[2], GenerationParams.greedy(8)).text))
    t.start()
    stream.close()
    t.join()
    assert other["text"] == alone[2]


def test_close_with_requests_in_flight_cancels_them_and_never_crashes():
    r = secllama.Runner(threads=1, context_length=512)
    pieces = [[], []]
    outcome = [None, None]

    def work(i):
        try:
            outcome[i] = r.complete(LONG, GenerationParams.greedy(400), pieces[i].append)
        except secllama.RunnerError as e:
            outcome[i] = e

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    wait_for("both requests to stream", lambda: pieces[0] and pieces[1])
    r.close()
    for t in threads:
        t.join()
    for o in outcome:
        if isinstance(o, secllama.RunnerError):
            # Not stopped within CLOSE_GRACE on a loaded machine: killed, which ends it too.
            assert o.status in (Status.RUNNER_IO, Status.RUNNER_CRASHED, Status.RUNNER_CLOSED), o
        else:
            assert o.reason == StopReason.CANCELLED
    assert r.closed
    with pytest.raises(secllama.ArgumentError):
        r.complete("Hello", GenerationParams.greedy(2))


def test_embeddings_are_unit_vectors_of_the_models_size(runner):
    vectors = runner.embed(["a cat sat on the mat", "a dog ran in the park", "Paris is the capital of France"])
    assert len(vectors) == 3
    for v in vectors:
        assert len(v) == 576
        assert abs(math.sqrt(sum(x * x for x in v)) - 1.0) < 1e-3
    assert len(runner.embed("one text")) == 1
    for bad in ([], [""], [""] * (secllama.MAX_EMBED_INPUTS + 1)):
        with pytest.raises(secllama.RunnerError) as e:
            runner.embed(bad)
        assert e.value.status == Status.RUNNER_INVALID_REQUEST


def test_tokenize_and_detokenize_round_trip_non_ascii_text(runner):
    text = "Grüße aus Zürich — 東京 ☕"
    tokens = runner.tokenize(text, add_special=False)
    assert tokens and all(isinstance(t, int) for t in tokens)
    assert runner.detokenize(tokens) == text
    assert runner.context_length == 1024
    with pytest.raises(secllama.RunnerError) as e:
        runner.tokenize("a" * (secllama.MAX_TOKENIZE_BYTES + 1))
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    with pytest.raises(secllama.RunnerError) as e:
        runner.detokenize([0] * (secllama.MAX_DETOKENIZE_TOKENS + 1))
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    with pytest.raises(secllama.RunnerError) as e:
        runner.detokenize([-1])
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    with pytest.raises(TypeError):
        runner.detokenize(["1"])
    with pytest.raises(secllama.ArgumentError):
        runner.tokenize("a\0b")
