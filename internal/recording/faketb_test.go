package recording

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// fakeTB stands in for the testing.TB a Recorder reports to, so tests can
// assert the failures a Recorder produces. Methods it does not override
// (TempDir, Setenv, ...) go to the real test it wraps.
type fakeTB struct {
	testing.TB
	name string

	mu       sync.Mutex
	errors   []string
	logs     []string
	failed   bool
	skipped  bool
	cleanups []func()
}

func newFakeTB(t *testing.T, name string) *fakeTB {
	return &fakeTB{TB: t, name: name}
}

func (f *fakeTB) Name() string { return f.name }
func (f *fakeTB) Helper()      {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
	f.failed = true
}

func (f *fakeTB) Error(args ...any) { f.Errorf("%s", fmt.Sprint(args...)) }

// Fatalf records the failure and ends the calling goroutine, which run
// started, like the real Fatalf ends a test's goroutine.
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }

func (f *fakeTB) Skip(args ...any) {
	f.mu.Lock()
	f.skipped = true
	f.mu.Unlock()
	runtime.Goexit()
}

func (f *fakeTB) Logf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.logs = append(f.logs, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Failed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.failed
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// run calls body on a new goroutine, so Fatalf can end it, then runs the
// registered cleanups in reverse order, like the testing package. It
// reports whether body returned normally.
func (f *fakeTB) run(body func(tb *fakeTB)) (completed bool) {
	done := make(chan bool)
	go func() {
		ok := false
		defer func() { done <- ok }()
		body(f)
		ok = true
	}()
	completed = <-done
	f.mu.Lock()
	cleanups := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	return completed
}

func (f *fakeTB) allErrors() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return strings.Join(f.errors, "\n")
}

// mustPass fails t if the fake test recorded a failure.
func (f *fakeTB) mustPass(t *testing.T) {
	t.Helper()
	if f.Failed() {
		t.Fatalf("fake test %s failed:\n%s", f.name, f.allErrors())
	}
}

// mustFailWith fails t unless the fake test failed with every want in its messages.
func (f *fakeTB) mustFailWith(t *testing.T, wants ...string) {
	t.Helper()
	if !f.Failed() {
		t.Fatalf("fake test %s passed; want a failure", f.name)
	}
	msg := f.allErrors()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("failure of %s does not contain %q; got:\n%s", f.name, w, msg)
		}
	}
}
