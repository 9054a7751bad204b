package testclient_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// service is an emulator and a ServiceClient for its hub "chat".
type service struct {
	e      *emulator.Emulator
	client *webpubsub.ServiceClient
}

func start(t *testing.T) *service {
	t.Helper()
	e := emulator.NewTest(t)
	c, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	return &service{e: e, client: c}
}

// token signs a client token for hub chat with claims added to aud and exp.
func (s *service) token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	c := jwt.MapClaims{"aud": s.e.URL() + "/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		c[k] = v
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(s.e.AccessKey()))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (s *service) url(t *testing.T, claims jwt.MapClaims) string {
	return s.e.ClientURL("chat") + "?access_token=" + s.token(t, claims)
}

var roles = jwt.MapClaims{"sub": "alice", "role": []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}}

func TestDialReadsTheConnectedFrame(t *testing.T) {
	s := start(t)
	for _, tc := range []struct {
		subprotocols []string
		want         string
		reconnection bool
	}{
		{[]string{testclient.JSON}, testclient.JSON, false},
		{[]string{testclient.ReliableJSON}, testclient.ReliableJSON, true},
		{[]string{"unknown.v1", testclient.JSON}, testclient.JSON, false},
	} {
		c := testclient.Dial(t, s.url(t, roles), &testclient.Options{Subprotocols: tc.subprotocols})
		if c.Subprotocol() != tc.want || c.ConnectionID() == "" || c.UserID() != "alice" ||
			(c.ReconnectionToken() != "") != tc.reconnection || c.Response().StatusCode != http.StatusSwitchingProtocols {
			t.Errorf("%v: subprotocol %q, connected %+v, status %d", tc.subprotocols, c.Subprotocol(), c.Connected(), c.Response().StatusCode)
		}
	}

	// SkipConnected leaves the frame to the first read.
	c := testclient.Dial(t, s.url(t, nil), &testclient.Options{Subprotocols: []string{testclient.JSON}, SkipConnected: true})
	if f := c.ExpectSystem(protocol.EventConnected); f.ConnectionID == "" || c.ConnectionID() != "" {
		t.Fatalf("connected %+v, ConnectionID %q", f, c.ConnectionID())
	}

	// A token in the Authorization header instead of the query.
	h := http.Header{"Authorization": {"Bearer " + s.token(t, jwt.MapClaims{"sub": "bob"})}}
	if c := testclient.Dial(t, s.e.ClientURL("chat"), &testclient.Options{Subprotocols: []string{testclient.JSON}, Header: h}); c.UserID() != "bob" {
		t.Fatalf("user %q; want bob", c.UserID())
	}
}

func TestTryDialErrorsHideTheURL(t *testing.T) {
	s := start(t)
	bad := s.e.ClientURL("chat") + "?access_token=not-a-token"
	_, err := testclient.TryDial(t, bad, nil)
	var he *testclient.HandshakeError
	if !errors.As(err, &he) || he.StatusCode != http.StatusUnauthorized {
		t.Fatalf("TryDial with a bad token: %v; want a 401 HandshakeError", err)
	}
	// Nothing listens on port 1; the error comes from net/http, which
	// quotes the URL, and must not here.
	secretURL := "ws://127.0.0.1:1/client/hubs/chat?access_token=" + s.token(t, nil)
	_, err = testclient.TryDial(t, secretURL, &testclient.Options{Timeout: 5 * time.Second})
	if err == nil {
		t.Fatal("dialed a closed port")
	}
	for _, e := range []error{he, err} {
		if strings.Contains(e.Error(), "access_token") || strings.Contains(e.Error(), "127.0.0.1:1/client") {
			t.Errorf("error %q quotes the URL", e)
		}
	}
}

func TestRequests(t *testing.T) {
	s := start(t)
	c := testclient.Dial(t, s.url(t, roles), &testclient.Options{Subprotocols: []string{testclient.JSON}})
	if r := c.JoinGroup("room"); r.ErrorName() != "" || r.Ack.AckID != 1 || len(r.Before) != 0 {
		t.Fatalf("join: %+v", r)
	}
	// The echo of a sendToGroup comes before its ack.
	r := c.SendToGroup("room", protocol.DataTypeText, []byte("hi"), false)
	if r.ErrorName() != "" || r.Ack.AckID != 2 || len(r.Before) != 1 || r.Before[0].Group != "room" || string(r.Before[0].Data) != "hi" {
		t.Fatalf("send: %+v", r)
	}
	if r := c.SendToGroup("room", protocol.DataTypeJSON, []byte(`{"a":1}`), true); r.ErrorName() != "" || len(r.Before) != 0 {
		t.Fatalf("send without echo: %+v", r)
	}
	if r := c.LeaveGroup("room"); r.ErrorName() != "" || r.Ack.AckID != 4 {
		t.Fatalf("leave: %+v", r)
	}
	// No event handler: the service answers InternalServerError.
	if r := c.SendEvent("hello", protocol.DataTypeText, []byte("x")); r.ErrorName() != protocol.ErrorNameInternalServerError {
		t.Fatalf("event: %+v", r)
	}
	anon := testclient.Dial(t, s.url(t, nil), &testclient.Options{Subprotocols: []string{testclient.JSON}})
	if r := anon.JoinGroup("room"); r.ErrorName() != protocol.ErrorNameForbidden || r.Ack.AckID != 1 {
		t.Fatalf("anonymous join: %+v", r)
	}
	// A raw frame and an exact expectation.
	c.SendText(`{"type":"joinGroup","group":"g","ackId":9}`)
	c.ExpectJSON(`{"ackId":9,"success":true,"type":"ack"}`)
	c.Barrier()
}

func TestMessagesAndClose(t *testing.T) {
	s := start(t)
	ctx := context.Background()
	c := testclient.Dial(t, s.url(t, roles), &testclient.Options{Subprotocols: []string{testclient.ReliableJSON}})
	if _, err := s.client.SendToConnection(ctx, c.ConnectionID(), webpubsub.BinaryMessage([]byte{1, 2}), nil); err != nil {
		t.Fatal(err)
	}
	if f := c.ExpectMessage(protocol.DataTypeBinary, "\x01\x02"); f.From != protocol.FromServer || f.SequenceID != 1 {
		t.Fatalf("message %+v", f)
	}
	c.SequenceAck(1)
	if _, err := s.client.CloseConnection(ctx, c.ConnectionID(), &webpubsub.CloseConnectionOptions{Reason: "bye"}); err != nil {
		t.Fatal(err)
	}
	if f := c.ExpectSystem(protocol.EventDisconnected); f.Message != "bye" {
		t.Fatalf("disconnected %+v", f)
	}
	c.ExpectClose(websocket.StatusNormalClosure)

	// A raw client, now the hub's only connection, reads the data as sent.
	raw := testclient.Dial(t, s.url(t, nil), nil)
	if raw.Subprotocol() != "" {
		t.Fatalf("raw subprotocol %q", raw.Subprotocol())
	}
	// A raw client gets no connected frame: wait until the emulator has
	// registered it, which follows the upgrade.
	wctx, cancel := context.WithTimeout(ctx, testclient.DefaultTimeout)
	defer cancel()
	if _, err := s.e.WaitConnection(wctx, "chat", func(emulator.ConnectionInfo) bool { return true }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.client.SendToAll(ctx, webpubsub.BinaryMessage([]byte{0xff}), nil); err != nil {
		t.Fatal(err)
	}
	if typ, b := raw.Read(); typ != websocket.MessageBinary || string(b) != "\xff" {
		t.Fatalf("raw read %v %x", typ, b)
	}
	if err := raw.Close(websocket.StatusNormalClosure, "done"); err != nil {
		t.Fatal(err)
	}
}
