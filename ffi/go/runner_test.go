package secllama

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
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
	done, err := r.Complete(ctx, "The capital of France is", GreedyParams(8), func(p string) bool {
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
	done, err := r.Complete(ctx, "Count from one to fifty:", GreedyParams(64), func(string) bool {
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
	done, err := r.Complete(ctx, "Once upon a time, there was a dragon who", GreedyParams(200), func(string) bool {
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
	done, err := r.Chat(ctx, []ChatMessage{{Role: "user", Content: "What is the capital of France?"}}, GreedyParams(12), func(p string) bool {
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
	_, err := r.Complete(ctx, "x", p, nil)
	wantCode(t, err, StatusRunnerInvalidRequest)
	p = GreedyParams(4)
	p.Temperature = -1
	_, err = r.Complete(ctx, "x", p, nil)
	if !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatal(err)
	}
	_, err = r.Complete(ctx, "\xc3\x28", GreedyParams(4), nil)
	wantCode(t, err, StatusInvalidUTF8)
	_, err = r.Chat(ctx, nil, GreedyParams(4), nil)
	wantCode(t, err, StatusRunnerInvalidRequest)
	p = GreedyParams(4)
	p.Stop = []string{"\n"}
	if _, err := r.Complete(ctx, "Hello", p, nil); err != nil {
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

func TestGPULayersWithoutAGPUHaveTheirOwnError(t *testing.T) {
	defaultModel(t)
	_, err := Spawn(RunnerConfig{Threads: 2, GPULayers: 99})
	if !errors.Is(err, ErrRunnerGpuUnavailable) {
		t.Fatal(err)
	}
	wantCode(t, err, StatusRunnerGpuUnavailable)
	if !strings.Contains(err.Error(), "99 GPU layers were asked for") {
		t.Fatal(err)
	}
}

var ctx = context.Background()

func spawnSmall(t *testing.T) *Runner {
	t.Helper()
	defaultModel(t)
	r, err := Spawn(RunnerConfig{Threads: 2, ContextLength: 512})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// stopTree SIGSTOPs a process and its descendants (the sandbox may put an init between).
func stopTree(t *testing.T, pid int) {
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(b)) {
		if c, err := strconv.Atoi(f); err == nil {
			stopTree(t, c)
		}
	}
}

func TestCompleteReturnsTheTextItStreamed(t *testing.T) {
	r := runner(t)
	var pieces strings.Builder
	resp, err := r.Complete(ctx, "The capital of France is", GreedyParams(8), func(p string) bool {
		pieces.WriteString(p)
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text == "" || resp.Text != pieces.String() {
		t.Fatalf("text %q, streamed %q", resp.Text, pieces.String())
	}
	if m := resp.Message(); m.Role != "assistant" || m.Content != resp.Text {
		t.Fatalf("message %+v", m)
	}
}

func TestCloseFromTheCallbackCancelsAndFreesAfterTheCall(t *testing.T) {
	r := spawnSmall(t)
	calls := 0
	resp, err := r.Complete(ctx, "Count from one to ten:", GreedyParams(32), func(string) bool {
		calls++
		r.Close() // used to deadlock
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	// Cancellation takes effect within one token: a piece already on its way may still come.
	if resp.Reason != StopCancelled || calls < 1 || calls > 2 {
		t.Fatalf("reason %d after %d pieces", resp.Reason, calls)
	}
	if _, err := r.Complete(ctx, "again", GreedyParams(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	r.Close()
}

func TestARequestFromInsideTheCallbackIsBusy(t *testing.T) {
	r := runner(t)
	var inner error
	_, err := r.Complete(ctx, "Count from one to ten:", GreedyParams(4), func(string) bool {
		_, inner = r.Complete(ctx, "inner", GreedyParams(2), nil)
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(inner, ErrBusy) {
		t.Fatalf("re-entry: %v", inner)
	}
}

func TestCancellingOneContextCancelsOnlyItsRequest(t *testing.T) {
	r := runner(t)
	c1, cancel1 := context.WithCancel(ctx)
	resp, err := r.Complete(c1, "Count from one to fifty:", GreedyParams(64), func(string) bool {
		cancel1()
		return false
	})
	if !errors.Is(err, context.Canceled) || resp.Reason != StopCancelled {
		t.Fatalf("cancelled request: %v, reason %d", err, resp.Reason)
	}
	// The cancelled context's watcher is gone: the next request runs to its end.
	resp, err = r.Complete(ctx, "Hello", GreedyParams(2), nil)
	if err != nil || (resp.Reason != StopMaxTokens && resp.Reason != StopEndOfText) {
		t.Fatalf("next request: %v, reason %d", err, resp.Reason)
	}
	// A context cancelled before the turn never starts the request.
	if _, err := r.Complete(c1, "Hello", GreedyParams(2), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("pre-cancelled: %v", err)
	}
}

func TestADeadlineKillsAStoppedRunner(t *testing.T) {
	r := spawnSmall(t)
	defer r.Close()
	pid, err := r.Pid()
	if err != nil || pid == 0 {
		t.Fatalf("pid %d: %v", pid, err)
	}
	stopTree(t, int(pid))
	c, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
	defer cancel()
	_, err = r.Complete(c, "Count from one to fifty:", GreedyParams(200), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, ErrRunnerTimeout) {
		t.Fatalf("deadline: %v", err)
	}
	if _, err := r.Complete(ctx, "Hello", GreedyParams(2), nil); !errors.Is(err, ErrRunnerClosed) {
		t.Fatalf("after the kill: %v", err)
	}
	// The runner sits below the sandbox's waiter and init: the kernel tears the PID namespace
	// down a moment after the waiter is killed and reaped. Wait (bounded) for it.
	err = nil
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		if err = syscall.Kill(int(pid), 0); err == syscall.ESRCH {
			break
		}
	}
	if err != syscall.ESRCH {
		t.Fatalf("the runner process is still there: %v", err)
	}
}

func TestCloseFromAnotherGoroutineKillsAStuckRunner(t *testing.T) {
	r := spawnSmall(t)
	pid, _ := r.Pid()
	stopTree(t, int(pid))
	errc := make(chan error, 1)
	go func() {
		_, err := r.Complete(ctx, "Count from one to fifty:", GreedyParams(200), nil)
		errc <- err
	}()
	for {
		r.mu.Lock()
		active := len(r.active) > 0
		r.mu.Unlock()
		if active {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { r.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(2 * time.Minute): // a hang detector, not a timing assertion
		t.Fatal("Close hung on a stopped runner")
	}
	err := <-errc
	if !errors.Is(err, ErrRunnerIo) && !errors.Is(err, ErrRunnerCrashed) {
		t.Fatalf("the stuck request: %v", err)
	}
}

func TestProgressAndSandboxReport(t *testing.T) {
	defaultModel(t)
	var mu sync.Mutex
	var fractions []float32
	r, err := Spawn(RunnerConfig{Threads: 2, ContextLength: 256, OnProgress: func(s LoadStage, f float32) {
		mu.Lock()
		fractions = append(fractions, f)
		mu.Unlock()
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if len(fractions) == 0 {
		t.Fatal("no progress reported")
	}
	rep, err := r.SandboxReport()
	if err != nil || rep == nil || len(rep.Layers) == 0 || rep.Layers[0].Layer == "" {
		t.Fatalf("sandbox report %+v: %v", rep, err)
	}
}
