package secllama

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

// The prompts the runner crate's own batching test uses.
var concurrentPrompts = []string{
	"The three primary colors are",
	"The capital of France is",
	"Water boils at a temperature of",
	"A week has seven days: Monday,",
}

const longPrompt = "Count from one to two hundred, one number per line:"

// A runner of its own with one thread (on a loaded machine ggml's thread barriers spin against
// the other work) and the default four slots.
func spawnConcurrent(t *testing.T) *Runner {
	t.Helper()
	defaultModel(t)
	r, err := Spawn(RunnerConfig{Threads: 1, ContextLength: 1024})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func aloneTexts(t *testing.T, r *Runner) []string {
	t.Helper()
	out := make([]string, len(concurrentPrompts))
	for i, p := range concurrentPrompts {
		resp, err := r.Complete(ctx, p, GreedyParams(8), nil)
		if err != nil || resp.Text == "" {
			t.Fatalf("alone %d: %q, %v", i, resp.Text, err)
		}
		out[i] = resp.Text
	}
	return out
}

// waitFor polls cond (bounded, generous for a loaded machine).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestInterleavedGreedyRequestsFromGoroutinesGiveTheirAloneText(t *testing.T) {
	r := spawnConcurrent(t)
	defer r.Close()
	alone := aloneTexts(t, r)

	// All four at once, each with a context of its own, plus a long one whose context is
	// cancelled once it streams: only that one stops.
	longCtx, cancelLong := context.WithCancel(ctx)
	defer cancelLong()
	var wg sync.WaitGroup
	texts := make([]string, len(concurrentPrompts))
	errs := make([]error, len(concurrentPrompts))
	start := make(chan struct{})
	for i, p := range concurrentPrompts {
		wg.Add(1)
		go func(i int, p string) {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			<-start
			resp, err := r.Complete(c, p, GreedyParams(8), nil)
			texts[i], errs[i] = resp.Text, err
		}(i, p)
	}
	var longResp Response
	var longErr error
	var streamed sync.Once
	started := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		<-start
		longResp, longErr = r.Complete(longCtx, longPrompt, GreedyParams(400), func(string) bool {
			streamed.Do(func() { close(started) })
			return false
		})
	}()
	close(start)
	select {
	case <-started:
	case <-time.After(5 * time.Minute):
		t.Fatal("the long request never streamed")
	}
	cancelLong()
	wg.Wait()

	if !errors.Is(longErr, context.Canceled) || longResp.Reason != StopCancelled || longResp.Metrics.EvalCount >= 400 {
		t.Fatalf("long request: %v, reason %d, %d tokens", longErr, longResp.Reason, longResp.Metrics.EvalCount)
	}
	for i := range concurrentPrompts {
		if errs[i] != nil || texts[i] != alone[i] {
			t.Errorf("request %d: %q (%v), alone %q", i, texts[i], errs[i], alone[i])
		}
	}

	// More requests than slots (six on four): two wait for a slot, none is refused, each
	// gives its alone text.
	const n = 6
	texts, errs = make([]string, n), make([]error, n)
	start = make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, 10*time.Minute)
			defer cancel()
			<-start
			resp, err := r.Complete(c, concurrentPrompts[i%len(concurrentPrompts)], GreedyParams(8), nil)
			texts[i], errs[i] = resp.Text, err
		}(i)
	}
	close(start)
	wg.Wait()
	for i := 0; i < n; i++ {
		if want := alone[i%len(concurrentPrompts)]; errs[i] != nil || texts[i] != want {
			t.Errorf("request %d of %d: %q (%v), alone %q", i, n, texts[i], errs[i], want)
		}
	}
}

func TestADeadlineEndsOnlyItsOwnRequest(t *testing.T) {
	r := spawnConcurrent(t)
	defer r.Close()
	alone := aloneTexts(t, r)[1]
	var wg sync.WaitGroup
	var longErr error
	var longResp Response
	streaming := make(chan struct{})
	var once sync.Once
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, cancel := context.WithTimeout(ctx, 1500*time.Millisecond)
		defer cancel()
		longResp, longErr = r.Complete(c, longPrompt, GreedyParams(400), func(string) bool {
			once.Do(func() { close(streaming) })
			return false
		})
	}()
	select {
	case <-streaming:
	case <-time.After(5 * time.Minute):
		t.Fatal("the long request never streamed")
	}
	resp, err := r.Complete(ctx, concurrentPrompts[1], GreedyParams(8), nil)
	wg.Wait()
	if !errors.Is(longErr, context.DeadlineExceeded) || !errors.Is(longErr, ErrRunnerTimeout) {
		t.Fatalf("long request: %v", longErr)
	}
	if longResp.Reason != StopCancelled {
		// Not stopped within the grace on a loaded machine: the runner was killed for all.
		t.Skipf("the runner did not stop within the grace (reason %d); the other request: %v", longResp.Reason, err)
	}
	if err != nil || resp.Text != alone {
		t.Fatalf("the other request: %q (%v), alone %q", resp.Text, err, alone)
	}
}

func TestCloseWithRequestsInFlightCancelsThemAll(t *testing.T) {
	r := spawnConcurrent(t)
	var wg sync.WaitGroup
	resps := make([]Response, 2)
	errs := make([]error, 2)
	var streamed sync.WaitGroup
	streamed.Add(2)
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			var once sync.Once
			resps[i], errs[i] = r.Complete(ctx, longPrompt, GreedyParams(400), func(string) bool {
				once.Do(streamed.Done)
				return false
			})
		}(i)
	}
	done := make(chan struct{})
	go func() { streamed.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Minute):
		t.Fatal("the requests never streamed")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i := range resps {
		switch {
		case errs[i] == nil && resps[i].Reason == StopCancelled:
		case errors.Is(errs[i], ErrRunnerIo) || errors.Is(errs[i], ErrRunnerCrashed) || errors.Is(errs[i], ErrRunnerClosed):
			// Not stopped within CloseGrace on a loaded machine: killed, which also ends it.
			t.Logf("request %d ended by the kill after the grace: %v", i, errs[i])
		default:
			t.Errorf("request %d: %v, reason %d", i, errs[i], resps[i].Reason)
		}
	}
	if _, err := r.Complete(ctx, "Hello", GreedyParams(2), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

func TestEmbeddingsAreUnitVectorsOfTheModelsSize(t *testing.T) {
	r := runner(t)
	v, err := r.Embed([]string{"a cat sat on the mat", "a dog ran in the park", "Paris is the capital of France"}, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 3 {
		t.Fatalf("%d vectors", len(v))
	}
	for i, vec := range v {
		if len(vec) != 576 {
			t.Fatalf("vector %d has %d dimensions", i, len(vec))
		}
		var norm float64
		for _, x := range vec {
			norm += float64(x) * float64(x)
		}
		if math.Abs(math.Sqrt(norm)-1) > 1e-3 {
			t.Fatalf("vector %d has norm %f", i, math.Sqrt(norm))
		}
	}
	if _, err := r.Embed(nil, true); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("no input: %v", err)
	}
	if _, err := r.Embed([]string{""}, true); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("empty input: %v", err)
	}
	if _, err := r.Embed(make([]string, MaxEmbedInputs+1), true); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("too many inputs: %v", err)
	}
}

func TestTokenizeAndDetokenizeRoundTripNonASCIIText(t *testing.T) {
	r := runner(t)
	text := "Grüße aus Zürich — 東京 ☕"
	tokens, err := r.Tokenize(text, false, false)
	if err != nil || len(tokens) == 0 {
		t.Fatalf("%v: %v", tokens, err)
	}
	back, err := r.Detokenize(tokens)
	if err != nil || back != text {
		t.Fatalf("round trip: %q, %v", back, err)
	}
	n, err := r.ContextLength()
	if err != nil || n != 1024 {
		t.Fatalf("context length %d: %v", n, err)
	}
	if _, err := r.Tokenize(strings.Repeat("a", MaxTokenizeBytes+1), false, false); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("too long: %v", err)
	}
	if _, err := r.Detokenize(make([]int32, MaxDetokenizeTokens+1)); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("too many tokens: %v", err)
	}
	if _, err := r.Detokenize([]int32{-1}); !errors.Is(err, ErrRunnerInvalidRequest) {
		t.Fatalf("a token outside the vocabulary: %v", err)
	}
	if _, err := r.Tokenize("a\x00b", false, false); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("NUL: %v", err)
	}
}
