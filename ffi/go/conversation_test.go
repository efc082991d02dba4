package secllama

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestAConversationKeepsTheFirstErrorAndDoesNothingAfterIt(t *testing.T) {
	spawnErr := &Error{Code: StatusRunnerNotFound, Message: "runner executable not found"}
	c := NewConversation(nil, spawnErr, "be brief")
	if _, err := c.Say(context.Background(), "hi", nil); err != spawnErr {
		t.Fatalf("say after a failed spawn: %v", err)
	}
	if err := c.Err(); !errors.Is(err, ErrRunnerNotFound) {
		t.Fatalf("err: %v", err)
	}
	if m := c.Messages(); len(m) != 1 || m[0] != (ChatMessage{Role: "system", Content: "be brief"}) {
		t.Fatalf("history after a failed spawn: %+v", m)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("close without a runner: %v", err)
	}
	if err := NewConversation(nil, nil).Err(); !errors.Is(err, ErrClosed) {
		t.Fatalf("no runner and no error: %v", err)
	}
}

func TestAConversationAppendsEachTurnAndStopsAtItsFirstFailure(t *testing.T) {
	defaultModel(t)
	c := NewConversation(Spawn(RunnerConfig{Threads: 2, ContextLength: 1024}))
	defer c.Close()
	c.SetParams(GreedyParams(16))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var streamed string
	first, err := c.Say(ctx, "What is the capital of France?", func(p string) bool { streamed += p; return false })
	if err != nil {
		t.Fatal(err)
	}
	if first.Text == "" || first.Text != streamed {
		t.Fatalf("reply %q, streamed %q", first.Text, streamed)
	}
	second, err := c.Say(ctx, "And of Italy?", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []ChatMessage{
		{Role: "user", Content: "What is the capital of France?"},
		{Role: "assistant", Content: first.Text},
		{Role: "user", Content: "And of Italy?"},
		{Role: "assistant", Content: second.Text},
	}
	got := c.Messages()
	if len(got) != len(want) {
		t.Fatalf("history %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("message %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	// A cancelled turn is the conversation's error: the history stays, later turns do nothing.
	done, stop := context.WithCancel(context.Background())
	stop()
	if _, err := c.Say(done, "And of Spain?", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled turn: %v", err)
	}
	if _, err := c.Say(ctx, "Still there?", nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("turn after the failure: %v", err)
	}
	if n := len(c.Messages()); n != 4 {
		t.Fatalf("history grew to %d after failures", n)
	}
}
