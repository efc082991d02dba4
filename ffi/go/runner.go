package secllama

/*
#include <stdlib.h>
#include "secllama.h"

int32_t secllama_go_piece_trampoline(void *user_data, const char *piece, size_t piece_len);
void *secllama_go_handle_ptr(uintptr_t handle);
*/
import "C"

import (
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
	GPULayers     uint32 // layers offloaded to the GPU (a cuda, vulkan or metal build)
	Sandbox       SandboxMode
	// OnProgress, if set, is called while the model is verified and loaded, with a fraction
	// from 0 to 1 within each stage, on the goroutine that called Spawn.
	OnProgress func(stage LoadStage, fraction float32)
}

// LoadStage is what a starting runner is doing (for RunnerConfig.OnProgress).
type LoadStage uint32

// Load stages.
const (
	LoadVerifying LoadStage = C.SECLLAMA_LOAD_STAGE_VERIFYING // hashing the model file
	LoadLoading   LoadStage = C.SECLLAMA_LOAD_STAGE_LOADING   // llama.cpp reading the weights
)

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

// cParams is a C copy of p; free releases it and the stop strings.
type cParams struct {
	c    *C.secllama_generation_params
	stop *cStrings
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
	stop, err := newCStrings(p.Stop)
	if err != nil {
		C.free(unsafe.Pointer(c))
		return nil, err
	}
	cp.stop = stop
	c.stop = stop.ptr()
	c.stop_len = C.size_t(len(p.Stop))
	return cp, nil
}

func (cp *cParams) free() {
	cp.stop.free()
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

// Response is a finished request: the generated text, why it stopped and what it cost.
type Response struct {
	Text string
	Done
}

// Message is the reply as an assistant chat message, to append to the conversation.
func (r Response) Message() ChatMessage {
	return ChatMessage{Role: "assistant", Content: r.Text}
}

// ChatMessage is one turn of a chat: Role is "system", "user" or "assistant".
type ChatMessage struct {
	Role    string
	Content string
}
