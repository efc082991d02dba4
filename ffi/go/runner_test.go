package secllama

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func defaultModel(t *testing.T) {
	t.Helper()
	cache := os.Getenv("XDG_CACHE_HOME")
	if cache == "" {
		home, _ := os.UserHomeDir()
		cache = filepath.Join(home, ".cache")
	}
	if _, err := os.Stat(filepath.Join(cache, "secllama", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the default model is missing in CI: %v", err)
		}
		t.Skip("default model not downloaded: run examples/fetch-model.sh")
	}
}

var (
	sharedOnce   sync.Once
	sharedRunner *Runner
	sharedErr    error
)

// One runner for the streaming tests (spawning loads the model).
func runner(t *testing.T) *Runner {
	t.Helper()
	defaultModel(t)
	sharedOnce.Do(func() {
		sharedRunner, sharedErr = Spawn(RunnerConfig{Threads: 2, ContextLength: 1024, Sandbox: SandboxStrict})
	})
	if sharedErr != nil {
		t.Fatal(sharedErr)
	}
	return sharedRunner
}

func TestMain(m *testing.M) {
	code := m.Run()
	if sharedRunner != nil {
		sharedRunner.Close()
	}
	os.Exit(code)
}

func TestAGreedyCompletionStreamsPiecesOfTheAnswer(t *testing.T) {
	r := runner(t)
	var pieces []string
	done, err := r.Complete("The capital of France is", GreedyParams(8), func(p string) bool {
		pieces = append(pieces, p)
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(pieces, "")
	if len(pieces) == 0 || len(text) == 0 {
		t.Fatalf("pieces %q", pieces)
	}
	if done.Reason != StopMaxTokens && done.Reason != StopEndOfText {
		t.Fatalf("reason %d", done.Reason)
	}
	if done.Metrics.EvalCount == 0 || done.Metrics.EvalCount > 8 || done.Metrics.PromptEvalCount < 5 {
		t.Fatalf("metrics %+v", done.Metrics)
	}
	info, err := r.ModelInfoJSON()
	if err != nil || !strings.Contains(string(info), `"context_length":1024`) {
		t.Fatalf("model info %s %v", info, err)
	}
}

func TestReturningTrueFromTheCallbackCancelsTheRequest(t *testing.T) {
	r := runner(t)
	n := 0
	done, err := r.Complete("Count from one to fifty:", GreedyParams(64), func(string) bool {
		n++
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.Reason != StopCancelled || n != 1 || done.Metrics.EvalCount >= 64 {
		t.Fatalf("reason %d after %d pieces, %+v", done.Reason, n, done.Metrics)
	}
}

func TestCancelFromAnotherGoroutineStopsTheRequest(t *testing.T) {
	r := runner(t)
	first := make(chan struct{})
	var once sync.Once
	go func() {
		<-first
		if err := r.Cancel(); err != nil {
			t.Error(err)
		}
	}()
	done, err := r.Complete("Once upon a time, there was a dragon who", GreedyParams(200), func(string) bool {
		once.Do(func() { close(first) })
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if done.Reason != StopCancelled || done.Metrics.EvalCount >= 200 {
		t.Fatalf("reason %d, %+v", done.Reason, done.Metrics)
	}
}

func TestAChatTurnUsesTheModelsTemplate(t *testing.T) {
	r := runner(t)
	var text strings.Builder
	done, err := r.Chat([]ChatMessage{{Role: "user", Content: "What is the capital of France?"}}, GreedyParams(12), func(p string) bool {
		text.WriteString(p)
		return false
	})
	// The default model is instruction-tuned: greedily it answers "The capital of France is Paris."
	if err != nil || !strings.Contains(text.String(), "Paris") || done.Reason == StopNone {
		t.Fatalf("%q %+v %v", text.String(), done, err)
	}
}

func TestInvalidRequestsGiveExactCodesAndTheRunnerKeepsWorking(t *testing.T) {
	r := runner(t)
	p := GreedyParams(4)
	p.MaxTokens = 0
	_, err := r.Complete("x", p, nil)
	wantCode(t, err, StatusRunnerInvalidRequest)
	p = GreedyParams(4)
	p.Temperature = -1
	_, err = r.Complete("x", p, nil)
	if !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatal(err)
	}
	_, err = r.Complete("\xc3\x28", GreedyParams(4), nil)
	wantCode(t, err, StatusInvalidUTF8)
	_, err = r.Chat(nil, GreedyParams(4), nil)
	wantCode(t, err, StatusRunnerInvalidRequest)
	p = GreedyParams(4)
	p.Stop = []string{"\n"}
	if _, err := r.Complete("Hello", p, nil); err != nil {
		t.Fatal(err)
	}
}

func TestSpawnRefusesAMissingModelAndAWrongPin(t *testing.T) {
	defaultModel(t)
	_, err := Spawn(RunnerConfig{ModelPath: "/nonexistent/model.gguf"})
	if !errors.Is(err, ErrRunnerModelNotFound) {
		t.Fatal(err)
	}
	_, err = Spawn(RunnerConfig{SHA256: strings.Repeat("0", 64), Threads: 2})
	if !errors.Is(err, ErrRunnerChecksumMismatch) {
		t.Fatal(err)
	}
	_, err = Spawn(RunnerConfig{SHA256: "abc"})
	wantCode(t, err, StatusRunnerConfig)
}
