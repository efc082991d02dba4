package secllama

/*
#include <stdlib.h>
#include "secllama.h"

int32_t secllama_go_piece_trampoline(void *user_data, const char *piece, size_t piece_len);
void *secllama_go_handle_ptr(uintptr_t handle);
*/
import "C"

import (
	"runtime"
	"runtime/cgo"
	"sync"
	"unsafe"
)

// SandboxMode says how to sandbox the runner.
type SandboxMode int

const (
	// SandboxFromEnv follows SECLLAMA_ENABLE_SANDBOX and SECLLAMA_STRICT_NETWORK_ISOLATION
	// (both true by default: sandboxed, strict).
	SandboxFromEnv SandboxMode = iota
	// SandboxStrict refuses to start unless network isolation is fully enforced.
	SandboxStrict
	// SandboxBestEffort applies the layers this system has and logs the missing ones.
	SandboxBestEffort
	// SandboxDisabled runs the model with all of this process's rights (debugging only).
	SandboxDisabled
)

// RunnerConfig says how to start a runner. The zero value runs the default model
// (SmolLM2-135M-Instruct Q4_1 from ~/.cache/secllama/models, pinned by SHA-256) as the
// environment says.
type RunnerConfig struct {
	ModelPath     string // "" means the default model, pinned
	SHA256        string // pin the model's SHA-256 (64 hex digits); "" keeps the default's pin
	RunnerPath    string // "" means SECLLAMA_RUNNER_PATH or next to the executable
	Threads       uint32 // 0 means the available cores, at most 8
	ContextLength uint32 // 0 means 4096
	GPULayers     uint32
	Sandbox       SandboxMode
}

// GenerationParams are a request's sampling and length settings; start from DefaultParams
// or GreedyParams.
type GenerationParams struct {
	MaxTokens     uint32
	Temperature   float32 // 0 is greedy
	TopK          uint32
	TopP          float32
	MinP          float32
	Seed          uint32
	RepeatPenalty float32
	RepeatLastN   uint32
	Stop          []string // generation ends before the first of these (at most 16)
}

func paramsFromC(c *C.secllama_generation_params) GenerationParams {
	return GenerationParams{
		MaxTokens: uint32(c.max_tokens), Temperature: float32(c.temperature), TopK: uint32(c.top_k),
		TopP: float32(c.top_p), MinP: float32(c.min_p), Seed: uint32(c.seed),
		RepeatPenalty: float32(c.repeat_penalty), RepeatLastN: uint32(c.repeat_last_n),
	}
}

// DefaultParams: 256 tokens, temperature 0.8, top-k 40, top-p 0.9, min-p 0.05.
func DefaultParams() GenerationParams {
	var c C.secllama_generation_params
	C.secllama_generation_params_default(&c)
	return paramsFromC(&c)
}

// GreedyParams: deterministic decoding of at most maxTokens tokens.
func GreedyParams(maxTokens uint32) GenerationParams {
	var c C.secllama_generation_params
	C.secllama_generation_params_greedy(C.uint32_t(maxTokens), &c)
	return paramsFromC(&c)
}

// cParams is a C copy of p; free releases the stop strings.
type cParams struct {
	c    *C.secllama_generation_params
	stop []*C.char
	arr  unsafe.Pointer
}

func newCParams(p GenerationParams) (*cParams, error) {
	cp := &cParams{c: (*C.secllama_generation_params)(C.calloc(1, C.sizeof_secllama_generation_params))}
	c := cp.c
	c.max_tokens = C.uint32_t(p.MaxTokens)
	c.temperature = C.float(p.Temperature)
	c.top_k = C.uint32_t(p.TopK)
	c.top_p = C.float(p.TopP)
	c.min_p = C.float(p.MinP)
	c.seed = C.uint32_t(p.Seed)
	c.repeat_penalty = C.float(p.RepeatPenalty)
	c.repeat_last_n = C.uint32_t(p.RepeatLastN)
	if len(p.Stop) > 0 {
		// The array lives in C memory: a Go struct may not point to Go memory holding pointers.
		cp.arr = C.calloc(C.size_t(len(p.Stop)), C.size_t(unsafe.Sizeof((*C.char)(nil))))
		arr := unsafe.Slice((**C.char)(cp.arr), len(p.Stop))
		for i, s := range p.Stop {
			cs, err := cString(s)
			if err != nil {
				cp.free()
				return nil, err
			}
			cp.stop = append(cp.stop, cs)
			arr[i] = cs
		}
		c.stop = (**C.char)(cp.arr)
		c.stop_len = C.size_t(len(p.Stop))
	}
	return cp, nil
}

func (cp *cParams) free() {
	for _, s := range cp.stop {
		C.free(unsafe.Pointer(s))
	}
	C.free(cp.arr)
	C.free(unsafe.Pointer(cp.c))
}

// StopReason says why a generation ended.
type StopReason uint32

// Stop reasons.
const (
	StopNone        StopReason = C.SECLLAMA_STOP_REASON_NONE
	StopEndOfText   StopReason = C.SECLLAMA_STOP_REASON_END_OF_TEXT
	StopStopString  StopReason = C.SECLLAMA_STOP_REASON_STOP_STRING
	StopMaxTokens   StopReason = C.SECLLAMA_STOP_REASON_MAX_TOKENS
	StopContextFull StopReason = C.SECLLAMA_STOP_REASON_CONTEXT_FULL
	StopCancelled   StopReason = C.SECLLAMA_STOP_REASON_CANCELLED
)

// Metrics are a generation's token counts and timings (durations in nanoseconds).
type Metrics struct {
	PromptEvalCount       uint64
	PromptEvalDurationNs  uint64
	EvalCount             uint64
	EvalDurationNs        uint64
	LoadDurationNs        uint64
	TotalDurationNs       uint64
	PromptTokensPerSecond float64
	EvalTokensPerSecond   float64
}

// Done is the end of a generation.
type Done struct {
	Reason  StopReason
	Metrics Metrics
}

func doneFromC(d *C.secllama_done) Done {
	m := &d.metrics
	return Done{
		Reason: StopReason(d.reason),
		Metrics: Metrics{
			PromptEvalCount: uint64(m.prompt_eval_count), PromptEvalDurationNs: uint64(m.prompt_eval_duration_ns),
			EvalCount: uint64(m.eval_count), EvalDurationNs: uint64(m.eval_duration_ns),
			LoadDurationNs: uint64(m.load_duration_ns), TotalDurationNs: uint64(m.total_duration_ns),
			PromptTokensPerSecond: float64(m.prompt_tokens_per_second), EvalTokensPerSecond: float64(m.eval_tokens_per_second),
		},
	}
}

// ChatMessage is one turn of a chat: Role is "system", "user" or "assistant".
type ChatMessage struct {
	Role    string
	Content string
}

// Runner is a sandboxed runner process with its model loaded. Requests run one at a time
// (concurrent calls wait); Cancel may be called from any goroutine.
type Runner struct {
	mu     sync.Mutex
	ptr    *C.secllama_runner
	cancel *C.secllama_cancel_handle
	cmu    sync.Mutex
}

// Spawn starts a runner and waits until its model is loaded. Close it when done.
func Spawn(cfg RunnerConfig) (*Runner, error) {
	var c *C.secllama_runner_config
	if cfg.ModelPath == "" {
		if err := call(func() C.secllama_status { return C.secllama_runner_config_default_model(&c) }); err != nil {
			return nil, err
		}
	} else {
		path, err := cString(cfg.ModelPath)
		if err != nil {
			return nil, err
		}
		err = call(func() C.secllama_status { return C.secllama_runner_config_new(path, &c) })
		C.free(unsafe.Pointer(path))
		if err != nil {
			return nil, err
		}
	}
	defer C.secllama_runner_config_free(c)
	setStr := func(s string, f func(*C.char) C.secllama_status) error {
		if s == "" {
			return nil
		}
		cs, err := cString(s)
		if err != nil {
			return err
		}
		defer C.free(unsafe.Pointer(cs))
		return call(func() C.secllama_status { return f(cs) })
	}
	if err := setStr(cfg.SHA256, func(s *C.char) C.secllama_status { return C.secllama_runner_config_set_sha256(c, s) }); err != nil {
		return nil, err
	}
	if err := setStr(cfg.RunnerPath, func(s *C.char) C.secllama_status { return C.secllama_runner_config_set_runner_path(c, s) }); err != nil {
		return nil, err
	}
	C.secllama_runner_config_set_threads(c, C.uint32_t(cfg.Threads))
	C.secllama_runner_config_set_gpu_layers(c, C.uint32_t(cfg.GPULayers))
	if cfg.ContextLength != 0 {
		C.secllama_runner_config_set_context_length(c, C.uint32_t(cfg.ContextLength))
	}
	switch cfg.Sandbox {
	case SandboxStrict:
		C.secllama_runner_config_set_sandbox(c, true, true)
	case SandboxBestEffort:
		C.secllama_runner_config_set_sandbox(c, true, false)
	case SandboxDisabled:
		C.secllama_runner_config_set_sandbox(c, false, false)
	}
	var p *C.secllama_runner
	if err := call(func() C.secllama_status { return C.secllama_runner_spawn(c, nil, nil, &p) }); err != nil {
		return nil, err
	}
	r := &Runner{ptr: p}
	if err := call(func() C.secllama_status { return C.secllama_runner_cancel_handle(p, &r.cancel) }); err != nil {
		C.secllama_runner_free(p)
		return nil, err
	}
	runtime.SetFinalizer(r, (*Runner).Close)
	return r, nil
}

// Close shuts the runner process down. Safe to call twice; waits for a running request.
func (r *Runner) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmu.Lock()
	C.secllama_cancel_handle_free(r.cancel)
	r.cancel = nil
	r.cmu.Unlock()
	C.secllama_runner_free(r.ptr)
	r.ptr = nil
	runtime.SetFinalizer(r, nil)
	return nil
}

// Cancel stops the request in progress (it ends with StopCancelled within one token); it does
// nothing when none runs. Safe from any goroutine.
func (r *Runner) Cancel() error {
	r.cmu.Lock()
	defer r.cmu.Unlock()
	if r.cancel == nil {
		return ErrClosed
	}
	return call(func() C.secllama_status { return C.secllama_cancel_handle_cancel(r.cancel) })
}

// pieceState is what the C callback reaches through its cgo.Handle.
type pieceState struct {
	fn       func(piece string) (stop bool)
	panicked interface{}
}

//export secllamaGoPiece
func secllamaGoPiece(h C.uintptr_t, piece *C.char, n C.size_t) (rc C.int32_t) {
	st := cgo.Handle(h).Value().(*pieceState)
	if st.fn == nil {
		return 0
	}
	defer func() {
		// A panic must not unwind through the C frames: cancel, re-raise after the call.
		if p := recover(); p != nil {
			st.panicked = p
			rc = 1
		}
	}()
	if st.fn(C.GoStringN(piece, C.int(n))) {
		return 1
	}
	return 0
}

func (r *Runner) generate(onPiece func(string) bool, f func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status) (Done, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == nil {
		return Done{}, ErrClosed
	}
	st := &pieceState{fn: onPiece}
	h := cgo.NewHandle(st)
	defer h.Delete()
	done := (*C.secllama_done)(C.calloc(1, C.sizeof_secllama_done))
	defer C.free(unsafe.Pointer(done))
	err := call(func() C.secllama_status {
		return f(r.ptr, C.secllama_piece_callback(C.secllama_go_piece_trampoline), C.secllama_go_handle_ptr(C.uintptr_t(h)), done)
	})
	if st.panicked != nil {
		panic(st.panicked)
	}
	if err != nil {
		return Done{}, err
	}
	return doneFromC(done), nil
}

// Complete continues prompt, calling onPiece (may be nil) with each piece of text; onPiece
// returning true cancels the request (Done.Reason is then StopCancelled).
func (r *Runner) Complete(prompt string, params GenerationParams, onPiece func(piece string) (stop bool)) (Done, error) {
	cp, err := newCParams(params)
	if err != nil {
		return Done{}, err
	}
	defer cp.free()
	cprompt, err := cString(prompt)
	if err != nil {
		return Done{}, err
	}
	defer C.free(unsafe.Pointer(cprompt))
	return r.generate(onPiece, func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status {
		return C.secllama_runner_complete(p, cprompt, cp.c, cb, ud, done)
	})
}

// Chat runs one chat turn with the model's chat template, streamed like Complete.
func (r *Runner) Chat(messages []ChatMessage, params GenerationParams, onPiece func(piece string) (stop bool)) (Done, error) {
	cp, err := newCParams(params)
	if err != nil {
		return Done{}, err
	}
	defer cp.free()
	var arr *C.secllama_chat_message
	var strs []*C.char
	defer func() {
		for _, s := range strs {
			C.free(unsafe.Pointer(s))
		}
		C.free(unsafe.Pointer(arr))
	}()
	if len(messages) > 0 {
		arr = (*C.secllama_chat_message)(C.calloc(C.size_t(len(messages)), C.sizeof_secllama_chat_message))
		list := unsafe.Slice(arr, len(messages))
		for i, m := range messages {
			role, err := cString(m.Role)
			if err != nil {
				return Done{}, err
			}
			strs = append(strs, role)
			content, err := cString(m.Content)
			if err != nil {
				return Done{}, err
			}
			strs = append(strs, content)
			list[i].role = role
			list[i].content = content
		}
	}
	n := C.size_t(len(messages))
	return r.generate(onPiece, func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status {
		return C.secllama_runner_chat(p, arr, n, cp.c, cb, ud, done)
	})
}

// ModelInfoJSON describes the loaded model as JSON.
func (r *Runner) ModelInfoJSON() ([]byte, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ptr == nil {
		return nil, ErrClosed
	}
	var out C.secllama_buf
	if err := call(func() C.secllama_status { return C.secllama_runner_model_info_json(r.ptr, &out) }); err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}
