package webpubsubclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

func TestResolveOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    *Options
		wantErr string
		check   func(t *testing.T, c config)
	}{
		{name: "nil means defaults", check: func(t *testing.T, c config) {
			want := config{
				protocol: ProtocolReliableJSON, reliable: true, autoReconnect: true, autoRejoin: true,
				reconnect:         retryPolicy{maxRetries: -1, delay: time.Second, maxDelay: 30 * time.Second},
				message:           retryPolicy{maxRetries: 3, delay: time.Second, maxDelay: 30 * time.Second},
				keepAliveInterval: 20 * time.Second, keepAliveTimeout: 120 * time.Second, ackTimeout: 30 * time.Second,
				recoveryWindow: 30 * time.Second, recoveryInterval: time.Second, sequenceAckInterval: time.Second,
			}
			if c.log != slog.Default() {
				t.Error("the default logger is not slog.Default()")
			}
			c.httpClient, c.log = nil, nil
			if c != want {
				t.Errorf("defaults = %+v\nwant       %+v", c, want)
			}
		}},
		{name: "json protocol", opts: &Options{Protocol: ProtocolJSON}, check: func(t *testing.T, c config) {
			if c.reliable || c.protocol != ProtocolJSON {
				t.Errorf("protocol = %s reliable = %v", c.protocol, c.reliable)
			}
		}},
		{name: "negatives disable", opts: &Options{KeepAliveInterval: -1, KeepAliveTimeout: -1, AckTimeout: -1, RecoveryWindow: -1,
			MessageRetry: RetryOptions{MaxRetries: -1}, ReconnectRetry: RetryOptions{MaxRetries: -5}}, check: func(t *testing.T, c config) {
			if c.keepAliveInterval != 0 || c.keepAliveTimeout != 0 || c.ackTimeout != 0 || c.recoveryWindow != 0 {
				t.Errorf("not disabled: %+v", c)
			}
			if c.message.maxRetries != 0 || c.reconnect.maxRetries != 0 {
				t.Errorf("retries = %d, %d; want none", c.message.maxRetries, c.reconnect.maxRetries)
			}
		}},
		{name: "switches", opts: &Options{DisableAutoReconnect: true, DisableAutoRejoinGroups: true}, check: func(t *testing.T, c config) {
			if c.autoReconnect || c.autoRejoin {
				t.Errorf("autoReconnect %v autoRejoin %v", c.autoReconnect, c.autoRejoin)
			}
		}},
		{name: "unknown protocol", opts: &Options{Protocol: "mqtt"}, wantErr: "invalid Protocol"},
		{name: "negative delay", opts: &Options{MessageRetry: RetryOptions{Delay: -1}}, wantErr: "invalid MessageRetry.Delay"},
		{name: "negative max delay", opts: &Options{ReconnectRetry: RetryOptions{MaxDelay: -1}}, wantErr: "invalid ReconnectRetry.MaxDelay"},
		{name: "unknown mode", opts: &Options{ReconnectRetry: RetryOptions{Mode: 7}}, wantErr: "invalid ReconnectRetry.Mode"},
		{name: "negative recovery interval", opts: &Options{RecoveryInterval: -1}, wantErr: "invalid RecoveryInterval"},
		{name: "negative sequence ack interval", opts: &Options{SequenceAckInterval: -1}, wantErr: "invalid SequenceAckInterval"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := resolveOptions(tt.opts)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if _, err := New(StaticURL("ws://h/client/hubs/x"), tt.opts); err == nil {
					t.Errorf("New accepted the options")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, c)
		})
	}
}

func TestNewRejectsNilCredential(t *testing.T) {
	if _, err := New(nil, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("New(nil) = %v", err)
	}
	var f URLFunc
	if _, err := New(f, nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("New(nil URLFunc) = %v", err)
	}
}

func TestRetryPolicyWait(t *testing.T) {
	tests := []struct {
		name string
		p    retryPolicy
		want []time.Duration // waits before retries 1, 2, ...
	}{
		{"fixed", retryPolicy{delay: time.Second, maxDelay: 30 * time.Second}, []time.Duration{time.Second, time.Second, time.Second}},
		{"fixed capped", retryPolicy{delay: time.Minute, maxDelay: 30 * time.Second}, []time.Duration{30 * time.Second}},
		{"exponential", retryPolicy{delay: time.Second, maxDelay: 30 * time.Second, mode: RetryModeExponential},
			[]time.Duration{1, 2, 4, 8, 16, 30, 30}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, w := range tt.want {
				if tt.p.mode == RetryModeExponential {
					w *= time.Second
				}
				if got := tt.p.wait(i + 1); got != w {
					t.Errorf("wait(%d) = %v, want %v", i+1, got, w)
				}
			}
		})
	}
	if got := (retryPolicy{delay: time.Second, maxDelay: time.Hour, mode: RetryModeExponential}).wait(1000); got != time.Hour {
		t.Errorf("wait(1000) = %v; must not overflow", got)
	}
	for _, tt := range []struct {
		max  int
		n    int
		want bool
	}{{-1, 1000, true}, {0, 1, false}, {3, 3, true}, {3, 4, false}} {
		if got := (retryPolicy{maxRetries: tt.max}).allows(tt.n); got != tt.want {
			t.Errorf("maxRetries %d allows(%d) = %v", tt.max, tt.n, got)
		}
	}
}

func TestSequence(t *testing.T) {
	var s sequence
	steps := []struct {
		observe      uint64
		fresh, quick bool
	}{
		{1, true, false}, {2, true, false}, {2, false, false}, {1, false, false}, {5, true, false}, {400, true, true},
	}
	for _, st := range steps {
		fresh, quick := s.observe(st.observe)
		if fresh != st.fresh || quick != st.quick {
			t.Errorf("observe(%d) = %v, %v; want %v, %v", st.observe, fresh, quick, st.fresh, st.quick)
		}
	}
	id, ok := s.take()
	if !ok || id != 400 {
		t.Fatalf("take = %d, %v", id, ok)
	}
	if _, ok := s.take(); ok {
		t.Error("take again without news")
	}
	s.done(id, false) // the send failed: pending again
	if id, ok := s.take(); !ok || id != 400 {
		t.Errorf("take after a failed send = %d, %v", id, ok)
	}
	s.done(400, true)
	if _, quick := s.observe(700); quick {
		t.Error("a gap of 300 from the last ack must not be quick")
	}
	if _, quick := s.observe(701); !quick {
		t.Error("a gap of 301 from the last ack must be quick")
	}
	s.reset()
	if fresh, _ := s.observe(1); !fresh {
		t.Error("after reset, 1 is new")
	}
}

func TestMessages(t *testing.T) {
	ch := make(chan int)
	tests := []struct {
		name     string
		msg      Message
		wantType DataType
		wantData string
		wantErr  string
	}{
		{"text", TextMessage("héllo"), DataTypeText, "héllo", ""},
		{"empty text", TextMessage(""), DataTypeText, "", "is empty"},
		{"empty binary", BinaryMessage(nil), DataTypeBinary, "", "is empty"},
		{"invalid UTF-8 text", TextMessage("a\xffb"), DataTypeText, "a\uFFFDb", ""},
		{"binary", BinaryMessage([]byte{0, 1, 2}), DataTypeBinary, "\x00\x01\x02", ""},
		{"json object", JSONMessage(map[string]any{"a": "<b>"}), DataTypeJSON, `{"a":"<b>"}`, ""},
		{"json string", JSONMessage("hi"), DataTypeJSON, `"hi"`, ""},
		{"raw json compacted", JSONMessage(json.RawMessage(`{ "x" : [1, 2] }`)), DataTypeJSON, `{"x":[1,2]}`, ""},
		{"json null", JSONMessage(nil), DataTypeJSON, "", "JSON null"},
		{"json unencodable", JSONMessage(ch), DataTypeJSON, "", "cannot be encoded as JSON"},
		{"invalid raw json", JSONMessage(json.RawMessage(`{`)), DataTypeJSON, "", "cannot be encoded as JSON"},
		{"zero", Message{}, "", "", "zero Message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg.validate()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrInvalidArgument) {
					t.Fatalf("validate = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.msg.DataType() != tt.wantType || string(tt.msg.Bytes()) != tt.wantData {
				t.Errorf("got %s %q", tt.msg.DataType(), tt.msg.Bytes())
			}
		})
	}
	b := []byte{1}
	m := BinaryMessage(b)
	b[0] = 9
	if m.Bytes()[0] != 1 {
		t.Error("BinaryMessage must copy its input")
	}
}

// TestArgumentValidation checks that bad arguments fail on the client,
// before anything is sent (the client here is started against nothing).
func TestArgumentValidation(t *testing.T) {
	c, err := New(StaticURL("ws://localhost:1/client/hubs/chat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	// A run is needed to get past ErrNotStarted; none of these reach it.
	ctx := context.Background()
	big := TextMessage(strings.Repeat("a", 1<<20))
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"empty group", func() error { _, err := c.JoinGroup(ctx, "", nil); return err }, "invalid group"},
		{"blank group", func() error { _, err := c.LeaveGroup(ctx, "  ", nil); return err }, "invalid group"},
		{"line feed in group", func() error { _, err := c.SendToGroup(ctx, "a\nb", TextMessage("x"), nil); return err }, "invalid group"},
		{"long group", func() error { _, err := c.JoinGroup(ctx, strings.Repeat("g", 1025), nil); return err }, "invalid group"},
		{"bad event name", func() error { _, err := c.SendEvent(ctx, "1abc", TextMessage("x"), nil); return err }, "invalid event"},
		{"zero message", func() error { _, err := c.SendToGroup(ctx, "g", Message{}, nil); return err }, "zero Message"},
		{"null json", func() error { _, err := c.SendEvent(ctx, "e", JSONMessage(nil), nil); return err }, "JSON null"},
		{"ack id too large", func() error {
			_, err := c.JoinGroup(ctx, "g", &JoinGroupOptions{AckID: MaxAckID + 1})
			return err
		}, "invalid AckID"},
		{"ack id with fire and forget", func() error {
			_, err := c.SendToGroup(ctx, "g", TextMessage("x"), &SendToGroupOptions{AckID: 3, FireAndForget: true})
			return err
		}, "invalid AckID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	// The frame size limit is checked once the frame is built.
	r := newRun(c, nil)
	defer r.cancel()
	_, err = r.invoke(ctx, frameOf(t, big), 0, false)
	if err == nil || !strings.Contains(err.Error(), "at most 1048576") {
		t.Errorf("oversized frame: %v", err)
	}
}

func TestParseClientURL(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{in: "wss://h.example/client/hubs/chat?access_token=abc", want: "wss://h.example/client/hubs/chat?access_token=abc"},
		{in: "https://h.example/client/hubs/chat?access_token=abc", want: "wss://h.example/client/hubs/chat?access_token=abc"},
		{in: "HTTP://localhost:8080/client/hubs/chat#frag", want: "ws://localhost:8080/client/hubs/chat"},
		{in: "ftp://h/x?access_token=abc", wantErr: "must be an absolute ws, wss, http or https URL"},
		{in: "/client/hubs/chat?access_token=abc", wantErr: "must be an absolute"},
		{in: "ws:///client?access_token=abc", wantErr: "has no host"},
		{in: "ws://u:p@h/client?access_token=abc", wantErr: "user information"},
		{in: "ws://h/x?access_token=abc&awps_connection_id=c", wantErr: "must not carry awps_connection_id"},
		{in: "ws://h/x?access_token=abc;%zz", wantErr: "malformed query"},
		{in: "ws://h/x\x7f?access_token=abc", wantErr: "not a valid URL"},
	}
	for _, tt := range tests {
		got, err := parseClientURL(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseClientURL(%q) = %q, %v; want error %q", tt.in, got, err, tt.wantErr)
			}
			if err != nil && strings.Contains(err.Error(), "abc") {
				t.Errorf("error reveals the token: %v", err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("parseClientURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	if got := recoveryURL("ws://h/c?access_token=a", "id 1", "t+/="); got != "ws://h/c?access_token=a&awps_connection_id=id+1&awps_reconnection_token=t%2B%2F%3D" {
		t.Errorf("recoveryURL = %q", got)
	}
	if got := recoveryURL("ws://h/c", "i", "t"); got != "ws://h/c?awps_connection_id=i&awps_reconnection_token=t" {
		t.Errorf("recoveryURL without query = %q", got)
	}
}

func TestSecretsAreRedacted(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.SECRET.SIG"
	u := StaticURL("wss://h.example/client/hubs/chat?access_token=" + secret)
	for _, s := range []string{fmt.Sprint(u), fmt.Sprintf("%v %s %q %#v %+v", u, u, u, u, u), u.String()} {
		if strings.Contains(s, secret) {
			t.Errorf("StaticURL printed as %q", s)
		}
	}
	if got := u.String(); got != "StaticURL(wss://h.example/client/hubs/chat?REDACTED)" {
		t.Errorf("String() = %q", got)
	}
	for _, in := range []string{
		`Get "ws://h/c?access_token=` + secret + `": dial tcp: refused`,
		`ws://h/c?x=1&ACCESS_TOKEN=` + secret + `&awps_reconnection_token=` + secret,
		`access_token=` + secret,
	} {
		if out := scrub(in); strings.Contains(out, secret) || !strings.Contains(out, "REDACTED") {
			t.Errorf("scrub(%q) = %q", in, out)
		}
	}

	// A connection failure names no secret, and still unwraps to the cause.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	c, err := New(StaticURL("ws://"+addr+"/client/hubs/chat?access_token="+secret), &Options{Logger: nil})
	if err != nil {
		t.Fatal(err)
	}
	err = c.Start(testContext(t))
	if err == nil {
		t.Fatal("Start succeeded against a closed port")
	}
	if strings.Contains(err.Error(), secret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), secret) {
		t.Errorf("Start error reveals the token: %v", err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("Start error %v does not unwrap to the *net.OpError", err)
	}
	checkNoGoroutines(t)
}

// frameOf builds the sendToGroup frame of msg for group "g".
func frameOf(t *testing.T, msg Message) *protocol.ClientFrame {
	t.Helper()
	if err := msg.validate(); err != nil {
		t.Fatal(err)
	}
	f := newSendToGroupFrame("g", msg, false)
	return &f
}

func TestHandlerRegistration(t *testing.T) {
	c, err := New(StaticURL("ws://h/client/hubs/chat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	removeA := c.OnGroupMessage(func(m GroupMessage) { got = append(got, "a:"+string(m.Data)) })
	c.OnGroupMessage(func(m GroupMessage) { got = append(got, "b:"+string(m.Data)) })
	c.OnServerMessage(func(m ServerMessage) { got = append(got, "server:"+string(m.Data)) })
	noop := c.OnConnected(nil) // a nil handler registers nothing
	noop()
	deliver := func(e event) { c.handlers.deliver(&e) }
	deliver(event{kind: evGroupMessage, group: GroupMessage{Data: []byte("1")}})
	removeA()
	removeA() // removing twice is harmless
	deliver(event{kind: evGroupMessage, group: GroupMessage{Data: []byte("2")}})
	deliver(event{kind: evServerMessage, server: ServerMessage{Data: []byte("3")}})
	deliver(event{kind: evConnected})
	if want := []string{"a:1", "b:1", "b:2", "server:3"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("handler calls = %v, want %v", got, want)
	}
}

// TestConstantsMatchProtocol pins the public constants, spelled out for
// readable documentation, to the shared protocol definitions.
func TestConstantsMatchProtocol(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{string(ProtocolReliableJSON), protocol.SubprotocolReliableJSON},
		{string(ProtocolJSON), protocol.SubprotocolJSON},
		{string(DataTypeJSON), string(protocol.DataTypeJSON)},
		{string(DataTypeText), string(protocol.DataTypeText)},
		{string(DataTypeBinary), string(protocol.DataTypeBinary)},
		{ErrorNameForbidden, protocol.ErrorNameForbidden},
		{ErrorNameDuplicate, protocol.ErrorNameDuplicate},
		{ErrorNameBadRequest, protocol.ErrorNameBadRequest},
		{ErrorNameInternalServerError, protocol.ErrorNameInternalServerError},
	} {
		if c.got != c.want {
			t.Errorf("constant %q, protocol says %q", c.got, c.want)
		}
	}
}

func TestOperationsBeforeStart(t *testing.T) {
	c, err := New(StaticURL("ws://localhost:1/client/hubs/chat?access_token=x"), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for name, call := range map[string]func() error{
		"JoinGroup":   func() error { _, err := c.JoinGroup(ctx, "g", nil); return err },
		"LeaveGroup":  func() error { _, err := c.LeaveGroup(ctx, "g", nil); return err },
		"SendToGroup": func() error { _, err := c.SendToGroup(ctx, "g", TextMessage("x"), nil); return err },
		"SendEvent":   func() error { _, err := c.SendEvent(ctx, "e", TextMessage("x"), nil); return err },
	} {
		if err := call(); !errors.Is(err, ErrNotStarted) {
			t.Errorf("%s before Start = %v, want ErrNotStarted", name, err)
		}
	}
	if err := c.Stop(ctx); err != nil {
		t.Errorf("Stop of a never-started client = %v", err)
	}
}
