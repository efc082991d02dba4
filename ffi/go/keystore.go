package secllama

/*
#include <stdlib.h>
#include "secllama.h"
*/
import "C"

import (
	"encoding/json"
	"runtime"
	"sync"
	"unsafe"
)

// Keystore is the keyset of one service in the OS keychain (Secret Service, kernel keyring,
// macOS Keychain, Windows Credential Manager). Every method is one locked transaction; a
// Keystore may be used from several goroutines.
type Keystore struct {
	mu  sync.RWMutex
	ptr *C.secllama_keystore
}

// KeystoreStatus describes a service's keys, never their bytes.
type KeystoreStatus struct {
	Backend        string    `json:"backend"`
	Service        string    `json:"service"`
	SurvivesReboot bool      `json:"survives_reboot"`
	Primary        uint32    `json:"primary"`
	Keys           []KeyInfo `json:"keys"`
}

// OpenKeystore opens the keychain for service (1 to 64 of A-Z a-z 0-9 . _ -). backend is
// "secret-service", "keyutils", "keychain", "credential-manager", or "" for SECLLAMA_KEYSTORE /
// the OS default.
func OpenKeystore(service, backend string) (*Keystore, error) {
	cs, err := cString(service)
	if err != nil {
		return nil, err
	}
	defer C.free(unsafe.Pointer(cs))
	var cb *C.char
	if backend != "" {
		if cb, err = cString(backend); err != nil {
			return nil, err
		}
		defer C.free(unsafe.Pointer(cb))
	}
	var p *C.secllama_keystore
	if err := call(func() C.secllama_status { return C.secllama_keystore_open(cs, cb, &p) }); err != nil {
		return nil, err
	}
	k := &Keystore{ptr: p}
	runtime.SetFinalizer(k, (*Keystore).Close)
	return k, nil
}

// Close frees the handle (the keys stay in the keychain). Safe to call twice.
func (k *Keystore) Close() error {
	k.mu.Lock()
	defer k.mu.Unlock()
	C.secllama_keystore_free(k.ptr)
	k.ptr = nil
	runtime.SetFinalizer(k, nil)
	return nil
}

func (k *Keystore) do(f func(p *C.secllama_keystore) C.secllama_status) error {
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.ptr == nil {
		return ErrClosed
	}
	return call(func() C.secllama_status { return f(k.ptr) })
}

// Backend is the keychain's name, e.g. "secret-service".
func (k *Keystore) Backend() (string, error) {
	var name *C.char
	if err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_backend(p, &name) }); err != nil {
		return "", err
	}
	return C.GoString(name), nil
}

// Init creates the service's keyset; ErrKeystoreAlreadyInitialized if it has one.
func (k *Keystore) Init() error {
	return k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_init(p) })
}

// InitOrReuse creates the keyset unless there is one; it reports whether it created it.
func (k *Keystore) InitOrReuse() (bool, error) {
	var created C.bool
	err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_init_or_reuse(p, &created) })
	return bool(created), err
}

// Load reads the keyset (creating it on first use). Close the returned Keyset.
func (k *Keystore) Load() (*Keyset, error) {
	var ks *C.secllama_keyset
	if err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_load(p, &ks) }); err != nil {
		return nil, err
	}
	return newKeyset(ks), nil
}

// StatusJSON is the service's status as the library's JSON.
func (k *Keystore) StatusJSON() ([]byte, error) {
	var out C.secllama_buf
	if err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_status_json(p, &out) }); err != nil {
		return nil, err
	}
	return takeBuf(&out), nil
}

// Status describes the service's keys; ErrKeystoreNotInitialized if it has none.
func (k *Keystore) Status() (*KeystoreStatus, error) {
	raw, err := k.StatusJSON()
	if err != nil {
		return nil, err
	}
	var s KeystoreStatus
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// Rotate adds a fresh primary key in the keychain and returns its id.
func (k *Keystore) Rotate() (uint32, error) {
	var id C.uint32_t
	err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_rotate(p, &id) })
	return uint32(id), err
}

// Enable re-enables a stored key.
func (k *Keystore) Enable(id uint32) error {
	return k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_enable(p, C.uint32_t(id)) })
}

// Disable disables a stored key other than the primary.
func (k *Keystore) Disable(id uint32) error {
	return k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_disable(p, C.uint32_t(id)) })
}

// Destroy deletes a stored key other than the primary, keeping a tombstone. A key that was
// primary less than the grace period (24 h) ago gives ErrKeystoreRecentlyPrimary, since a
// running process may still seal with it: see DestroyForced.
func (k *Keystore) Destroy(id uint32) error {
	return k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_destroy(p, C.uint32_t(id)) })
}

// DestroyForced is Destroy without the grace period, for a key that was primary until a
// recent rotation; call it only when no process can still hold the old keyset. The primary
// key is still refused (ErrKeyIsPrimary).
func (k *Keystore) DestroyForced(id uint32) error {
	return k.do(func(p *C.secllama_keystore) C.secllama_status {
		return C.secllama_keystore_destroy_forced(p, C.uint32_t(id))
	})
}

// Delete removes every entry of the service and returns how many there were.
func (k *Keystore) Delete() (int, error) {
	var n C.size_t
	err := k.do(func(p *C.secllama_keystore) C.secllama_status { return C.secllama_keystore_delete(p, &n) })
	return int(n), err
}
