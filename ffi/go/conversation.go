package secllama

import (
	"context"
	"sync"
)

// Conversation is a chat history on a runner it owns: Say appends the user's message, runs
// the turn and appends the reply, so a multi-turn chat is one call per turn. Its error is
// sticky, like bufio.Scanner's: after the first failure (starting the runner included) every
// Say returns that error and does nothing, and Err reports it, so a program may check once
// at the end. Methods may be called from several goroutines; turns run one at a time.
//
//	chat := secllama.NewConversation(secllama.Spawn(secllama.RunnerConfig{}))
//	defer chat.Close()
//	chat.Say(ctx, "Name a primary color.", show)
//	chat.Say(ctx, "And another one?", show)
//	if err := chat.Err(); err != nil {
//		log.Fatal(err)
//	}
//
// To share one runner between several histories, keep the histories yourself and call
// Runner.Chat (a Conversation closes its runner).
type Conversation struct {
	mu       sync.Mutex
	runner   *Runner
	err      error
	params   GenerationParams
	messages []ChatMessage
}

// NewConversation takes Spawn's results as they are (so the call nests:
// NewConversation(Spawn(cfg))) and owns the runner; a Spawn error becomes the conversation's
// error. Replies use DefaultParams; system messages, if any, start the history.
func NewConversation(r *Runner, err error, system ...string) *Conversation {
	c := &Conversation{runner: r, err: err, params: DefaultParams()}
	if err == nil && r == nil {
		c.err = ErrClosed
	}
	for _, s := range system {
		c.messages = append(c.messages, ChatMessage{Role: "system", Content: s})
	}
	return c
}

// SetParams sets the generation parameters of the following turns.
func (c *Conversation) SetParams(p GenerationParams) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.params = p
}

// Say sends content as the user's next message and returns the reply, streamed to onPiece
// (may be nil; returning true cuts the reply short) and appended to the history. ctx bounds
// and cancels this turn as in Runner.Chat. On failure the history is left as it was and the
// error is kept (see Err).
func (c *Conversation) Say(ctx context.Context, content string, onPiece func(piece string) (stop bool)) (Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return Response{}, c.err
	}
	turn := append(c.messages[:len(c.messages):len(c.messages)], ChatMessage{Role: "user", Content: content})
	reply, err := c.runner.Chat(ctx, turn, c.params, onPiece)
	if err != nil {
		c.err = err
		return reply, err
	}
	c.messages = append(turn, reply.Message())
	return reply, nil
}

// Messages is a copy of the history: the system messages, then each user message and reply.
func (c *Conversation) Messages() []ChatMessage {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]ChatMessage(nil), c.messages...)
}

// Err is the first error of the conversation (nil if none).
func (c *Conversation) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Close closes the runner (see Runner.Close); safe to call twice and on a conversation whose
// runner never started. It does not wait for a turn in progress to take the lock: a Say from
// another goroutine is cancelled by the runner's Close and returns its error.
func (c *Conversation) Close() error {
	if c.runner == nil {
		return nil
	}
	return c.runner.Close()
}
