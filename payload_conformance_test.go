package webpubsub_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

// payloadCase is one payload, given to the three message builders: the
// service client's (delivered with SendToUser), webpubsubclient's
// (SendToGroup) and the event handler's (the reply to a user event).
type payloadCase struct {
	name string
	kind webpubsubclient.DataType
	text string // for text
	bin  []byte // for binary
	v    any    // for JSON; a json.RawMessage is handed over as a fresh copy
	// wantType and wantData are the "dataType" and "data" members of the
	// message a JSON-subprotocol recipient gets, byte for byte; wantType ""
	// means that no message may arrive (the builders refuse it, or the
	// reply is empty).
	wantType, wantData string
}

type htmlDoc struct {
	Title string            `json:"title"`
	Body  string            `json:"body"`
	Tags  []string          `json:"tags"`
	Attrs map[string]string `json:"attrs"`
	N     int               `json:"n"`
}

func payloadCases() []payloadCase {
	large := make([]byte, 512<<10)
	for i := range large {
		large[i] = byte(i*7 + i>>9)
	}
	const fffd = "\uFFFD"
	return []payloadCase{
		{name: "nil binary", kind: webpubsubclient.DataTypeBinary, bin: nil},
		{name: "empty binary", kind: webpubsubclient.DataTypeBinary, bin: []byte{}},
		{name: "empty text", kind: webpubsubclient.DataTypeText, text: ""},
		{name: "JSON null", kind: webpubsubclient.DataTypeJSON, v: nil},
		{name: "raw JSON null", kind: webpubsubclient.DataTypeJSON, v: json.RawMessage(" null ")},
		{name: "nil pointer as JSON", kind: webpubsubclient.DataTypeJSON, v: (*htmlDoc)(nil)},
		{name: "unencodable JSON", kind: webpubsubclient.DataTypeJSON, v: map[string]any{"f": func() {}}},
		{name: "text with HTML", kind: webpubsubclient.DataTypeText, text: "<b>&</b>",
			wantType: `"text"`, wantData: `"<b>&</b>"`},
		{name: "text with quotes and controls", kind: webpubsubclient.DataTypeText, text: "a\"b\\c\nd\te\u2028",
			wantType: `"text"`, wantData: `"a\"b\\c\nd\te` + "\u2028" + `"`},
		{name: "invalid UTF-8 text", kind: webpubsubclient.DataTypeText, text: "a\xff\xfeb\xe2\x82",
			wantType: `"text"`, wantData: `"a` + fffd + fffd + "b" + fffd + fffd + `"`},
		{name: "binary", kind: webpubsubclient.DataTypeBinary, bin: []byte{0, 1, 2, 0xff},
			wantType: `"binary"`, wantData: `"AAEC/w=="`},
		{name: "large binary", kind: webpubsubclient.DataTypeBinary, bin: large,
			wantType: `"binary"`, wantData: `"` + base64.StdEncoding.EncodeToString(large) + `"`},
		{name: "JSON string with HTML", kind: webpubsubclient.DataTypeJSON, v: "<b>&</b>",
			wantType: `"json"`, wantData: `"<b>&</b>"`},
		{name: "raw JSON with HTML", kind: webpubsubclient.DataTypeJSON, v: json.RawMessage(" { \"a\" : \"<b>&</b>\" , \"n\" : [ 1, 2 ] } "),
			wantType: `"json"`, wantData: `{"a":"<b>&</b>","n":[1,2]}`},
		{name: "Go value as JSON", kind: webpubsubclient.DataTypeJSON,
			v:        htmlDoc{Title: "<h1>", Body: `<a href="x">&amp;</a>`, Tags: []string{"&", ">"}, Attrs: map[string]string{"z": "1", "a": "<"}, N: 3},
			wantType: `"json"`, wantData: `{"title":"<h1>","body":"<a href=\"x\">&amp;</a>","tags":["&",">"],"attrs":{"a":"<","z":"1"},"n":3}`},
		{name: "Go string with invalid UTF-8 as JSON", kind: webpubsubclient.DataTypeJSON, v: "a\xffb",
			wantType: `"json"`, wantData: `"a\ufffdb"`},
		{name: "JSON number", kind: webpubsubclient.DataTypeJSON, v: 0.5,
			wantType: `"json"`, wantData: `0.5`},
	}
}

// input returns a fresh copy of the case's input and a function that
// overwrites that copy, as a caller that reuses its buffer would.
func (c payloadCase) input() (text string, bin []byte, v any, reuse func()) {
	bin = bytes.Clone(c.bin)
	if c.bin == nil {
		bin = nil
	}
	v = c.v
	var raw json.RawMessage
	if r, ok := c.v.(json.RawMessage); ok {
		raw = bytes.Clone(r)
		v = raw
	}
	return c.text, bin, v, func() {
		for i := range bin {
			bin[i] = 'X'
		}
		for i := range raw {
			raw[i] = ' '
		}
	}
}

// build builds the case's payload with one package's three builders, from
// a fresh copy of the input that it overwrites afterwards.
func build[M any](c payloadCase, text func(string) M, bin func([]byte) M, js func(any) M) M {
	t, b, v, reuse := c.input()
	defer reuse()
	switch c.kind {
	case webpubsubclient.DataTypeText:
		return text(t)
	case webpubsubclient.DataTypeBinary:
		return bin(b)
	}
	return js(v)
}

func (c payloadCase) rootMessage() webpubsub.Message {
	return build(c, webpubsub.TextMessage, webpubsub.BinaryMessage, webpubsub.JSONMessage)
}

func (c payloadCase) clientMessage() webpubsubclient.Message {
	return build(c, webpubsubclient.TextMessage, webpubsubclient.BinaryMessage, webpubsubclient.JSONMessage)
}

type builtReply struct {
	resp *eventhandler.UserEventResponse
	err  error
}

func (c payloadCase) reply() (*eventhandler.UserEventResponse, error) {
	r := build(c,
		func(s string) builtReply { return builtReply{eventhandler.Text(s), nil} },
		func(b []byte) builtReply { return builtReply{eventhandler.Binary(b), nil} },
		func(v any) builtReply { r, err := eventhandler.JSON(v); return builtReply{r, err} })
	return r.resp, r.err
}

// rawFrame is what a raw WebSocket recipient must get for the case: the
// text, the JSON text or the binary bytes, in a text or binary frame.
func (c payloadCase) rawFrame(t *testing.T) (websocket.MessageType, []byte) {
	t.Helper()
	var data any
	if err := json.Unmarshal([]byte(c.wantData), &data); err != nil {
		t.Fatalf("wantData %q: %v", c.wantData, err)
	}
	switch c.wantType {
	case `"text"`:
		return websocket.MessageText, []byte(data.(string))
	case `"binary"`:
		b, err := base64.StdEncoding.DecodeString(data.(string))
		if err != nil {
			t.Fatal(err)
		}
		return websocket.MessageBinary, b
	}
	return websocket.MessageText, []byte(c.wantData)
}

// TestPayloadConformance gives the same payloads to the three builders and
// checks that a recipient gets the same bytes from each, through the
// emulator: the "dataType" and "data" of the JSON subprotocol message, and
// the frame of a raw WebSocket client. A payload that one builder refuses,
// all refuse (a validation error, or no reply), and nothing arrives.
func TestPayloadConformance(t *testing.T) {
	cases := payloadCases()
	// The event handler replies to the event "reply" (from a JSON client)
	// and "message" (from a raw client) with the payload of the case whose
	// index is the event's data.
	onEvent := func(_ context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
		i, err := strconv.Atoi(string(req.Data))
		if err != nil || i < 0 || i >= len(cases) {
			return nil, eventhandler.Reject(http.StatusBadRequest, "no such case")
		}
		return cases[i].reply()
	}
	h, err := eventhandler.New("chat", &eventhandler.Options{
		UserEvents: map[string]eventhandler.UserEventFunc{"reply": onEvent, "message": onEvent},
		AccessKeys: []string{emulator.DefaultAccessKey},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(eventhandler.DefaultPath("chat"), h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	e := emulator.NewTest(t, emulator.WithHub("chat", emulator.HubOptions{EventHandlers: []emulator.EventHandler{{
		URLTemplate: srv.URL + "/api/webpubsub/hubs/{hub}/", UserEventPattern: "*",
	}}}))
	if e.AccessKey() != emulator.DefaultAccessKey {
		t.Fatal("the emulator's key is not DefaultAccessKey, which the handler checks signatures with")
	}
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 6*conformanceTimeout)
	defer cancel()

	// Two recipients of user "recv", in group "payload": a JSON client and
	// a raw client. wc publishes to the group.
	tok, err := svc.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "recv"})
	if err != nil {
		t.Fatal(err)
	}
	recv := testclient.Dial(t, tok.URL, &testclient.Options{Subprotocols: []string{testclient.JSON}})
	raw := testclient.Dial(t, tok.URL, nil)
	// A raw client gets no connected frame: wait until the emulator has
	// registered it, or AddUserToGroup may not find it.
	if _, err := e.WaitConnection(ctx, "chat", func(c emulator.ConnectionInfo) bool {
		return c.UserID == "recv" && c.Subprotocol == ""
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddUserToGroup(ctx, "payload", "recv", nil); err != nil {
		t.Fatal(err)
	}
	wc := startClient(ctx, t, svc)
	noEcho := &webpubsubclient.SendToGroupOptions{NoEcho: true}

	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			recv, raw := recv.With(t), raw.With(t)
			deliver := c.wantType != ""

			// (a) the service client, to the user.
			_, err := svc.SendToUser(ctx, "recv", c.rootMessage(), nil)
			checkSend(t, "root SendToUser", deliver, err)
			if deliver {
				checkJSONMessage(t, "root SendToUser", recv, c, protocol.FromServer)
				checkRawMessage(t, "root SendToUser", raw, c)
			}

			// (b) webpubsubclient, to the group.
			_, err = wc.SendToGroup(ctx, "payload", c.clientMessage(), noEcho)
			checkSend(t, "webpubsubclient SendToGroup", deliver, err)
			if deliver {
				checkJSONMessage(t, "webpubsubclient SendToGroup", recv, c, protocol.FromGroup)
				checkRawMessage(t, "webpubsubclient SendToGroup", raw, c)
			}

			// (c) the event handler's reply, to the client that sent the
			// event (before its ack). A refused JSON value is a
			// *ValidationError (the callback's error: an InternalServerError
			// ack); a refused empty payload is no reply.
			if !deliver {
				resp, err := c.reply()
				var ve *eventhandler.ValidationError
				if len(resp.Bytes()) != 0 || (c.kind == webpubsubclient.DataTypeJSON) != errors.As(err, &ve) {
					t.Errorf("eventhandler reply: built %q, %v", resp.Bytes(), err)
				}
			}
			recv.Send(&protocol.ClientFrame{Type: protocol.TypeEvent, Event: "reply", AckID: recv.NextAckID(), HasAckID: true,
				DataType: protocol.DataTypeText, Data: []byte(strconv.Itoa(i)), HasData: true})
			if deliver {
				checkJSONMessage(t, "eventhandler reply", recv, c, protocol.FromServer)
			}
			if f := recv.ReadFrame(); f.Type != protocol.TypeAck {
				t.Errorf("eventhandler reply: got a %s frame where the ack was due", f.Type)
			} else if deliver && !f.Success {
				t.Errorf("eventhandler reply: ack failed: %+v", f.Error)
			}
			// A raw client's frame is the event "message"; a failed reply
			// would close it, so only deliverable payloads go this way.
			if deliver {
				raw.SendText(strconv.Itoa(i))
				checkRawMessage(t, "eventhandler reply", raw, c)
			}
			// Nothing else may be queued for the JSON recipient.
			recv.Barrier()
		})
	}
}

// checkSend checks a send's error: nil when the payload is deliverable,
// else a *ValidationError named "message" (one type in every package).
func checkSend(t *testing.T, op string, deliver bool, err error) {
	t.Helper()
	var ve *webpubsub.ValidationError
	switch {
	case deliver && err != nil:
		t.Errorf("%s: %v", op, err)
	case !deliver && (!errors.As(err, &ve) || ve.Name != "message" || !errors.Is(err, webpubsub.ErrInvalidArgument)):
		t.Errorf("%s: %v, want a *ValidationError for the message", op, err)
	}
}

// checkJSONMessage reads the next frame of c and compares its dataType and
// data members, as written on the wire, with the case's.
func checkJSONMessage(t *testing.T, op string, conn *testclient.Conn, c payloadCase, from string) {
	t.Helper()
	f, text, err := conn.TryReadFrame()
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	var members map[string]json.RawMessage
	if err := json.Unmarshal(text, &members); err != nil {
		t.Fatalf("%s: frame %.200q: %v", op, text, err)
	}
	if f.Type != protocol.TypeMessage || f.From != from {
		t.Fatalf("%s: got a %s frame from %q, want a message from %q", op, f.Type, f.From, from)
	}
	if got := string(members["dataType"]); got != c.wantType {
		t.Errorf("%s: dataType %s, want %s", op, got, c.wantType)
	}
	if got := string(members["data"]); got != c.wantData {
		t.Errorf("%s: data %s, want %s", op, shorten(got), shorten(c.wantData))
	}
}

// checkRawMessage reads the next frame of the raw client conn and compares
// it with the case's.
func checkRawMessage(t *testing.T, op string, conn *testclient.Conn, c payloadCase) {
	t.Helper()
	wantType, want := c.rawFrame(t)
	typ, got := conn.Read()
	if typ != wantType || !bytes.Equal(got, want) {
		t.Errorf("%s: raw frame %v %s, want %v %s", op, typ, shorten(string(got)), wantType, shorten(string(want)))
	}
}

func shorten(s string) string {
	if len(s) > 80 {
		return strconv.Quote(s[:40]) + "…" + strconv.Quote(s[len(s)-20:]) + " (" + strconv.Itoa(len(s)) + " bytes)"
	}
	return strconv.Quote(s)
}

// TestPayloadEnumsAgree checks that the public enums of the three packages
// name the same data with the same strings, in the same order, and that
// the service client's ContentType is the media type of each DataType.
func TestPayloadEnumsAgree(t *testing.T) {
	client, handler, root := webpubsubclient.PossibleDataTypeValues(), eventhandler.PossibleDataTypeValues(), webpubsub.PossibleContentTypeValues()
	want := []string{"text", "json", "binary"}
	if len(client) != len(want) || len(handler) != len(want) || len(root) != len(want) {
		t.Fatalf("lengths %d, %d, %d; want %d", len(client), len(handler), len(root), len(want))
	}
	for i, w := range want {
		if string(client[i]) != w || handler[i] != client[i] {
			t.Errorf("value %d: webpubsubclient %q, eventhandler %q; want %q", i, client[i], handler[i], w)
		}
		if string(root[i]) != client[i].MediaType() {
			t.Errorf("value %d: ContentType %q, but %q.MediaType() is %q", i, root[i], client[i], client[i].MediaType())
		}
	}
	pairs := []struct {
		ct webpubsub.ContentType
		dt webpubsubclient.DataType
		m  webpubsub.Message
	}{
		{webpubsub.ContentTypeText, webpubsubclient.DataTypeText, webpubsub.TextMessage("x")},
		{webpubsub.ContentTypeJSON, webpubsubclient.DataTypeJSON, webpubsub.JSONMessage(1)},
		{webpubsub.ContentTypeBinary, webpubsubclient.DataTypeBinary, webpubsub.BinaryMessage([]byte{1})},
	}
	for _, p := range pairs {
		if string(p.ct) != p.dt.MediaType() || p.m.ContentType() != p.ct || eventhandler.DataType(p.dt) != p.dt {
			t.Errorf("%s / %s / %s do not match", p.ct, p.dt, p.m.ContentType())
		}
	}
	if strings.Contains(string(webpubsub.Message{}.ContentType()), "/") {
		t.Error("the zero Message has a content type")
	}
}
