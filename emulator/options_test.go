package emulator

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// TestNewValidationErrors: every option New rejects gives a
// *ValidationError wrapping ErrInvalidArgument, named after the option,
// whose message shows no key and no URL.
func TestNewValidationErrors(t *testing.T) {
	const secret = "secret-0123456789-0123456789-0123456789"
	handler := func(h EventHandler) map[string]HubOptions {
		return map[string]HubOptions{"chat": {EventHandlers: []EventHandler{{URLTemplate: "http://h/ok"}, h}}}
	}
	tests := []struct {
		name string
		opts Options
		want string // the whole message
	}{
		{"short key", Options{AccessKey: "short-" + secret[:10]}, "invalid AccessKey: must be at least 32 bytes long"},
		{"key with ;", Options{AccessKey: secret + ";"}, "invalid AccessKey: must not contain ';' or control characters"},
		{"key with a control character", Options{AccessKey: secret + "\x7f"}, "invalid AccessKey: must not contain ';' or control characters"},
		{"key with a space", Options{AccessKey: " " + secret}, "invalid AccessKey: must not have leading or trailing whitespace"},
		{"short secondary key", Options{SecondaryAccessKey: "short-" + secret[:10]}, "invalid SecondaryAccessKey: must be at least 32 bytes long"},
		{"negative retention", Options{ReliableRetention: -time.Second}, `invalid ReliableRetention "-1s": must not be negative (zero means the default, 30s)`},
		{"negative handler timeout", Options{EventHandlerTimeout: -1}, `invalid EventHandlerTimeout "-1ns": must not be negative (zero means the default, 1m40s)`},
		{"negative ping interval", Options{PingInterval: -time.Minute}, `invalid PingInterval "-1m0s": must not be negative (zero means the default, 30s)`},
		{"negative idle timeout", Options{IdleTimeout: -time.Millisecond}, `invalid IdleTimeout "-1ms": must not be negative (zero means the default, 2m0s)`},
		{"negative close timeout", Options{CloseTimeout: -2 * time.Second}, `invalid CloseTimeout "-2s": must not be negative (zero means the default, 5s)`},
		{"negative read header timeout", Options{ReadHeaderTimeout: -time.Second}, `invalid ReadHeaderTimeout "-1s": must not be negative (zero means the default, 10s)`},
		{"negative HTTP idle timeout", Options{HTTPIdleTimeout: -time.Second}, `invalid HTTPIdleTimeout "-1s": must not be negative (zero means the default, 1m0s)`},
		{"negative header limit", Options{MaxHeaderBytes: -1}, `invalid MaxHeaderBytes "-1": must not be negative (zero means the default, 1 MiB)`},
		{"negative retry delay", Options{EventHandlerRetryDelays: []time.Duration{time.Second, -time.Second}}, `invalid EventHandlerRetryDelays[1] "-1s": must not be negative`},
		{"port below range", Options{Port: -1}, `invalid Port "-1": must be in 0..65535 (0 picks a free port)`},
		{"port above range", Options{Port: 65536}, `invalid Port "65536": must be in 0..65535 (0 picks a free port)`},
		{"endpoint not http", Options{PublicEndpoint: "ws://x"}, "invalid PublicEndpoint: must be an absolute http or https URL without query, fragment or user info"},
		{"endpoint with user info", Options{PublicEndpoint: "http://u:" + secret + "@x"}, "invalid PublicEndpoint: must be an absolute http or https URL without query, fragment or user info"},
		{"endpoint with a query", Options{PublicEndpoint: "http://x/?code=" + secret}, "invalid PublicEndpoint: must be an absolute http or https URL without query, fragment or user info"},
		{"invalid hub key", Options{Hubs: map[string]HubOptions{"1x": {}}}, `invalid Hubs key "1x": ` + names.HubReason + `, or be "*"`},
		{"two keys for one hub", Options{Hubs: map[string]HubOptions{"chat": {}, "CHAT": {}}}, `invalid Hubs "chat": has two keys for this hub (keys are case-insensitive)`},
		{"handler without URL", Options{Hubs: handler(EventHandler{})}, `invalid Hubs["chat"].EventHandlers[1]: URLTemplate is required`},
		{"handler URL not http", Options{Hubs: handler(EventHandler{URLTemplate: "ftp://h/x?code=" + secret})}, `invalid Hubs["chat"].EventHandlers[1]: URLTemplate must be an absolute http or https URL`},
		{"handler URL with {event} in the host", Options{Hubs: handler(EventHandler{URLTemplate: "http://{event}.example/?code=" + secret})}, `invalid Hubs["chat"].EventHandlers[1]: URLTemplate must not have {event} in its host`},
		{"handler URL with user info", Options{Hubs: handler(EventHandler{URLTemplate: "http://u:" + secret + "@h/"})}, `invalid Hubs["chat"].EventHandlers[1]: URLTemplate must be an absolute http or https URL with a host and no user info`},
		{"handler with an unknown system event", Options{Hubs: handler(EventHandler{URLTemplate: "http://h/?code=" + secret, SystemEvents: []string{"connecting"}})}, `invalid Hubs["chat"].EventHandlers[1]: SystemEvents has "connecting"; want connect, connected or disconnected`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(tt.opts)
			if err == nil {
				_ = e.Close()
				t.Fatal("New succeeded")
			}
			if err.Error() != tt.want {
				t.Errorf("error %q,\nwant  %q", err, tt.want)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("%v does not wrap ErrInvalidArgument", err)
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("%T is not a *ValidationError", err)
			}
			// The message is "invalid <Name>[ <quoted Value>]: <Reason>".
			if head := strings.TrimPrefix(tt.want, "invalid "); !strings.HasPrefix(head, ve.Name+": ") && !strings.HasPrefix(head, ve.Name+` "`) {
				t.Errorf("Name %q does not begin %q", ve.Name, head)
			}
			if strings.Contains(err.Error(), secret[7:]) {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}
