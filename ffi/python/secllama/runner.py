"""The sandboxed llama.cpp runner: completions and chats, streamed by callback, iterator or
asyncio, with per-request deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import enum
import json
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Callable, Iterator, Optional, Sequence, Union

from . import _lib
from ._errors import ArgumentError, BusyError, Status, check
from ._handle import Handle, as_cstr, take, wrap
from ._lib import lib

#: Seconds a request gets to stop after ``close()`` cancelled it from another thread, before the
#: runner process is killed.
CLOSE_GRACE = 2.0

#: Limits of :meth:`Runner.embed`, :meth:`Runner.tokenize` and :meth:`Runner.detokenize` (the
#: header's ``SECLLAMA_MAX_*``).
MAX_EMBED_INPUTS = 256
MAX_TOKENIZE_BYTES = 262_144
MAX_DETOKENIZE_TOKENS = 65_536
MAX_DETOKENIZE_BYTES = 524_288


class StopReason(enum.IntEnum):
    NONE = 0
    END_OF_TEXT = 1
    STOP_STRING = 2
    MAX_TOKENS = 3
    CONTEXT_FULL = 4
    CANCELLED = 5


class LoadStage(enum.IntEnum):
    VERIFYING = 1
    LOADING = 2


@dataclass
class Metrics:
    prompt_eval_count: int
    prompt_eval_duration_ns: int
    eval_count: int
    eval_duration_ns: int
    load_duration_ns: int
    total_duration_ns: int
    prompt_tokens_per_second: float
    eval_tokens_per_second: float


@dataclass
class Done:
    reason: StopReason
    metrics: Metrics


@dataclass
class Response:
    """A finished request: the generated ``text``, why it stopped and what it cost."""

    text: str
    done: Done

    @property
    def reason(self) -> StopReason:
        return self.done.reason

    @property
    def metrics(self) -> Metrics:
        return self.done.metrics

    @property
    def message(self) -> dict[str, str]:
        """The reply as a chat message, to append to the conversation."""
        return {"role": "assistant", "content": self.text}


@dataclass
class GenerationParams:
    """A request's sampling settings; start from :meth:`greedy` or :meth:`default`."""

    max_tokens: int = 256
    temperature: float = 0.8
    top_k: int = 40
    top_p: float = 0.9
    min_p: float = 0.05
    seed: int = 0
    repeat_penalty: float = 1.1
    repeat_last_n: int = 64
    stop: Sequence[str] = field(default_factory=list)

    @classmethod
    def default(cls) -> "GenerationParams":
        c = _lib.GenerationParams()
        check(lib.secllama_generation_params_default(ctypes.byref(c)))
        return cls._from_c(c)

    @classmethod
    def greedy(cls, max_tokens: int) -> "GenerationParams":
        c = _lib.GenerationParams()
        check(lib.secllama_generation_params_greedy(max_tokens, ctypes.byref(c)))
        return cls._from_c(c)

    @classmethod
    def _from_c(cls, c: _lib.GenerationParams) -> "GenerationParams":
        return cls(
            c.max_tokens, c.temperature, c.top_k, c.top_p, c.min_p, c.seed, c.repeat_penalty, c.repeat_last_n, []
        )

    def _to_c(self, timeout: Optional[float]) -> tuple[_lib.GenerationParams, Any]:
        if isinstance(self.stop, str):
            raise TypeError("stop must be a sequence of str, not a str")
        stops = [as_cstr(s, "stop[i]") for s in self.stop]
        arr = (ctypes.c_char_p * len(stops))(*stops) if stops else None
        c = _lib.GenerationParams(
            self.max_tokens,
            self.temperature,
            self.top_k,
            self.top_p,
            self.min_p,
            self.seed,
            self.repeat_penalty,
            self.repeat_last_n,
            ctypes.cast(arr, ctypes.POINTER(ctypes.c_char_p)) if arr is not None else None,
            len(stops),
            _timeout_ms(timeout),
        )
        return c, arr  # keep `arr` alive for the call


def _timeout_ms(timeout: Optional[float]) -> int:
    if timeout is None:
        return 0
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(f"timeout must be seconds as a number, not {type(timeout).__name__}")
    if not timeout > 0:
        raise ArgumentError(Status.INVALID_ARGUMENT, f"timeout must be positive, got {timeout}")
    return max(1, int(timeout * 1000))


def _done(c: _lib.DoneC) -> Done:
    m = c.metrics
    return Done(
        StopReason(c.reason),
        Metrics(
            m.prompt_eval_count,
            m.prompt_eval_duration_ns,
            m.eval_count,
            m.eval_duration_ns,
            m.load_duration_ns,
            m.total_duration_ns,
            m.prompt_tokens_per_second,
            m.eval_tokens_per_second,
        ),
    )


_SANDBOX = {"strict": (True, True), "best-effort": (True, False), "off": (False, False)}

PieceCallback = Callable[[str], Optional[bool]]
Messages = Sequence[dict[str, str]]


class CancelToken(Handle):
    """Cancels the requests it is given to (``cancel=token``), from any thread, and no other
    request on the runner: a running one within one token, a queued one before it starts.
    Once cancelled it stays cancelled (a later request given it ends at once). One token
    serves one request at a time (``BusyError`` otherwise)."""

    _free = lib.secllama_request_token_free

    def __init__(self) -> None:
        p = ctypes.c_void_p()
        check(lib.secllama_request_token_new(ctypes.byref(p)))
        self._init_handle(p.value or 0)

    def cancel(self) -> None:
        """Cancels the request the token is given to now, and any later one."""
        with self._use() as p:
            check(lib.secllama_request_token_cancel(p))


class Runner(Handle):
    """A sandboxed runner process with its model loaded.

    Several threads may run requests on one runner at once: each call releases the GIL while
    it waits, the runner generates for up to 4 requests together (its slots) and queues the
    rest in order. A request is cancelled by its callback returning True, its ``timeout``, its
    ``cancel=`` :class:`CancelToken`, leaving its :meth:`stream` early or cancelling its asyncio
    task, none of which touches the other requests; :meth:`cancel` stops them all.
    :meth:`close` works from any thread and from inside a callback: it cancels the running
    requests and, if the runner does not stop within :data:`CLOSE_GRACE` seconds, kills it; it
    never waits for a whole generation.
    """

    _free = lib.secllama_runner_free

    def __init__(
        self,
        model_path: Optional[str] = None,
        *,
        sha256: Optional[str] = None,
        threads: int = 0,
        context_length: int = 0,
        gpu_layers: int = 0,
        sandbox: Optional[str] = None,
        runner_path: Optional[str] = None,
        on_progress: Optional[Callable[[LoadStage, float], None]] = None,
    ):
        """Starts a runner and waits until the model is loaded. ``model_path`` None is the
        default model (pinned by SHA-256); ``sandbox`` is ``"strict"``, ``"best-effort"``,
        ``"off"`` or None (the ``SECLLAMA_*`` environment); ``on_progress(stage, fraction)`` is
        called while the model is verified and loaded."""
        if sandbox is not None and sandbox not in _SANDBOX:
            raise ArgumentError(Status.INVALID_ARGUMENT, f"sandbox must be one of {sorted(_SANDBOX)}")
        cfg = ctypes.c_void_p()
        if model_path is None:
            check(lib.secllama_runner_config_default_model(ctypes.byref(cfg)))
        else:
            check(lib.secllama_runner_config_new(as_cstr(str(model_path), "model_path"), ctypes.byref(cfg)))
        raised: list[BaseException] = []

        def progress(_user: Any, stage: int, fraction: float) -> None:
            if on_progress is not None and not raised:
                try:
                    on_progress(LoadStage(stage), fraction)
                except BaseException as e:  # re-raised after the call
                    raised.append(e)

        try:
            if sha256 is not None:
                check(lib.secllama_runner_config_set_sha256(cfg, as_cstr(sha256, "sha256")))
            path = runner_path if runner_path is not None else _lib.runner_path(_lib.LOADED_FROM)
            if path is not None:
                check(lib.secllama_runner_config_set_runner_path(cfg, as_cstr(str(path), "runner_path")))
            check(lib.secllama_runner_config_set_threads(cfg, threads))
            if context_length:
                check(lib.secllama_runner_config_set_context_length(cfg, context_length))
            check(lib.secllama_runner_config_set_gpu_layers(cfg, gpu_layers))
            if sandbox is not None:
                check(lib.secllama_runner_config_set_sandbox(cfg, *_SANDBOX[sandbox]))
            p = ctypes.c_void_p()
            check(lib.secllama_runner_spawn(cfg, _lib.PROGRESS_CALLBACK(progress), None, ctypes.byref(p)))
        finally:
            lib.secllama_runner_config_free(cfg)
        self._init_handle(p.value or 0)
        h = ctypes.c_void_p()
        check(lib.secllama_runner_cancel_handle(self._ptr, ctypes.byref(h)))
        self._cancel_ptr = h
        self._active: set[int] = set()  # the threads running a request
        if raised:
            self.close()
            raise raised[0]

    # -- lifetime --------------------------------------------------------------------------

    def _release(self) -> None:
        super()._release()
        h, self._cancel_ptr = getattr(self, "_cancel_ptr", None), ctypes.c_void_p()
        if h:
            lib.secllama_cancel_handle_free(h)

    def close(self) -> None:
        """Shuts the runner down; safe to call twice, from any thread or a callback.

        With a request running: it is cancelled; from another thread, ``close()`` then waits up
        to :data:`CLOSE_GRACE` seconds for it to stop, kills the runner if it does not, and
        returns once the request has ended. From the request's own callback the runner is freed
        as that request returns."""
        state = getattr(self, "_state", None)
        if state is None:
            return
        with state:
            already = self._closed
            self._closed = True
            busy = self._users > 0
            own_thread = threading.get_ident() in getattr(self, "_active", ())
        if already and not busy:
            return
        if not busy:
            self._release()
            return
        self._signal("cancel")
        if own_thread:
            return  # freed by the request as it returns
        with state:
            if not state.wait_for(lambda: self._users == 0, CLOSE_GRACE):
                self._signal("terminate")
                state.wait_for(lambda: self._users == 0)

    def _signal(self, what: str) -> None:
        """Cancels or terminates through the cancel handle, which lives as long as the runner."""
        h = getattr(self, "_cancel_ptr", None)
        if h:
            fn = lib.secllama_cancel_handle_cancel if what == "cancel" else lib.secllama_cancel_handle_terminate
            fn(h)

    def cancel(self) -> None:
        """Stops every request in progress or queued (each ends with
        ``StopReason.CANCELLED``); from any thread. To stop one request, give it a
        :class:`CancelToken`."""
        with self._use():
            check(lib.secllama_cancel_handle_cancel(self._cancel_ptr))

    @property
    def pid(self) -> int:
        """The runner process's id (0 once it has ended)."""
        out = ctypes.c_uint32()
        with self._use() as p:
            check(lib.secllama_runner_pid(p, ctypes.byref(out)))
        return out.value

    # -- requests --------------------------------------------------------------------------

    def _generate(
        self,
        c: _lib.GenerationParams,
        call: Callable[[ctypes.c_void_p, Any, Any], int],
        on_piece: Optional[PieceCallback],
        cancel: Optional[CancelToken],
    ) -> Response:
        me = threading.get_ident()
        if me in self._active:
            raise BusyError(Status.BUSY, "a request was started from inside another request's callback")
        if cancel is not None and not isinstance(cancel, CancelToken):
            raise TypeError(f"cancel must be a CancelToken, not {type(cancel).__name__}")
        pieces: list[str] = []
        raised: list[BaseException] = []

        def piece(_user: Any, ptr: Any, n: int) -> int:
            text = ctypes.string_at(ptr, n).decode("utf-8")
            pieces.append(text)
            if on_piece is None:
                return 0
            try:
                return 1 if on_piece(text) else 0
            except BaseException as e:  # re-raised after the call; cancel meanwhile
                raised.append(e)
                return 1

        cb = _lib.PIECE_CALLBACK(piece)
        done = _lib.DoneC()
        # Without a token the request has none (NULL); its callback or close() still end it.
        token_use = cancel._use() if cancel is not None else contextlib.nullcontext(None)
        with self._use() as p, token_use as tp:
            c.cancel = tp
            with self._state:
                self._active.add(me)
            try:
                status = call(p, cb, ctypes.byref(done))
            finally:
                with self._state:
                    self._active.discard(me)
        if raised:
            raise raised[0]
        check(status)
        return Response("".join(pieces), _done(done))

    def complete(
        self,
        prompt: str,
        params: Optional[GenerationParams] = None,
        on_piece: Optional[PieceCallback] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Response:
        """Continues ``prompt``; ``on_piece(text)`` gets each piece, returning True cancels.
        ``timeout`` (seconds, queueing for a slot included) raises
        :class:`secllama.TimeoutError` when it passes; ``cancel.cancel()`` from another thread
        cancels this request only."""
        c, keep = (params or GenerationParams.default())._to_c(timeout)
        p = as_cstr(prompt, "prompt")
        return self._generate(
            c, lambda r, cb, d: lib.secllama_runner_complete(r, p, ctypes.byref(c), cb, None, d), on_piece, cancel
        )

    def chat(
        self,
        messages: Messages,
        params: Optional[GenerationParams] = None,
        on_piece: Optional[PieceCallback] = None,
        *,
        timeout: Optional[float] = None,
        cancel: Optional[CancelToken] = None,
    ) -> Response:
        """One chat turn (``timeout`` and ``cancel`` as :meth:`complete`); ``messages`` are ``{"role": ..., "content": ...}`` dicts. The reply is
        ``response.text`` (``response.message`` as a message)."""
        c, keep = (params or GenerationParams.default())._to_c(timeout)
        if isinstance(messages, (str, bytes)):
            raise TypeError("messages must be a sequence of {'role', 'content'} dicts")
        items = [_lib.ChatMessageC(as_cstr(m["role"], "role"), as_cstr(m["content"], "content")) for m in messages]
        arr = (_lib.ChatMessageC * max(len(items), 1))(*items)
        n = len(items)
        return self._generate(
            c,
            lambda r, cb, d: lib.secllama_runner_chat(r, arr if n else None, n, ctypes.byref(c), cb, None, d),
            on_piece,
            cancel,
        )

    def stream(
        self,
        prompt_or_messages: Union[str, Messages],
        params: Optional[GenerationParams] = None,
        *,
        timeout: Optional[float] = None,
    ) -> "Stream":
        """The request's pieces as an iterator (a str prompt completes, a message list chats):
        ``for piece in runner.stream("Hi"): ...``; leaving the loop early cancels the request.
        ``stream.response`` holds the :class:`Response` once it is exhausted."""
        return Stream(self, prompt_or_messages, params, timeout)

    async def acomplete(
        self, prompt: str, params: Optional[GenerationParams] = None, *, timeout: Optional[float] = None
    ) -> Response:
        """:meth:`complete` for asyncio (runs on a worker thread; cancelling the task cancels
        the request)."""
        token = CancelToken()
        return await self._in_thread(lambda: self.complete(prompt, params, timeout=timeout, cancel=token), token)

    async def achat(
        self, messages: Messages, params: Optional[GenerationParams] = None, *, timeout: Optional[float] = None
    ) -> Response:
        """:meth:`chat` for asyncio."""
        token = CancelToken()
        return await self._in_thread(lambda: self.chat(messages, params, timeout=timeout, cancel=token), token)

    async def astream(
        self,
        prompt_or_messages: Union[str, Messages],
        params: Optional[GenerationParams] = None,
        *,
        timeout: Optional[float] = None,
    ) -> AsyncIterator[str]:
        """:meth:`stream` for asyncio: ``async for piece in runner.astream("Hi"): ...``."""
        loop = asyncio.get_running_loop()
        q: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        token = CancelToken()

        def on_piece(text: str) -> bool:
            loop.call_soon_threadsafe(q.put_nowait, ("piece", text))
            return False

        def work() -> None:
            try:
                r = self._request(prompt_or_messages, params, on_piece, timeout, token)
                loop.call_soon_threadsafe(q.put_nowait, ("done", r))
            except BaseException as e:
                loop.call_soon_threadsafe(q.put_nowait, ("error", e))

        worker = threading.Thread(target=work, name="secllama-astream", daemon=True)
        worker.start()
        try:
            while True:
                kind, value = await q.get()
                if kind == "piece":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    return
        finally:
            token.cancel()  # a no-op once the request ended
            token.close()

    def _request(
        self,
        prompt_or_messages: Union[str, Messages],
        params: Optional[GenerationParams],
        on_piece: Optional[PieceCallback],
        timeout: Optional[float],
        cancel: Optional[CancelToken] = None,
    ) -> Response:
        if isinstance(prompt_or_messages, str):
            return self.complete(prompt_or_messages, params, on_piece, timeout=timeout, cancel=cancel)
        return self.chat(prompt_or_messages, params, on_piece, timeout=timeout, cancel=cancel)

    async def _in_thread(self, fn: Callable[[], Response], token: CancelToken) -> Response:
        task = asyncio.get_running_loop().run_in_executor(None, fn)
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            token.cancel()  # this request only
            await asyncio.wait([task])
            raise
        finally:
            token.close()

    # -- facts -----------------------------------------------------------------------------

    def model_info(self) -> dict[str, Any]:
        out = _lib.Buf()
        with self._use() as p:
            check(lib.secllama_runner_model_info_json(p, ctypes.byref(out)))
        info: dict[str, Any] = json.loads(take(out))
        return info

    def sandbox_report(self) -> Optional[dict[str, Any]]:
        """What the sandbox enforces, layer by layer (None when it is off)."""
        out = _lib.Buf()
        with self._use() as p:
            check(lib.secllama_runner_sandbox_report_json(p, ctypes.byref(out)))
        report: Optional[dict[str, Any]] = json.loads(take(out))
        return report

    @property
    def context_length(self) -> int:
        """Tokens per request (one slot's context); a longer prompt is refused."""
        out = ctypes.c_uint32()
        with self._use() as p:
            check(lib.secllama_runner_context_length(p, ctypes.byref(out)))
        return out.value

    # -- embeddings and the tokenizer ---------------------------------------------------------

    def embed(self, inputs: Union[str, Sequence[str]], *, truncate: bool = True) -> list[list[float]]:
        """One unit-length vector per text (576 floats for the default model), in order, like
        Ollama's ``/api/embed``; a str is one text. At most ``MAX_EMBED_INPUTS`` texts, none
        empty, together at most 2 MiB. A text over the context is cut (``truncate=True``) or
        refused (:class:`RunnerError` with ``Status.RUNNER_PROMPT_TOO_LONG``)."""
        texts = [inputs] if isinstance(inputs, str) else list(inputs)
        encoded = [as_cstr(t, "inputs[i]") for t in texts]
        arr = (ctypes.c_char_p * max(len(encoded), 1))(*encoded)
        out = _lib.EmbeddingsC()
        with self._use() as p:
            check(lib.secllama_runner_embed(p, arr, len(encoded), bool(truncate), ctypes.byref(out)))
        try:
            d = out.dimensions
            flat = out.data[: out.count * d] if out.count else []
            return [list(flat[i * d : (i + 1) * d]) for i in range(out.count)]
        finally:
            lib.secllama_embeddings_free(ctypes.byref(out))

    def tokenize(self, text: str, *, add_special: bool = True, parse_special: bool = False) -> list[int]:
        """The model's token ids for ``text`` (at most ``MAX_TOKENIZE_BYTES`` bytes of UTF-8);
        ``add_special`` adds the start-of-sequence token, ``parse_special`` reads spellings like
        ``<|im_start|>`` as special tokens."""
        out = _lib.TokensC()
        with self._use() as p:
            check(
                lib.secllama_runner_tokenize(
                    p, as_cstr(text, "text"), bool(add_special), bool(parse_special), ctypes.byref(out)
                )
            )
        try:
            return list(out.ptr[: out.len]) if out.len else []
        finally:
            lib.secllama_tokens_free(ctypes.byref(out))

    def detokenize(self, tokens: Sequence[int]) -> str:
        """The text of ``tokens`` (at most ``MAX_DETOKENIZE_TOKENS``, each in the vocabulary;
        the text at most ``MAX_DETOKENIZE_BYTES`` bytes)."""
        if isinstance(tokens, (str, bytes)):
            raise TypeError("tokens must be a sequence of int")
        ids = list(tokens)
        for t in ids:
            if isinstance(t, bool) or not isinstance(t, int):
                raise TypeError(f"tokens must be int, not {type(t).__name__}")
            if not -(2**31) <= t < 2**31:
                raise ArgumentError(Status.INVALID_ARGUMENT, f"token {t} is outside int32")
        arr = (ctypes.c_int32 * max(len(ids), 1))(*ids)
        out = _lib.Buf()
        with self._use() as p:
            check(lib.secllama_runner_detokenize(p, arr, len(ids), ctypes.byref(out)))
        return take(out).decode("utf-8")


class Stream:
    """The pieces of one request as an iterator (see :meth:`Runner.stream`)."""

    response: Optional[Response]

    def __init__(
        self,
        runner: Runner,
        prompt_or_messages: Union[str, Messages],
        params: Optional[GenerationParams],
        timeout: Optional[float],
    ):
        self.response = None
        self._queue: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._token = CancelToken()

        def on_piece(text: str) -> bool:
            self._queue.put(("piece", text))
            return False

        def work() -> None:
            try:
                self._queue.put(("done", runner._request(prompt_or_messages, params, on_piece, timeout, self._token)))
            except BaseException as e:
                self._queue.put(("error", e))
            finally:
                self._token.close()

        self._worker = threading.Thread(target=work, name="secllama-stream", daemon=True)
        self._worker.start()

    def __iter__(self) -> Iterator[str]:
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "piece":
                    yield value
                elif kind == "error":
                    raise value
                else:
                    self.response = value
                    return
        finally:
            self._cancel()

    def _cancel(self) -> None:
        try:
            self._token.cancel()
        except ArgumentError:
            pass  # the request ended and its token is closed

    def close(self) -> None:
        """Cancels this request (only) and waits for it to end."""
        self._cancel()
        self._worker.join()
