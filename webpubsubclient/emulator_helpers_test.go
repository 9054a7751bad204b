package webpubsubclient

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// ---------------------------------------------------------------------
// Emulator

// testEnv is an in-process emulator with a service client for hub "chat".
type testEnv struct {
	emu *emulator.Emulator
	svc *webpubsub.ServiceClient
	hub string
}

func newEnv(t testing.TB) *testEnv {
	t.Helper()
	return newEnvWith(t, emulator.Options{})
}

// newEnvWith starts an emulator with opts, closed at the end of the test.
func newEnvWith(t testing.TB, opts emulator.Options) *testEnv {
	t.Helper()
	e, err := emulator.New(opts)
	if err != nil {
		t.Fatalf("emulator.New: %v", err)
	}
	if err := e.Start(); err != nil {
		t.Fatalf("emulator.Start: %v", err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("emulator.Close: %v", err)
		}
	})
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatalf("NewServiceClientFromConnectionString: %v", err)
	}
	// Runs after the clients' cleanups (which stop them), before the
	// emulator closes.
	t.Cleanup(func() { checkNoGoroutines(t) })
	return &testEnv{emu: e, svc: svc, hub: "chat"}
}

// cred returns a credential that mints a token with opts on every call,
// and the number of calls.
func (e *testEnv) cred(opts webpubsub.GetClientAccessTokenOptions) (URLFunc, *atomic.Int32) {
	calls := new(atomic.Int32)
	return func(ctx context.Context) (string, error) {
		calls.Add(1)
		tok, err := e.svc.GetClientAccessToken(ctx, &opts)
		return tok.URL, err
	}, calls
}

var allRoles = []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}

// protocols runs f once per protocol. The reliable variant is skipped when
// the emulator does not support the reliable subprotocol yet.
func protocols(t *testing.T, f func(t *testing.T, p Protocol)) {
	for _, p := range []Protocol{ProtocolJSON, ProtocolReliableJSON} {
		t.Run(string(p), func(t *testing.T) { f(t, p) })
	}
}

// skipIfUnsupported skips the test when err says the service does not
// support the subprotocol (the emulator before its reliable protocol).
func skipIfUnsupported(t testing.TB, p Protocol, err error) {
	t.Helper()
	var he *HandshakeError
	if errors.As(err, &he) && he.StatusCode == http.StatusBadRequest && strings.Contains(he.Message, "not supported") {
		t.Skipf("the emulator does not support %s yet (%s); this test runs once it does", p, he.Message)
	}
}

// startClient creates a client with protocol p and a token with opts,
// starts it and stops it at the end of the test (checking for leaks).
func (e *testEnv) startClient(t testing.TB, p Protocol, tok webpubsub.GetClientAccessTokenOptions, opts *Options) (*Client, *recorder, *atomic.Int32) {
	t.Helper()
	if opts == nil {
		opts = &Options{}
	}
	opts.Protocol = p
	cred, calls := e.cred(tok)
	c, err := New(cred, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	rec := record(c)
	if err := c.Start(testContext(t)); err != nil {
		skipIfUnsupported(t, p, err)
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { stopOnly(t, c) })
	return c, rec, calls
}
