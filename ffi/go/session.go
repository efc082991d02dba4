package secllama

/*
#include <stdlib.h>
#include "secllama.h"

int32_t secllama_go_piece_trampoline(void *user_data, const char *piece, size_t piece_len);
void secllama_go_progress_trampoline(void *user_data, secllama_load_stage stage, float fraction);
void *secllama_go_handle_ptr(uintptr_t handle);
*/
import "C"

import (
	"bytes"
	"context"
	"encoding/json"
	"runtime"
	"runtime/cgo"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"
)

// CloseGrace is how long Close gives a running request to stop before the runner process is
// killed.
const CloseGrace = 2 * time.Second

// CancelGrace is how long a request whose context was cancelled gets to stop before the runner
// is considered stuck and killed (which ends every request on it: a runner that ignores a
// cancel is stuck for all). A healthy runner stops within one token, but one token can
// take seconds on a loaded machine; a context deadline is enforced by the library's own
// watchdog instead (cancel, then kill after 3 s).
const CancelGrace = 30 * time.Second

// Runner is a sandboxed runner process with its model loaded. Several goroutines may run
// requests on it at once, each with its own context: the runner generates for up to 4 of them
// together (its slots) and queues the rest in order; cancelling one request's context cancels
// that request only. Cancel (every request) and Close may be called from any goroutine and
// from inside a piece callback, and never reach freed memory.
type Runner struct {
	mu     sync.Mutex
	users  int            // calls inside the library, Close's own included
	closed bool           // no new call starts
	active map[int64]bool // the goroutines running a request
	ptr    *C.secllama_runner
	cancel *C.secllama_cancel_handle
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
	ps := &progressState{fn: cfg.OnProgress}
	h := cgo.NewHandle(ps)
	defer h.Delete()
	err := call(func() C.secllama_status {
		return C.secllama_runner_spawn(c, C.secllama_progress_callback(C.secllama_go_progress_trampoline),
			C.secllama_go_handle_ptr(C.uintptr_t(h)), &p)
	})
	if ps.panicked != nil {
		if p != nil {
			C.secllama_runner_free(p)
		}
		panic(ps.panicked)
	}
	if err != nil {
		return nil, err
	}
	r := &Runner{ptr: p, active: map[int64]bool{}}
	if err := call(func() C.secllama_status { return C.secllama_runner_cancel_handle(p, &r.cancel) }); err != nil {
		C.secllama_runner_free(p)
		return nil, err
	}
	runtime.SetFinalizer(r, (*Runner).Close)
	return r, nil
}

// progressState is what the progress callback reaches through its cgo.Handle.
type progressState struct {
	fn       func(LoadStage, float32)
	panicked interface{}
}

//export secllamaGoProgress
func secllamaGoProgress(h C.uintptr_t, stage C.secllama_load_stage, fraction C.float) {
	st := cgo.Handle(h).Value().(*progressState)
	if st.fn == nil || st.panicked != nil {
		return
	}
	defer func() {
		if p := recover(); p != nil {
			st.panicked = p
		}
	}()
	st.fn(LoadStage(stage), float32(fraction))
}

// goid is the calling goroutine's id (from its stack header), to tell a call from inside a
// piece callback from one on another goroutine.
func goid() int64 {
	var buf [64]byte
	b := buf[:runtime.Stack(buf[:], false)]
	b = bytes.TrimPrefix(b, []byte("goroutine "))
	if i := bytes.IndexByte(b, ' '); i > 0 {
		b = b[:i]
	}
	id, _ := strconv.ParseInt(string(b), 10, 64)
	return id
}

// enter counts a call that uses the handles; it fails once the runner is closed.
func (r *Runner) enter() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.ptr == nil {
		return ErrClosed
	}
	r.users++
	return nil
}

// exit ends a call; the last one out of a closed runner frees it.
func (r *Runner) exit() {
	r.mu.Lock()
	r.users--
	last := r.users == 0 && r.closed
	r.mu.Unlock()
	if last {
		r.release()
	}
}

func (r *Runner) release() {
	r.mu.Lock()
	p, h := r.ptr, r.cancel
	r.ptr, r.cancel = nil, nil
	r.mu.Unlock()
	if h != nil {
		C.secllama_cancel_handle_free(h)
	}
	if p != nil {
		C.secllama_runner_free(p)
	}
}

// Close shuts the runner down. Safe to call twice, from any goroutine and from a piece
// callback. A running request is cancelled; from another goroutine Close then waits up to
// CloseGrace for it to stop, kills the runner if it does not, and returns once the request has
// ended. From the request's own callback the runner is freed as that request returns.
func (r *Runner) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	busy := r.users > 0
	own := busy && r.active[goid()]
	h := r.cancel
	r.users++ // Close's own use keeps h alive
	r.mu.Unlock()
	runtime.SetFinalizer(r, nil)
	defer r.exit()
	if !busy {
		return nil
	}
	C.secllama_cancel_handle_cancel(h)
	if own {
		return nil
	}
	if !r.waitIdle(CloseGrace) {
		C.secllama_cancel_handle_terminate(h)
		r.waitIdle(-1)
	}
	return nil
}

// waitIdle waits until only Close's own use is left (d < 0: without limit).
func (r *Runner) waitIdle(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		r.mu.Lock()
		idle := r.users <= 1
		r.mu.Unlock()
		if idle {
			return true
		}
		if d >= 0 && time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Cancel stops every request in progress or queued (each ends with StopCancelled within one
// token); it does nothing when none runs. Safe from any goroutine. To stop one request, cancel
// its context.
func (r *Runner) Cancel() error {
	if err := r.enter(); err != nil {
		return err
	}
	defer r.exit()
	return call(func() C.secllama_status { return C.secllama_cancel_handle_cancel(r.cancel) })
}

// Pid is the runner process's id (0 once it has ended).
func (r *Runner) Pid() (uint32, error) {
	if err := r.enter(); err != nil {
		return 0, err
	}
	defer r.exit()
	var pid C.uint32_t
	err := call(func() C.secllama_status { return C.secllama_runner_pid(r.ptr, &pid) })
	return uint32(pid), err
}

// pieceState is what the C callback reaches through its cgo.Handle.
type pieceState struct {
	fn       func(piece string) (stop bool)
	text     strings.Builder
	panicked interface{}
}

//export secllamaGoPiece
func secllamaGoPiece(h C.uintptr_t, piece *C.char, n C.size_t) (rc C.int32_t) {
	st := cgo.Handle(h).Value().(*pieceState)
	s := C.GoStringN(piece, C.int(n))
	st.text.WriteString(s)
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
	if st.fn(s) {
		return 1
	}
	return 0
}

type requestFn func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status

// generate runs one request under ctx: its deadline becomes the request's timeout_ms, its
// cancellation cancels this request only (through the request's own token, also while it is
// queued for a slot).
func (r *Runner) generate(ctx context.Context, cp *cParams, onPiece func(string) bool, f requestFn) (Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	g := goid()
	r.mu.Lock()
	reentry := r.active[g]
	r.mu.Unlock()
	if reentry {
		return Response{}, &Error{Code: StatusBusy, Message: "a request was started from inside another request's callback"}
	}
	if err := ctx.Err(); err != nil {
		return Response{}, err
	}
	if err := r.enter(); err != nil {
		return Response{}, err
	}
	defer r.exit()
	if dl, ok := ctx.Deadline(); ok {
		ms := time.Until(dl).Milliseconds()
		if ms <= 0 {
			return Response{}, context.DeadlineExceeded
		}
		cp.c.timeout_ms = C.uint64_t(ms)
	}
	var token *C.secllama_request_token
	if err := call(func() C.secllama_status { return C.secllama_request_token_new(&token) }); err != nil {
		return Response{}, err
	}
	// Freed after the watcher below has returned: nothing uses it then.
	defer C.secllama_request_token_free(token)
	cp.c.cancel = token
	r.mu.Lock()
	r.active[g] = true
	h := r.cancel
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		delete(r.active, g)
		r.mu.Unlock()
	}()

	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		select {
		case <-ctx.Done():
			C.secllama_request_token_cancel(token)
			select {
			case <-stop:
			case <-time.After(CancelGrace):
				C.secllama_cancel_handle_terminate(h)
			}
		case <-stop:
		}
	}()

	st := &pieceState{fn: onPiece}
	hd := cgo.NewHandle(st)
	defer hd.Delete()
	done := (*C.secllama_done)(C.calloc(1, C.sizeof_secllama_done))
	defer C.free(unsafe.Pointer(done))
	err := call(func() C.secllama_status {
		return f(r.ptr, C.secllama_piece_callback(C.secllama_go_piece_trampoline), C.secllama_go_handle_ptr(C.uintptr_t(hd)), done)
	})
	close(stop)
	<-watched
	if st.panicked != nil {
		panic(st.panicked)
	}
	resp := Response{Text: st.text.String(), Done: doneFromC(done)}
	if err != nil {
		return resp, err
	}
	if ctx.Err() != nil && resp.Reason == StopCancelled {
		return resp, ctx.Err()
	}
	return resp, nil
}

// Complete continues prompt and returns the generated text. onPiece (may be nil) gets each
// piece as it comes; returning true cancels the request (Reason is then StopCancelled).
// Cancelling ctx cancels this request (the error is ctx.Err()); its deadline is the request's
// deadline (an error that matches both ErrRunnerTimeout and context.DeadlineExceeded).
func (r *Runner) Complete(ctx context.Context, prompt string, params GenerationParams, onPiece func(piece string) (stop bool)) (Response, error) {
	cp, err := newCParams(params)
	if err != nil {
		return Response{}, err
	}
	defer cp.free()
	cprompt, err := cString(prompt)
	if err != nil {
		return Response{}, err
	}
	defer C.free(unsafe.Pointer(cprompt))
	return r.generate(ctx, cp, onPiece, func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status {
		return C.secllama_runner_complete(p, cprompt, cp.c, cb, ud, done)
	})
}

// Chat runs one chat turn with the model's chat template, like Complete; the reply is
// Response.Text (Response.Message() as a message).
func (r *Runner) Chat(ctx context.Context, messages []ChatMessage, params GenerationParams, onPiece func(piece string) (stop bool)) (Response, error) {
	cp, err := newCParams(params)
	if err != nil {
		return Response{}, err
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
				return Response{}, err
			}
			strs = append(strs, role)
			content, err := cString(m.Content)
			if err != nil {
				return Response{}, err
			}
			strs = append(strs, content)
			list[i].role = role
			list[i].content = content
		}
	}
	n := C.size_t(len(messages))
	return r.generate(ctx, cp, onPiece, func(p *C.secllama_runner, cb C.secllama_piece_callback, ud unsafe.Pointer, done *C.secllama_done) C.secllama_status {
		return C.secllama_runner_chat(p, arr, n, cp.c, cb, ud, done)
	})
}

func (r *Runner) json(f func(p *C.secllama_runner, out *C.secllama_buf) C.secllama_status) ([]byte, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	defer r.exit()
	var out C.secllama_buf
	if err := call(func() C.secllama_status { return f(r.ptr, &out) }); err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// ModelInfoJSON describes the loaded model as JSON.
func (r *Runner) ModelInfoJSON() ([]byte, error) {
	return r.json(func(p *C.secllama_runner, out *C.secllama_buf) C.secllama_status {
		return C.secllama_runner_model_info_json(p, out)
	})
}

// SandboxLayer is one layer of the runner's sandbox and its state ("enforced", or an object
// naming why it is degraded or unavailable).
type SandboxLayer struct {
	Layer string          `json:"layer"`
	State json.RawMessage `json:"state"`
}

// SandboxReport is what the runner's sandbox enforces, layer by layer.
type SandboxReport struct {
	Layers []SandboxLayer `json:"layers"`
}

// SandboxReport describes what the runner's sandbox enforces; nil when it is disabled.
func (r *Runner) SandboxReport() (*SandboxReport, error) {
	b, err := r.json(func(p *C.secllama_runner, out *C.secllama_buf) C.secllama_status {
		return C.secllama_runner_sandbox_report_json(p, out)
	})
	if err != nil {
		return nil, err
	}
	var rep *SandboxReport
	if err := json.Unmarshal(b, &rep); err != nil {
		return nil, err
	}
	return rep, nil
}
