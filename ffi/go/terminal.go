package secllama

/*
#include "secllama.h"
*/
import "C"

import (
	"runtime"
	"sync"
)

// TerminalText makes untrusted model text safe to print on a terminal. Use it whenever a
// program prints runner output to a terminal: the runner may be hostile, and a terminal obeys
// escape sequences in what it prints (OSC 52 writes the clipboard, CSI moves the cursor, ...).
//
// It keeps printable text, "\n" and "\t", and replaces every other control visibly: ESC as
// "␛" (other C0 controls as their control pictures), C1 controls and bidi controls as
// "<U+009B>", bytes that are not UTF-8 as "\uFFFD". Feed the pieces in order to Push and print
// what it returns, then print Finish. Leave the text unfiltered for files, pipes and JSON.
type TerminalText struct {
	mu  sync.Mutex
	ptr *C.secllama_terminal_text
}

// NewTerminalText makes a filter with nothing pending.
func NewTerminalText() (*TerminalText, error) {
	var p *C.secllama_terminal_text
	if err := call(func() C.secllama_status { return C.secllama_terminal_text_new(&p) }); err != nil {
		return nil, err
	}
	t := &TerminalText{ptr: p}
	runtime.SetFinalizer(t, (*TerminalText).Close)
	return t, nil
}

func (t *TerminalText) do(f func(p *C.secllama_terminal_text, out *C.secllama_buf) C.secllama_status) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ptr == nil {
		return "", ErrClosed
	}
	var out C.secllama_buf
	if err := call(func() C.secllama_status { return f(t.ptr, &out) }); err != nil {
		return "", err
	}
	return string(takeBuf(&out)), nil
}

// Push filters one piece (any bytes; a UTF-8 character cut at its end waits for the next).
func (t *TerminalText) Push(piece []byte) (string, error) {
	pp, pn := bytesArg(piece)
	s, err := t.do(func(p *C.secllama_terminal_text, out *C.secllama_buf) C.secllama_status {
		return C.secllama_terminal_text_push(p, pp, pn, out)
	})
	runtime.KeepAlive(piece)
	return s, err
}

// PushString filters one piece of text.
func (t *TerminalText) PushString(piece string) (string, error) {
	return t.Push([]byte(piece))
}

// Finish ends the text: "\uFFFD" if a cut character was left pending, else "".
func (t *TerminalText) Finish() (string, error) {
	return t.do(func(p *C.secllama_terminal_text, out *C.secllama_buf) C.secllama_status {
		return C.secllama_terminal_text_finish(p, out)
	})
}

// Close releases the filter; safe to call twice.
func (t *TerminalText) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	C.secllama_terminal_text_free(t.ptr)
	t.ptr = nil
	runtime.SetFinalizer(t, nil)
	return nil
}
