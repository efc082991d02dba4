// Package secllama is the Go binding of SecLlama's C API (ffi/include/secllama.h): keysets and
// sealed envelopes, password sealing, the OS keychain, the sandbox probe and the sandboxed
// llama.cpp runner.
//
// Build against the Rust library (cargo build -p secllama-ffi -p secllama-runner):
//
//	CGO_LDFLAGS="-L$TARGET/debug -Wl,-rpath,$TARGET/debug" go test ./...
//
// From your own module, require it and point a replace directive at this directory (the module
// path has no domain, so it is never fetched), then build from your app's directory with
// absolute library paths:
//
//	require secllama v0.0.0
//	replace secllama => /path/to/secllama/ffi/go
//
//	CGO_LDFLAGS="-L/path/to/secllama/target/release -Wl,-rpath,/path/to/secllama/target/release" go build
//
// The runner executable is found through SECLLAMA_RUNNER_PATH, RunnerConfig.RunnerPath, or
// next to your executable. Requests take a context.Context: its cancellation cancels that
// request only, its deadline bounds it (ErrRunnerTimeout, which also matches
// context.DeadlineExceeded). Every status has an Err* value for errors.Is (ErrBusy,
// ErrRunnerCrashed, ...).
//
// Every handle type has a Close method (safe to call twice) and a finalizer as a safety net;
// call Close yourself: keys are wiped when it runs. Failures are *Error values carrying the
// library's status code; compare them with errors.Is against the Err* values.
package secllama

/*
#cgo CFLAGS: -I${SRCDIR}/../include
#cgo LDFLAGS: -lsecllama_ffi
#include <stdlib.h>
#include "secllama.h"
*/
import "C"

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime"
	"sync"
	"unsafe"
)

// Status is a secllama_status code.
type Status uint32

// Every status code of the C header.
const (
	StatusOk                         Status = C.SECLLAMA_STATUS_OK
	StatusNullParameter              Status = C.SECLLAMA_STATUS_NULL_PARAMETER
	StatusInvalidUTF8                Status = C.SECLLAMA_STATUS_INVALID_UTF8
	StatusBufferTooSmall             Status = C.SECLLAMA_STATUS_BUFFER_TOO_SMALL
	StatusPanic                      Status = C.SECLLAMA_STATUS_PANIC
	StatusInvalidArgument            Status = C.SECLLAMA_STATUS_INVALID_ARGUMENT
	StatusInputTooLarge              Status = C.SECLLAMA_STATUS_INPUT_TOO_LARGE
	StatusBusy                       Status = C.SECLLAMA_STATUS_BUSY
	StatusMalformed                  Status = C.SECLLAMA_STATUS_MALFORMED
	StatusUnsupportedVersion         Status = C.SECLLAMA_STATUS_UNSUPPORTED_VERSION
	StatusAuthenticationFailed       Status = C.SECLLAMA_STATUS_AUTHENTICATION_FAILED
	StatusKeyUnknown                 Status = C.SECLLAMA_STATUS_KEY_UNKNOWN
	StatusKeyDisabled                Status = C.SECLLAMA_STATUS_KEY_DISABLED
	StatusKeyDestroyed               Status = C.SECLLAMA_STATUS_KEY_DESTROYED
	StatusKeyExhausted               Status = C.SECLLAMA_STATUS_KEY_EXHAUSTED
	StatusKeyIsPrimary               Status = C.SECLLAMA_STATUS_KEY_IS_PRIMARY
	StatusKeyTooMany                 Status = C.SECLLAMA_STATUS_KEY_TOO_MANY
	StatusKeyInvalidLength           Status = C.SECLLAMA_STATUS_KEY_INVALID_LENGTH
	StatusKeysetInvalid              Status = C.SECLLAMA_STATUS_KEYSET_INVALID
	StatusInvalidIterations          Status = C.SECLLAMA_STATUS_INVALID_ITERATIONS
	StatusEmptyPassword              Status = C.SECLLAMA_STATUS_EMPTY_PASSWORD
	StatusRandomFailed               Status = C.SECLLAMA_STATUS_RANDOM_FAILED
	StatusCryptoOther                Status = C.SECLLAMA_STATUS_CRYPTO_OTHER
	StatusKeystoreNoBackend          Status = C.SECLLAMA_STATUS_KEYSTORE_NO_BACKEND
	StatusKeystoreUnknownBackend     Status = C.SECLLAMA_STATUS_KEYSTORE_UNKNOWN_BACKEND
	StatusKeystoreInvalidService     Status = C.SECLLAMA_STATUS_KEYSTORE_INVALID_SERVICE
	StatusKeystoreLocked             Status = C.SECLLAMA_STATUS_KEYSTORE_LOCKED
	StatusKeystoreNotInitialized     Status = C.SECLLAMA_STATUS_KEYSTORE_NOT_INITIALIZED
	StatusKeystoreAlreadyInitialized Status = C.SECLLAMA_STATUS_KEYSTORE_ALREADY_INITIALIZED
	StatusKeystoreCorrupt            Status = C.SECLLAMA_STATUS_KEYSTORE_CORRUPT
	StatusKeystoreTooManyKeys        Status = C.SECLLAMA_STATUS_KEYSTORE_TOO_MANY_KEYS
	StatusKeystoreLockFile           Status = C.SECLLAMA_STATUS_KEYSTORE_LOCK_FILE
	StatusKeystoreBackend            Status = C.SECLLAMA_STATUS_KEYSTORE_BACKEND
	StatusKeystoreRecentlyPrimary    Status = C.SECLLAMA_STATUS_KEYSTORE_RECENTLY_PRIMARY
	StatusKeystoreOther              Status = C.SECLLAMA_STATUS_KEYSTORE_OTHER
	StatusSandboxNetworkIsolation    Status = C.SECLLAMA_STATUS_SANDBOX_NETWORK_ISOLATION_UNAVAILABLE
	StatusSandboxPath                Status = C.SECLLAMA_STATUS_SANDBOX_PATH
	StatusSandboxLandlock            Status = C.SECLLAMA_STATUS_SANDBOX_LANDLOCK
	StatusSandboxSeccomp             Status = C.SECLLAMA_STATUS_SANDBOX_SECCOMP
	StatusSandboxOs                  Status = C.SECLLAMA_STATUS_SANDBOX_OS
	StatusSandboxInvalidSetting      Status = C.SECLLAMA_STATUS_SANDBOX_INVALID_SETTING
	StatusSandboxUnsupported         Status = C.SECLLAMA_STATUS_SANDBOX_UNSUPPORTED
	StatusSandboxFilesystemIsolation Status = C.SECLLAMA_STATUS_SANDBOX_FILESYSTEM_ISOLATION_UNAVAILABLE
	StatusSandboxOther               Status = C.SECLLAMA_STATUS_SANDBOX_OTHER
	StatusRunnerNotFound             Status = C.SECLLAMA_STATUS_RUNNER_NOT_FOUND
	StatusRunnerModelNotFound        Status = C.SECLLAMA_STATUS_RUNNER_MODEL_NOT_FOUND
	StatusRunnerConfig               Status = C.SECLLAMA_STATUS_RUNNER_CONFIG
	StatusRunnerSpawn                Status = C.SECLLAMA_STATUS_RUNNER_SPAWN
	StatusRunnerIo                   Status = C.SECLLAMA_STATUS_RUNNER_IO
	StatusRunnerFrameRejected        Status = C.SECLLAMA_STATUS_RUNNER_FRAME_REJECTED
	StatusRunnerPeerRejectedFrame    Status = C.SECLLAMA_STATUS_RUNNER_PEER_REJECTED_FRAME
	StatusRunnerEncryptionMismatch   Status = C.SECLLAMA_STATUS_RUNNER_ENCRYPTION_MISMATCH
	StatusRunnerChecksumMismatch     Status = C.SECLLAMA_STATUS_RUNNER_CHECKSUM_MISMATCH
	StatusRunnerInvalidModel         Status = C.SECLLAMA_STATUS_RUNNER_INVALID_MODEL
	StatusRunnerModelLoad            Status = C.SECLLAMA_STATUS_RUNNER_MODEL_LOAD
	StatusRunnerUnsupportedCpu       Status = C.SECLLAMA_STATUS_RUNNER_UNSUPPORTED_CPU
	StatusRunnerInvalidRequest       Status = C.SECLLAMA_STATUS_RUNNER_INVALID_REQUEST
	StatusRunnerPromptTooLong        Status = C.SECLLAMA_STATUS_RUNNER_PROMPT_TOO_LONG
	StatusRunnerGeneration           Status = C.SECLLAMA_STATUS_RUNNER_GENERATION
	StatusRunnerProtocol             Status = C.SECLLAMA_STATUS_RUNNER_PROTOCOL
	StatusRunnerCrashed              Status = C.SECLLAMA_STATUS_RUNNER_CRASHED
	StatusRunnerClosed               Status = C.SECLLAMA_STATUS_RUNNER_CLOSED
	StatusRunnerTimeout              Status = C.SECLLAMA_STATUS_RUNNER_TIMEOUT
	StatusRunnerGpuUnavailable       Status = C.SECLLAMA_STATUS_RUNNER_GPU_UNAVAILABLE
	StatusRunnerOther                Status = C.SECLLAMA_STATUS_RUNNER_OTHER
)

// Name is the status's name in the C header, e.g. "SECLLAMA_STATUS_AUTHENTICATION_FAILED".
func (s Status) Name() string {
	var name *C.char
	if C.secllama_status_name(C.uint32_t(s), &name) != C.SECLLAMA_STATUS_OK {
		return fmt.Sprintf("secllama status %d", uint32(s))
	}
	return C.GoString(name)
}

// Error is a failed call: the status code and the library's message (which never holds keys,
// passwords, prompts or generated text).
type Error struct {
	Code    Status
	Message string
}

func (e *Error) Error() string {
	if e.Message == "" {
		return "secllama: " + e.Code.Name()
	}
	return fmt.Sprintf("secllama: %s (%s)", e.Message, e.Code.Name())
}

// Is makes errors.Is(err, secllama.ErrAuthenticationFailed) compare codes; a request
// timeout also matches context.DeadlineExceeded.
func (e *Error) Is(target error) bool {
	if target == context.DeadlineExceeded {
		return e.Code == StatusRunnerTimeout
	}
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Sentinels for errors.Is, one per status (except OK).
var (
	ErrNullParameter              = &Error{Code: StatusNullParameter}
	ErrInvalidUTF8                = &Error{Code: StatusInvalidUTF8}
	ErrBufferTooSmall             = &Error{Code: StatusBufferTooSmall}
	ErrPanic                      = &Error{Code: StatusPanic}
	ErrInvalidArgument            = &Error{Code: StatusInvalidArgument}
	ErrInputTooLarge              = &Error{Code: StatusInputTooLarge}
	ErrBusy                       = &Error{Code: StatusBusy}
	ErrMalformed                  = &Error{Code: StatusMalformed}
	ErrUnsupportedVersion         = &Error{Code: StatusUnsupportedVersion}
	ErrAuthenticationFailed       = &Error{Code: StatusAuthenticationFailed}
	ErrKeyUnknown                 = &Error{Code: StatusKeyUnknown}
	ErrKeyDisabled                = &Error{Code: StatusKeyDisabled}
	ErrKeyDestroyed               = &Error{Code: StatusKeyDestroyed}
	ErrKeyExhausted               = &Error{Code: StatusKeyExhausted}
	ErrKeyIsPrimary               = &Error{Code: StatusKeyIsPrimary}
	ErrKeyTooMany                 = &Error{Code: StatusKeyTooMany}
	ErrKeyInvalidLength           = &Error{Code: StatusKeyInvalidLength}
	ErrKeysetInvalid              = &Error{Code: StatusKeysetInvalid}
	ErrInvalidIterations          = &Error{Code: StatusInvalidIterations}
	ErrEmptyPassword              = &Error{Code: StatusEmptyPassword}
	ErrRandomFailed               = &Error{Code: StatusRandomFailed}
	ErrCryptoOther                = &Error{Code: StatusCryptoOther}
	ErrKeystoreNoBackend          = &Error{Code: StatusKeystoreNoBackend}
	ErrKeystoreUnknownBackend     = &Error{Code: StatusKeystoreUnknownBackend}
	ErrKeystoreInvalidService     = &Error{Code: StatusKeystoreInvalidService}
	ErrKeystoreLocked             = &Error{Code: StatusKeystoreLocked}
	ErrKeystoreNotInitialized     = &Error{Code: StatusKeystoreNotInitialized}
	ErrKeystoreAlreadyInitialized = &Error{Code: StatusKeystoreAlreadyInitialized}
	ErrKeystoreCorrupt            = &Error{Code: StatusKeystoreCorrupt}
	ErrKeystoreTooManyKeys        = &Error{Code: StatusKeystoreTooManyKeys}
	ErrKeystoreLockFile           = &Error{Code: StatusKeystoreLockFile}
	ErrKeystoreBackend            = &Error{Code: StatusKeystoreBackend}
	ErrKeystoreRecentlyPrimary    = &Error{Code: StatusKeystoreRecentlyPrimary}
	ErrKeystoreOther              = &Error{Code: StatusKeystoreOther}
	ErrSandboxNetworkIsolation    = &Error{Code: StatusSandboxNetworkIsolation}
	ErrSandboxPath                = &Error{Code: StatusSandboxPath}
	ErrSandboxLandlock            = &Error{Code: StatusSandboxLandlock}
	ErrSandboxSeccomp             = &Error{Code: StatusSandboxSeccomp}
	ErrSandboxOs                  = &Error{Code: StatusSandboxOs}
	ErrSandboxInvalidSetting      = &Error{Code: StatusSandboxInvalidSetting}
	ErrSandboxUnsupported         = &Error{Code: StatusSandboxUnsupported}
	ErrSandboxFilesystemIsolation = &Error{Code: StatusSandboxFilesystemIsolation}
	ErrSandboxOther               = &Error{Code: StatusSandboxOther}
	ErrRunnerNotFound             = &Error{Code: StatusRunnerNotFound}
	ErrRunnerModelNotFound        = &Error{Code: StatusRunnerModelNotFound}
	ErrRunnerConfig               = &Error{Code: StatusRunnerConfig}
	ErrRunnerSpawn                = &Error{Code: StatusRunnerSpawn}
	ErrRunnerIo                   = &Error{Code: StatusRunnerIo}
	ErrRunnerFrameRejected        = &Error{Code: StatusRunnerFrameRejected}
	ErrRunnerPeerRejectedFrame    = &Error{Code: StatusRunnerPeerRejectedFrame}
	ErrRunnerEncryptionMismatch   = &Error{Code: StatusRunnerEncryptionMismatch}
	ErrRunnerChecksumMismatch     = &Error{Code: StatusRunnerChecksumMismatch}
	ErrRunnerInvalidModel         = &Error{Code: StatusRunnerInvalidModel}
	ErrRunnerModelLoad            = &Error{Code: StatusRunnerModelLoad}
	ErrRunnerUnsupportedCpu       = &Error{Code: StatusRunnerUnsupportedCpu}
	ErrRunnerInvalidRequest       = &Error{Code: StatusRunnerInvalidRequest}
	ErrRunnerPromptTooLong        = &Error{Code: StatusRunnerPromptTooLong}
	ErrRunnerGeneration           = &Error{Code: StatusRunnerGeneration}
	ErrRunnerProtocol             = &Error{Code: StatusRunnerProtocol}
	ErrRunnerCrashed              = &Error{Code: StatusRunnerCrashed}
	ErrRunnerClosed               = &Error{Code: StatusRunnerClosed}
	ErrRunnerTimeout              = &Error{Code: StatusRunnerTimeout}
	ErrRunnerGpuUnavailable       = &Error{Code: StatusRunnerGpuUnavailable}
	ErrRunnerOther                = &Error{Code: StatusRunnerOther}
	// ErrClosed is returned by methods of a handle after Close.
	ErrClosed = &Error{Code: StatusNullParameter, Message: "the handle is closed"}
)

// call runs one library call and turns a failure into an *Error. The thread is locked so the
// thread-local last error is read on the thread that set it.
func call(f func() C.secllama_status) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	s := f()
	if s == C.SECLLAMA_STATUS_OK {
		return nil
	}
	return &Error{Code: Status(s), Message: lastError()}
}

func lastError() string {
	var n C.size_t
	if C.secllama_last_error(nil, 0, &n) == C.SECLLAMA_STATUS_OK {
		return ""
	}
	buf := make([]byte, int(n)+1)
	if C.secllama_last_error((*C.char)(unsafe.Pointer(&buf[0])), C.size_t(len(buf)), &n) != C.SECLLAMA_STATUS_OK {
		return ""
	}
	return string(buf[:n])
}

// bytesArg is a (pointer, length) argument; nil or empty is (NULL, 0). The slice must be kept
// alive by the caller until the C call returns (runtime.KeepAlive).
func bytesArg(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(&b[0])), C.size_t(len(b))
}

// takeBuf copies a library buffer into Go memory and frees (and wipes) the original.
func takeBuf(b *C.secllama_buf) []byte {
	defer C.secllama_buf_free(b)
	if b.ptr == nil {
		return []byte{}
	}
	return C.GoBytes(unsafe.Pointer(b.ptr), C.int(b.len))
}

// Version is the library's version, e.g. "0.1.0".
func Version() string {
	var v *C.char
	if C.secllama_version(&v) != C.SECLLAMA_STATUS_OK {
		return ""
	}
	return C.GoString(v)
}

// Feature bits reported by Features.
const (
	FeatureRunner        uint32 = C.SECLLAMA_FEATURE_RUNNER
	FeatureSecretService uint32 = C.SECLLAMA_FEATURE_SECRET_SERVICE
	FeatureKeyutils      uint32 = C.SECLLAMA_FEATURE_KEYUTILS
	FeatureKeychain      uint32 = C.SECLLAMA_FEATURE_KEYCHAIN
	FeatureSandboxLinux  uint32 = C.SECLLAMA_FEATURE_SANDBOX_LINUX
	FeatureCUDA          uint32 = C.SECLLAMA_FEATURE_CUDA
	FeatureVulkan        uint32 = C.SECLLAMA_FEATURE_VULKAN
	FeatureMetal         uint32 = C.SECLLAMA_FEATURE_METAL
)

// Features are the Feature* bits of this build.
func Features() uint32 {
	var f C.uint32_t
	C.secllama_features(&f)
	return uint32(f)
}

// EnvelopeOverhead is how many bytes Keyset.Seal adds to a plaintext.
const EnvelopeOverhead = int(C.SECLLAMA_ENVELOPE_OVERHEAD)

// PasswordOverhead is how many bytes PasswordSeal adds to a plaintext.
const PasswordOverhead = int(C.SECLLAMA_PASSWORD_OVERHEAD)

// PBKDF2 iteration counts accepted by PasswordSeal (0 means the default).
const (
	PasswordDefaultIterations = uint32(C.SECLLAMA_PASSWORD_DEFAULT_ITERATIONS)
	PasswordMinIterations     = uint32(C.SECLLAMA_PASSWORD_MIN_ITERATIONS)
	PasswordMaxIterations     = uint32(C.SECLLAMA_PASSWORD_MAX_ITERATIONS)
)

// KeyInfo describes one key of a keyset, never its bytes.
type KeyInfo struct {
	ID      uint32 `json:"id"`
	Status  string `json:"status"`
	Primary bool   `json:"primary"`
	Created uint64 `json:"created"`
}

// Keyset holds AES-256-GCM keys, one of them primary. Seal and Open may run concurrently;
// Rotate, Enable, Disable, Destroy and Close take the keyset exclusively.
type Keyset struct {
	mu  sync.RWMutex
	ptr *C.secllama_keyset
}

func newKeyset(p *C.secllama_keyset) *Keyset {
	k := &Keyset{ptr: p}
	runtime.SetFinalizer(k, (*Keyset).Close)
	return k
}

// GenerateKeyset makes a keyset with one fresh key.
func GenerateKeyset() (*Keyset, error) {
	var p *C.secllama_keyset
	if err := call(func() C.secllama_status { return C.secllama_keyset_generate(&p) }); err != nil {
		return nil, err
	}
	return newKeyset(p), nil
}

// KeysetFromBytes parses a keyset serialized by Keyset.Bytes.
func KeysetFromBytes(b []byte) (*Keyset, error) {
	var p *C.secllama_keyset
	ptr, n := bytesArg(b)
	err := call(func() C.secllama_status { return C.secllama_keyset_from_bytes(ptr, n, &p) })
	runtime.KeepAlive(b)
	if err != nil {
		return nil, err
	}
	return newKeyset(p), nil
}

// Close wipes and frees the keyset; later calls fail with ErrClosed. Safe to call twice.
func (k *Keyset) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	C.secllama_keyset_free(k.ptr)
	k.ptr = nil
	runtime.SetFinalizer(k, nil)
	return nil
}

func (k *Keyset) read(f func(p *C.secllama_keyset) C.secllama_status) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.ptr == nil {
		return ErrClosed
	}
	return call(func() C.secllama_status { return f(k.ptr) })
}

func (k *Keyset) write(f func(p *C.secllama_keyset) C.secllama_status) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.ptr == nil {
		return ErrClosed
	}
	return call(func() C.secllama_status { return f(k.ptr) })
}

// Seal encrypts plaintext with the primary key; aad is authenticated, not stored.
func (k *Keyset) Seal(plaintext, aad []byte) ([]byte, error) {
	var out C.secllama_buf
	pp, pn := bytesArg(plaintext)
	ap, an := bytesArg(aad)
	err := k.read(func(p *C.secllama_keyset) C.secllama_status {
		return C.secllama_keyset_seal(p, pp, pn, ap, an, &out)
	})
	runtime.KeepAlive(plaintext)
	runtime.KeepAlive(aad)
	if err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// Open decrypts an envelope made by Seal with the same aad. A modified envelope, another
// keyset or another aad fails with ErrAuthenticationFailed (or ErrKeyUnknown).
func (k *Keyset) Open(envelope, aad []byte) ([]byte, error) {
	var out C.secllama_buf
	ep, en := bytesArg(envelope)
	ap, an := bytesArg(aad)
	err := k.read(func(p *C.secllama_keyset) C.secllama_status {
		return C.secllama_keyset_open(p, ep, en, ap, an, &out)
	})
	runtime.KeepAlive(envelope)
	runtime.KeepAlive(aad)
	if err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// Bytes serializes the keyset including its keys: a secret, store it only sealed.
func (k *Keyset) Bytes() ([]byte, error) {
	var out C.secllama_buf
	if err := k.read(func(p *C.secllama_keyset) C.secllama_status {
		return C.secllama_keyset_to_bytes(p, &out)
	}); err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// Rotate adds a fresh primary key and returns its id.
func (k *Keyset) Rotate() (uint32, error) {
	var id C.uint32_t
	err := k.write(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_rotate(p, &id) })
	return uint32(id), err
}

// PrimaryID is the id of the sealing key.
func (k *Keyset) PrimaryID() (uint32, error) {
	var id C.uint32_t
	err := k.read(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_primary_id(p, &id) })
	return uint32(id), err
}

// Enable re-enables a disabled key.
func (k *Keyset) Enable(id uint32) error {
	return k.write(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_enable(p, C.uint32_t(id)) })
}

// Disable disables a key other than the primary.
func (k *Keyset) Disable(id uint32) error {
	return k.write(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_disable(p, C.uint32_t(id)) })
}

// Destroy wipes a key other than the primary, keeping a tombstone.
func (k *Keyset) Destroy(id uint32) error {
	return k.write(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_destroy(p, C.uint32_t(id)) })
}

// Keys describes the keys (ids, statuses, primary, creation times).
func (k *Keyset) Keys() ([]KeyInfo, error) {
	var out C.secllama_buf
	if err := k.read(func(p *C.secllama_keyset) C.secllama_status { return C.secllama_keyset_keys_json(p, &out) }); err != nil {
		return nil, err
	}
	var keys []KeyInfo
	if err := json.Unmarshal(takeBuf(&out), &keys); err != nil {
		return nil, err
	}
	return keys, nil
}

// PasswordSeal encrypts plaintext under a password (PBKDF2-HMAC-SHA256 with iterations
// rounds; 0 means PasswordDefaultIterations).
func PasswordSeal(password, plaintext, aad []byte, iterations uint32) ([]byte, error) {
	var out C.secllama_buf
	wp, wn := bytesArg(password)
	pp, pn := bytesArg(plaintext)
	ap, an := bytesArg(aad)
	err := call(func() C.secllama_status {
		return C.secllama_password_seal(wp, wn, C.uint32_t(iterations), pp, pn, ap, an, &out)
	})
	runtime.KeepAlive(password)
	runtime.KeepAlive(plaintext)
	runtime.KeepAlive(aad)
	if err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// PasswordOpen decrypts a PasswordSeal envelope.
func PasswordOpen(password, envelope, aad []byte) ([]byte, error) {
	var out C.secllama_buf
	wp, wn := bytesArg(password)
	ep, en := bytesArg(envelope)
	ap, an := bytesArg(aad)
	err := call(func() C.secllama_status {
		return C.secllama_password_open(wp, wn, ep, en, ap, an, &out)
	})
	runtime.KeepAlive(password)
	runtime.KeepAlive(envelope)
	runtime.KeepAlive(aad)
	if err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// Capabilities is what the OS sandbox can enforce here (see ProbeSandbox).
type Capabilities struct {
	OS                string  `json:"os"`
	Kernel            *string `json:"kernel"`
	Root              bool    `json:"root"`
	LandlockABI       *uint32 `json:"landlock_abi"`
	SeccompFilter     bool    `json:"seccomp_filter"`
	UserNamespaces    bool    `json:"user_namespaces"`
	NetworkNamespaces bool    `json:"network_namespaces"`
	NamespaceError    *string `json:"namespace_error"`
}

// ProbeSandbox reports what this OS and kernel can enforce.
func ProbeSandbox() (*Capabilities, error) {
	var out C.secllama_buf
	if err := call(func() C.secllama_status { return C.secllama_sandbox_probe_json(&out) }); err != nil {
		return nil, err
	}
	var c Capabilities
	if err := json.Unmarshal(takeBuf(&out), &c); err != nil {
		return nil, err
	}
	return &c, nil
}

// cString makes a C copy of s; a NUL inside s is refused (the C API would cut the string).
func cString(s string) (*C.char, error) {
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return nil, &Error{Code: StatusInvalidArgument, Message: "string contains a NUL byte"}
		}
	}
	return C.CString(s), nil
}

// cStrings is an array of C strings in C memory (C may not be given Go memory that holds Go
// pointers). The zero value is an empty array (NULL); free releases everything, also after a
// failed copy.
type cStrings struct {
	arr  unsafe.Pointer
	strs []*C.char
}

// newCStrings copies ss into C memory.
func newCStrings(ss []string) (*cStrings, error) {
	cs := &cStrings{}
	if len(ss) == 0 {
		return cs, nil
	}
	cs.arr = C.calloc(C.size_t(len(ss)), C.size_t(unsafe.Sizeof((*C.char)(nil))))
	list := unsafe.Slice((**C.char)(cs.arr), len(ss))
	for i, s := range ss {
		c, err := cString(s)
		if err != nil {
			cs.free()
			return nil, err
		}
		cs.strs = append(cs.strs, c)
		list[i] = c
	}
	return cs, nil
}

// ptr is the array as C takes it (NULL when empty).
func (cs *cStrings) ptr() **C.char { return (**C.char)(cs.arr) }

func (cs *cStrings) free() {
	for _, s := range cs.strs {
		C.free(unsafe.Pointer(s))
	}
	C.free(cs.arr)
	cs.arr, cs.strs = nil, nil
}
