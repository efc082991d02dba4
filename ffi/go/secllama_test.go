package secllama

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

func wantCode(t *testing.T, err error, code Status) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want %s, got %v", code.Name(), err)
	}
	if e.Code != code {
		t.Fatalf("want %s, got %s: %v", code.Name(), e.Code.Name(), err)
	}
}

func TestVersionAndFeaturesDescribeThisLinuxBuild(t *testing.T) {
	if Version() != "0.1.0" {
		t.Fatalf("version %q", Version())
	}
	f := Features()
	if f&FeatureRunner == 0 || f&FeatureSecretService == 0 || f&FeatureSandboxLinux == 0 || f&FeatureKeychain != 0 {
		t.Fatalf("features %#x", f)
	}
	if StatusAuthenticationFailed.Name() != "SECLLAMA_STATUS_AUTHENTICATION_FAILED" {
		t.Fatal(StatusAuthenticationFailed.Name())
	}
}

func TestSealOpenRoundTripsAndATamperedEnvelopeIsAnAuthenticationError(t *testing.T) {
	ks, err := GenerateKeyset()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	env, err := ks.Seal([]byte("chat history"), []byte("chat/1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != len("chat history")+EnvelopeOverhead {
		t.Fatalf("envelope length %d", len(env))
	}
	pt, err := ks.Open(env, []byte("chat/1"))
	if err != nil || string(pt) != "chat history" {
		t.Fatalf("open: %q %v", pt, err)
	}
	_, err = ks.Open(env, []byte("chat/2"))
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("other aad: %v", err)
	}
	env[len(env)-1] ^= 1
	_, err = ks.Open(env, []byte("chat/1"))
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("tampered: %v", err)
	}
	if !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("message: %v", err)
	}
	_, err = ks.Open(env[:5], nil)
	wantCode(t, err, StatusMalformed)

	// Empty plaintext and nil aad are valid.
	empty, err := ks.Seal(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt, err = ks.Open(empty, nil)
	if err != nil || len(pt) != 0 {
		t.Fatalf("empty: %q %v", pt, err)
	}
}

func TestRotationKeepsOldEnvelopesOpenAndSerializationRoundTrips(t *testing.T) {
	ks, err := GenerateKeyset()
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	first, _ := ks.PrimaryID()
	env, _ := ks.Seal([]byte("old"), nil)
	second, err := ks.Rotate()
	if err != nil || second == first {
		t.Fatalf("rotate: %d %v", second, err)
	}
	if err := ks.Disable(second); !errors.Is(err, ErrKeyIsPrimary) {
		t.Fatalf("disable primary: %v", err)
	}
	raw, err := ks.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	copy, err := KeysetFromBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer copy.Close()
	pt, err := copy.Open(env, nil)
	if err != nil || string(pt) != "old" {
		t.Fatalf("open with copy: %q %v", pt, err)
	}
	keys, err := copy.Keys()
	if err != nil || len(keys) != 2 || !keys[1].Primary || keys[1].ID != second || keys[0].Status != "enabled" {
		t.Fatalf("keys: %+v %v", keys, err)
	}
	_, err = KeysetFromBytes(raw[:len(raw)/2])
	wantCode(t, err, StatusMalformed)
	other, _ := GenerateKeyset()
	defer other.Close()
	_, err = other.Open(env, nil)
	if !errors.Is(err, ErrKeyUnknown) {
		t.Fatalf("foreign keyset: %v", err)
	}
}

func TestAClosedKeysetRefusesWorkAndClosingTwiceIsHarmless(t *testing.T) {
	ks, _ := GenerateKeyset()
	ks.Close()
	ks.Close()
	_, err := ks.Seal([]byte("x"), nil)
	if !errors.Is(err, ErrClosed) {
		t.Fatalf("%v", err)
	}
}

func TestKeysetsSealAndOpenFromManyGoroutinesAtOnce(t *testing.T) {
	ks, _ := GenerateKeyset()
	defer ks.Close()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			msg := []byte(fmt.Sprintf("message %d", i))
			env, err := ks.Seal(msg, nil)
			if err == nil {
				var pt []byte
				pt, err = ks.Open(env, nil)
				if err == nil && !bytes.Equal(pt, msg) {
					err = fmt.Errorf("got %q", pt)
				}
			}
			errs <- err
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestPasswordSealingRoundTripsAndRefusesBadInput(t *testing.T) {
	pw := []byte("correct horse battery staple")
	env, err := PasswordSeal(pw, []byte("export"), []byte("v1"), PasswordMinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != len("export")+PasswordOverhead || env[0] != 2 {
		t.Fatalf("envelope %d bytes, version %d", len(env), env[0])
	}
	pt, err := PasswordOpen(pw, env, []byte("v1"))
	if err != nil || string(pt) != "export" {
		t.Fatalf("open: %q %v", pt, err)
	}
	_, err = PasswordOpen([]byte("wrong"), env, []byte("v1"))
	if !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	_, err = PasswordSeal(pw, nil, nil, 10)
	if !errors.Is(err, ErrInvalidIterations) {
		t.Fatalf("10 iterations: %v", err)
	}
	_, err = PasswordSeal(nil, []byte("x"), nil, PasswordMinIterations)
	if !errors.Is(err, ErrEmptyPassword) {
		t.Fatalf("empty password: %v", err)
	}
}

func TestSandboxProbeReportsLinux(t *testing.T) {
	caps, err := ProbeSandbox()
	if err != nil {
		t.Fatal(err)
	}
	if caps.OS != "linux" {
		t.Fatalf("%+v", caps)
	}
}

func TestKeystoreArgumentsAreCheckedBeforeTheKeychain(t *testing.T) {
	_, err := OpenKeystore("bad/name", "")
	wantCode(t, err, StatusKeystoreInvalidService)
	_, err = OpenKeystore("ok", "file")
	wantCode(t, err, StatusKeystoreUnknownBackend)
	_, err = OpenKeystore("\xff", "")
	wantCode(t, err, StatusInvalidUTF8)
	_, err = OpenKeystore("a\x00b", "")
	wantCode(t, err, StatusInvalidArgument)
}

func TestKeychainInitRotateStatusAndDeleteAgainstTheSecretService(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" && os.Getenv("SECLLAMA_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no D-Bus session bus: run inside .ci/test-in-session.sh")
	}
	service := fmt.Sprintf("secllama-ffi-go-%d-%d", os.Getpid(), time.Now().UnixNano())
	ks, err := OpenKeystore(service, "secret-service")
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	_, err = ks.Status()
	if !errors.Is(err, ErrKeystoreNotInitialized) {
		t.Fatalf("status before init: %v", err)
	}
	if err := ks.Init(); err != nil {
		t.Fatal(err)
	}
	defer ks.Delete()
	if err := ks.Init(); !errors.Is(err, ErrKeystoreAlreadyInitialized) {
		t.Fatalf("second init: %v", err)
	}
	keys, err := ks.Load()
	if err != nil {
		t.Fatal(err)
	}
	env, _ := keys.Seal([]byte("kept"), nil)
	keys.Close()
	id, err := ks.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	st, err := ks.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Backend != "secret-service" || st.Service != service || st.Primary != id || len(st.Keys) != 2 || !st.SurvivesReboot {
		t.Fatalf("status %+v", st)
	}
	keys, err = ks.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	pt, err := keys.Open(env, nil)
	if err != nil || string(pt) != "kept" {
		t.Fatalf("open after rotate: %q %v", pt, err)
	}
	n, err := ks.Delete()
	if err != nil || n != 4 { // two keys, the primary record, the index
		t.Fatalf("delete: %d %v", n, err)
	}
	_, err = ks.Status()
	if !errors.Is(err, ErrKeystoreNotInitialized) {
		t.Fatalf("status after delete: %v", err)
	}
}

func TestARecentlyPrimaryKeyIsDestroyedOnlyWhenForced(t *testing.T) {
	if os.Getenv("DBUS_SESSION_BUS_ADDRESS") == "" && os.Getenv("SECLLAMA_TEST_SECRET_SERVICE") != "1" {
		t.Skip("no D-Bus session bus: run inside .ci/test-in-session.sh")
	}
	service := fmt.Sprintf("secllama-ffi-go-destroy-%d-%d", os.Getpid(), time.Now().UnixNano())
	ks, err := OpenKeystore(service, "secret-service")
	if err != nil {
		t.Fatal(err)
	}
	defer ks.Close()
	if err := ks.Init(); err != nil {
		t.Fatal(err)
	}
	defer ks.Delete()
	keys, err := ks.Load()
	if err != nil {
		t.Fatal(err)
	}
	env, _ := keys.Seal([]byte("old"), nil)
	first, err := keys.PrimaryID()
	keys.Close()
	if err != nil {
		t.Fatal(err)
	}
	second, err := ks.Rotate()
	if err != nil {
		t.Fatal(err)
	}
	err = ks.Destroy(first)
	if !errors.Is(err, ErrKeystoreRecentlyPrimary) || !strings.Contains(err.Error(), "grace period") {
		t.Fatalf("destroy of the old primary: %v", err)
	}
	if err := ks.DestroyForced(second); !errors.Is(err, ErrKeyIsPrimary) {
		t.Fatalf("forced destroy of the primary: %v", err)
	}
	if err := ks.DestroyForced(first); err != nil {
		t.Fatalf("forced destroy: %v", err)
	}
	st, err := ks.Status()
	if err != nil {
		t.Fatal(err)
	}
	got := map[uint32]string{}
	for _, k := range st.Keys {
		got[k.ID] = k.Status
	}
	if len(got) != 2 || got[first] != "destroyed" || got[second] != "enabled" {
		t.Fatalf("keys after forced destroy: %+v", st.Keys)
	}
	keys, err = ks.Load()
	if err != nil {
		t.Fatal(err)
	}
	defer keys.Close()
	if _, err := keys.Open(env, nil); !errors.Is(err, ErrKeyDestroyed) {
		t.Fatalf("open under the destroyed key: %v", err)
	}
}
