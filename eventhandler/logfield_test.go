package eventhandler

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// TestRequestValuesAreCutInTheLog: every value a log line takes from a
// request (connection id, user event name, ce-type, origin, rejection
// reason) is cut to Options.MaxLogFieldBytes, 256 bytes by default.
func TestRequestValuesAreCutInTheLog(t *testing.T) {
	fail := errors.New("callback failed")
	huge := strings.Repeat("x", 100_000)
	longName := "e" + strings.Repeat("v", 100_000)
	connect := func(_ context.Context, _ *ConnectRequest) (*ConnectResponse, error) { return nil, fail }
	userFails := func(_ context.Context, _ *UserEventRequest) (*UserEventResponse, error) { return nil, fail }
	userPanics := func(_ context.Context, _ *UserEventRequest) (*UserEventResponse, error) { panic("boom") }
	connected := func(_ context.Context, _ *ConnectedRequest) error { return fail }
	tests := []struct {
		name    string
		opts    Options
		ceType  string
		extra   []string
		options bool // an abuse-protection check (OPTIONS)
	}{
		{"connect failure: connection id", Options{Connect: connect}, TypeConnect,
			[]string{cloudevents.HeaderConnectionID, huge}, false},
		{"user event failure: connection id and event name", Options{UserEvent: userFails}, TypeUserPrefix + longName,
			[]string{cloudevents.HeaderConnectionID, huge}, false},
		{"user event panic: event name", Options{UserEvent: userPanics}, TypeUserPrefix + longName, nil, false},
		{"connected failure: connection id", Options{Connected: connected, WaitForNonBlockingCallbacks: true}, TypeConnected,
			[]string{cloudevents.HeaderConnectionID, huge}, false},
		{"undecodable state: connection id and reason", Options{}, TypeConnected,
			[]string{cloudevents.HeaderConnectionID, huge, HeaderConnectionState, "!" + huge}, false},
		{"origin", Options{AllowedOrigins: []string{"good.example"}}, TypeConnected,
			[]string{HeaderRequestOrigin, huge}, true},
	}
	for _, tt := range tests {
		for _, limit := range []int{0, 16} {
			t.Run(fmt.Sprintf("%s/limit=%d", tt.name, limit), func(t *testing.T) {
				opts := tt.opts
				opts.MaxLogFieldBytes = limit
				h, logs := mustNew(t, &opts)
				body := "{}"
				if strings.HasPrefix(tt.ceType, TypeUserPrefix) {
					body = "hi"
				}
				ct := "application/json"
				if body == "hi" {
					ct = "text/plain"
				}
				r := eventRequest(tt.ceType, ct, body, tt.extra...)
				if tt.options {
					r.Method = "OPTIONS"
				}
				_ = serve(h, r)
				want := limit
				if want == 0 {
					want = DefaultMaxLogFieldBytes
				}
				out := logs.String()
				if !strings.Contains(out, "more bytes") {
					t.Fatalf("no value was cut; log:\n%.2000s", out)
				}
				if strings.Contains(out, strings.Repeat("x", want+1)) || strings.Contains(out, strings.Repeat("v", want+1)) {
					t.Errorf("a request value longer than %d bytes reached the log:\n%.2000s", want, out)
				}
				if len(out) > 4000 {
					t.Errorf("the log holds %d bytes", len(out))
				}
			})
		}
	}
}

func TestNegativeMaxLogFieldBytesIsInvalid(t *testing.T) {
	if _, err := New("chat", &Options{MaxLogFieldBytes: -1}); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("New with MaxLogFieldBytes -1: %v; want ErrInvalidArgument", err)
	}
}
