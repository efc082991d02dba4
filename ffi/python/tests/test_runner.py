import os
import threading

import pytest

import secllama
from secllama import GenerationParams, Status, StopReason
from conftest import default_model

if not default_model().is_file():
    if os.environ.get("CI") == "true":
        raise RuntimeError(f"the default model is missing in CI: {default_model()}")
    pytest.skip("default model not downloaded: run examples/fetch-model.sh", allow_module_level=True)


@pytest.fixture(scope="module")
def runner():
    with secllama.Runner(threads=2, context_length=1024, sandbox="strict") as r:
        yield r


def test_a_greedy_completion_streams_pieces_of_the_answer(runner):
    pieces = []
    done = runner.complete("The capital of France is", GenerationParams.greedy(8), pieces.append)
    text = "".join(pieces)
    assert pieces and text.strip()
    assert done.reason in (StopReason.MAX_TOKENS, StopReason.END_OF_TEXT)
    assert 1 <= done.metrics.eval_count <= 8
    assert done.metrics.prompt_eval_count >= 5
    assert runner.model_info()["context_length"] == 1024
    assert "layers" in runner.sandbox_report()


def test_returning_true_from_the_callback_cancels_the_request(runner):
    seen = []

    def first_only(piece):
        seen.append(piece)
        return True

    done = runner.complete("Count from one to fifty:", GenerationParams.greedy(64), first_only)
    assert done.reason == StopReason.CANCELLED
    assert len(seen) == 1
    assert done.metrics.eval_count < 64


def test_cancel_from_another_thread_stops_the_request(runner):
    started = threading.Event()
    threading.Thread(target=lambda: (started.wait(), runner.cancel())).start()
    done = runner.complete(
        "Once upon a time, there was a dragon who", GenerationParams.greedy(200), lambda p: started.set()
    )
    assert done.reason == StopReason.CANCELLED
    assert done.metrics.eval_count < 200


def test_an_exception_in_the_callback_cancels_and_is_raised(runner):
    def boom(piece):
        raise KeyError("from the callback")

    with pytest.raises(KeyError):
        runner.complete("Hello", GenerationParams.greedy(16), boom)
    # The runner still works.
    done = runner.complete("Hello", GenerationParams.greedy(2))
    assert done.reason in (StopReason.MAX_TOKENS, StopReason.END_OF_TEXT)


def test_a_chat_turn_uses_the_models_template(runner):
    pieces = []
    done = runner.chat(
        [{"role": "user", "content": "What is the capital of France?"}],
        GenerationParams.greedy(12),
        pieces.append,
    )
    # The default model is instruction-tuned: greedily it answers "The capital of France is Paris."
    assert "Paris" in "".join(pieces), pieces
    assert done.reason != StopReason.NONE


def test_invalid_requests_give_exact_codes(runner):
    p = GenerationParams.greedy(4)
    p.max_tokens = 0
    with pytest.raises(secllama.RunnerError) as e:
        runner.complete("x", p)
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    p = GenerationParams.greedy(4)
    p.temperature = -1.0
    with pytest.raises(secllama.RunnerError) as e:
        runner.complete("x", p)
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    with pytest.raises(secllama.RunnerError) as e:
        runner.chat([], GenerationParams.greedy(4))
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    p = GenerationParams.greedy(4)
    p.stop = ["\n"] * 17
    with pytest.raises(secllama.RunnerError) as e:
        runner.complete("x", p)
    assert e.value.status == Status.RUNNER_INVALID_REQUEST
    p.stop = ["\n"]
    assert runner.complete("Hello", p).reason != StopReason.NONE


def test_spawn_refuses_a_missing_model_and_a_wrong_pin():
    with pytest.raises(secllama.RunnerError) as e:
        secllama.Runner("/nonexistent/model.gguf")
    assert e.value.status == Status.RUNNER_MODEL_NOT_FOUND
    with pytest.raises(secllama.RunnerError) as e:
        secllama.Runner(sha256="0" * 64, threads=2)
    assert e.value.status == Status.RUNNER_CHECKSUM_MISMATCH
    with pytest.raises(secllama.RunnerError) as e:
        secllama.Runner(sha256="abc")
    assert e.value.status == Status.RUNNER_CONFIG
