import json
import os
import pathlib
import re
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


def _header_comment_before(function):
    """The comment block the header puts above ``function``'s declaration, joined."""
    header = pathlib.Path(__file__).resolve().parents[2] / "include" / "secllama.h"
    lines = header.read_text().splitlines()
    end = next(i for i, line in enumerate(lines) if f" {function}(" in line)
    start = end
    while lines[start - 1].startswith("//"):
        start -= 1
    return "".join(line[3:] for line in lines[start:end])


def test_the_headers_json_examples_are_what_the_runner_returns(runner):
    doc = _header_comment_before("secllama_runner_model_info_json")
    example = json.loads(re.search(r"`(\{\"name\".*?\})`", doc).group(1).replace("<string>", "").replace("<integer>", "0"))
    info = runner.model_info()
    assert list(info) == list(example)  # the same members, in the same order
    for key, value in example.items():
        assert type(info[key]) is type(value), key
    assert info["chat_template"] == "model"  # the default model carries its own template
    assert (info["context_length"], info["threads"], info["gpu_layers"]) == (1024, 2, 0)
    assert (info["backend"], info["device"], info["backends"][0]) == ("CPU", "CPU", "CPU")

    doc = _header_comment_before("secllama_runner_sandbox_report_json")
    example = json.loads(re.search(r"`(\{\"layers\".*?)`", doc).group(1).replace(", ...", "").replace("<string>", "x"))
    report = runner.sandbox_report()
    assert list(report) == list(example) == ["layers"]
    shapes = {tuple(layer) for layer in example["layers"]} | {("state",), ("state", "reason")}
    for layer in report["layers"]:
        assert list(layer) == ["layer", "state"]
        assert tuple(layer["state"]) in shapes
        assert layer["state"]["state"] in ("enforced", "degraded", "unavailable")
    seccomp = [layer["state"] for layer in report["layers"] if layer["layer"] == "seccomp"]
    assert seccomp == [{"state": "enforced"}]  # strict sandbox on this machine


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


def test_gpu_layers_without_a_gpu_raise_their_own_error():
    with pytest.raises(secllama.GpuUnavailableError) as e:
        secllama.Runner(threads=2, gpu_layers=99)
    assert e.value.status == Status.RUNNER_GPU_UNAVAILABLE == 519
    assert isinstance(e.value, secllama.RunnerError)
    assert "99 GPU layers were asked for" in e.value.message


def test_complete_returns_the_text_it_streamed(runner):
    pieces = []
    response = runner.complete("The capital of France is", GenerationParams.greedy(8), pieces.append)
    assert response.text == "".join(pieces) and response.text.strip()
    again = runner.complete("The capital of France is", GenerationParams.greedy(8))
    assert again.text == response.text


def test_chat_returns_the_assistant_message(runner):
    messages = [{"role": "user", "content": "Reply with one word: what color is the sky?"}]
    response = runner.chat(messages, GenerationParams.greedy(6))
    assert response.message == {"role": "assistant", "content": response.text}
    assert response.text


def test_stream_yields_the_same_pieces_and_breaking_cancels(runner):
    expected = runner.complete("The capital of France is", GenerationParams.greedy(8)).text
    stream = runner.stream("The capital of France is", GenerationParams.greedy(8))
    assert "".join(stream) == expected
    assert stream.response is not None and stream.response.text == expected
    stream = runner.stream("Count from one to fifty:", GenerationParams.greedy(64))
    for _ in stream:
        break
    stream.close()
    # The runner is free for the next request.
    assert runner.complete("Hello", GenerationParams.greedy(2)).reason in (StopReason.MAX_TOKENS, StopReason.END_OF_TEXT)


def test_asyncio_complete_and_stream(runner):
    import asyncio

    async def main():
        r = await runner.acomplete("The capital of France is", GenerationParams.greedy(8))
        pieces = [p async for p in runner.astream("The capital of France is", GenerationParams.greedy(8))]
        return r.text, "".join(pieces)

    text, streamed = asyncio.run(main())
    assert text == streamed and text.strip()


def test_progress_callback_sees_loading():
    seen = []
    with secllama.Runner(threads=2, context_length=256, on_progress=lambda s, f: seen.append((s, f))) as r:
        assert r.model_info()["context_length"] == 256
    assert seen and all(0.0 <= f <= 1.0 for _, f in seen)
    assert seen[-1][0] in (secllama.LoadStage.VERIFYING, secllama.LoadStage.LOADING)
