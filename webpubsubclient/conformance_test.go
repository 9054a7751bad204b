package webpubsubclient

// The shared client-protocol conformance cases (testdata/client-frames.json,
// a copy of the project's conformance/client-frames.json), mirrored for the
// client: every frame the service is expected to send must be understood,
// and every well-formed request frame in the cases must be exactly what the
// client would encode for the same request.

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

type conformanceFile struct {
	Cases []struct {
		ID    string `json:"id"`
		Steps []struct {
			Send *struct {
				JSON json.RawMessage `json:"json"`
			} `json:"send"`
			Expect *struct {
				JSON json.RawMessage `json:"json"`
			} `json:"expect"`
		} `json:"steps"`
	} `json:"cases"`
}

func loadConformance(t *testing.T) conformanceFile {
	t.Helper()
	b, err := os.ReadFile("testdata/client-frames.json")
	if err != nil {
		t.Fatal(err)
	}
	var f conformanceFile
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	if len(f.Cases) == 0 {
		t.Fatal("no conformance cases")
	}
	return f
}

// fillPlaceholders replaces the file's {{...}} placeholders with concrete
// values of the right type.
func fillPlaceholders(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = fillPlaceholders(e)
		}
	case []any:
		for i, e := range x {
			x[i] = fillPlaceholders(e)
		}
	case string:
		switch {
		case strings.HasPrefix(x, "{{connectionId:"):
			return "conn-" + strings.TrimSuffix(strings.TrimPrefix(x, "{{connectionId:"), "}}")
		case x == "{{int}}":
			return 1.0
		case strings.HasPrefix(x, "{{"):
			return "placeholder"
		}
	}
	return v
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && reflect.DeepEqual(x, y)
}

// TestConformanceServiceFrames feeds every frame the service sends in the
// cases to the client's frame handler and checks what it makes of it.
func TestConformanceServiceFrames(t *testing.T) {
	f := loadConformance(t)
	c, err := New(StaticURL("ws://localhost/client/hubs/chat"), nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, cs := range f.Cases {
		for _, st := range cs.Steps {
			if st.Expect == nil || st.Expect.JSON == nil {
				continue
			}
			var v map[string]any
			if err := json.Unmarshal(st.Expect.JSON, &v); err != nil {
				t.Fatalf("%s: %v", cs.ID, err)
			}
			fillPlaceholders(v)
			frame, _ := json.Marshal(v)
			r := newRun(c, nil)
			tr := &transport{quickAck: make(chan struct{}, 1)}
			p := &pendingAck{tr: tr, ch: make(chan ackOutcome, 1)}
			if id, ok := v["ackId"].(float64); ok {
				r.pending[uint64(id)] = p
			}
			r.handleFrame(tr, frame)
			r.cancel()
			kind := v["type"].(string)
			if e, ok := v["event"].(string); ok {
				kind += "/" + e
			}
			if from, ok := v["from"].(string); ok {
				kind += "/" + from
			}
			seen[kind]++
			queue := r.events.queue
			switch kind {
			case "message/group", "message/server":
				if len(queue) != 1 {
					t.Errorf("%s: %s raised %d events, want 1", cs.ID, frame, len(queue))
					continue
				}
				checkMessageEvent(t, cs.ID, v, queue[0])
			case "ack":
				if len(queue) != 0 {
					t.Errorf("%s: an ack raised events", cs.ID)
				}
				select {
				case out := <-p.ch:
					wantSuccess := v["success"].(bool)
					if out.success != wantSuccess {
						t.Errorf("%s: %s resolved with success=%v", cs.ID, frame, out.success)
					}
					if !wantSuccess {
						name := v["error"].(map[string]any)["name"]
						if out.err == nil || out.err.Name != name {
							t.Errorf("%s: %s resolved with %+v", cs.ID, frame, out.err)
						}
					}
				default:
					t.Errorf("%s: %s did not resolve the pending call", cs.ID, frame)
				}
			case "system/disconnected":
				if r.lastDisconnectMessage != v["message"] {
					t.Errorf("%s: disconnected message recorded as %q", cs.ID, r.lastDisconnectMessage)
				}
			case "system/connected":
				pf, err := protocol.ParseServiceFrame(frame)
				if err != nil || pf.ConnectionID == "" {
					t.Errorf("%s: connected frame %s: %v", cs.ID, frame, err)
				}
				if tok, _ := v["reconnectionToken"].(string); r.reconnectionToken != tok {
					t.Errorf("%s: reconnection token recorded as %q, want %q", cs.ID, r.reconnectionToken, tok)
				}
				if len(queue) != 0 {
					t.Errorf("%s: a repeated connected frame raised an event", cs.ID)
				}
			default: // pong, invokeResponse, streamClosed: tolerated, no event
				if len(queue) != 0 {
					t.Errorf("%s: %s raised %d events", cs.ID, frame, len(queue))
				}
			}
		}
	}
	for _, k := range []string{"message/group", "message/server", "ack", "system/connected", "system/disconnected", "pong"} {
		if seen[k] == 0 {
			t.Errorf("no %s frame in the cases", k)
		}
	}
}

func checkMessageEvent(t *testing.T, id string, v map[string]any, e event) {
	t.Helper()
	var dt DataType
	var data []byte
	var seq uint64
	switch e.kind {
	case evGroupMessage:
		g := e.group
		dt, data, seq = g.DataType, g.Data, g.SequenceID
		wantUser, _ := v["fromUserId"].(string)
		if g.Group != v["group"] || g.FromUserID != wantUser {
			t.Errorf("%s: group message %+v from %v", id, g, v)
		}
	case evServerMessage:
		dt, data, seq = e.server.DataType, e.server.Data, e.server.SequenceID
	default:
		t.Errorf("%s: event kind %d for %v", id, e.kind, v)
		return
	}
	if want, _ := v["sequenceId"].(float64); seq != uint64(want) {
		t.Errorf("%s: sequence id %d, want %v", id, seq, want)
	}
	if string(dt) != v["dataType"] {
		t.Errorf("%s: data type %s, want %v", id, dt, v["dataType"])
	}
	switch dt {
	case DataTypeText:
		if string(data) != v["data"] {
			t.Errorf("%s: text %q, want %v", id, data, v["data"])
		}
	case DataTypeBinary:
		want, _ := base64.StdEncoding.DecodeString(v["data"].(string))
		if string(data) != string(want) {
			t.Errorf("%s: binary %x, want %x", id, data, want)
		}
	case DataTypeJSON:
		want, _ := json.Marshal(v["data"])
		if !jsonEqual(data, want) {
			t.Errorf("%s: JSON %s, want %s", id, data, want)
		}
	}
}

// TestConformanceClientFrames checks that the client encodes each
// well-formed request of the cases exactly as the cases write it.
func TestConformanceClientFrames(t *testing.T) {
	f := loadConformance(t)
	compared := map[protocol.FrameType]int{}
	for _, cs := range f.Cases {
		for _, st := range cs.Steps {
			if st.Send == nil || st.Send.JSON == nil {
				continue
			}
			raw := []byte(st.Send.JSON)
			pf, err := protocol.ParseClientFrame(raw)
			var typ struct{ Type string }
			_ = json.Unmarshal(raw, &typ)
			if err != nil || pf.Validate() != nil || typ.Type != string(pf.Type) {
				continue // a malformed or differently cased frame: the client never sends one
			}
			if pf.HasTTL || pf.Metadata != nil || pf.StreamID != "" {
				continue // options the client does not expose
			}
			var built protocol.ClientFrame
			switch pf.Type {
			case protocol.TypeJoinGroup, protocol.TypeLeaveGroup:
				built = newGroupFrame(pf.Type, pf.Group)
			case protocol.TypeSendToGroup:
				built = newSendToGroupFrame(pf.Group, messageOf(t, pf), pf.NoEcho)
			case protocol.TypeEvent:
				built = newEventFrame(pf.Event, messageOf(t, pf))
			case protocol.TypeSequenceAck:
				built = protocol.ClientFrame{Type: protocol.TypeSequenceAck, SequenceID: pf.SequenceID}
			case protocol.TypePing:
				if !jsonEqual(pingFrame, raw) {
					t.Errorf("%s: ping frame %s, want %s", cs.ID, pingFrame, raw)
				}
				compared[pf.Type]++
				continue
			default:
				continue
			}
			if pf.HasAckID {
				built.AckID, built.HasAckID = pf.AckID, true
			}
			got := built.AppendJSON(nil)
			want := normalizeRequest(t, raw)
			if !jsonEqual(got, want) {
				t.Errorf("%s: the client encodes\n%s\nfor the case's\n%s", cs.ID, got, want)
			}
			compared[pf.Type]++
		}
	}
	for _, typ := range []protocol.FrameType{protocol.TypeJoinGroup, protocol.TypeLeaveGroup, protocol.TypeSendToGroup, protocol.TypeEvent, protocol.TypeSequenceAck, protocol.TypePing} {
		if compared[typ] == 0 {
			t.Errorf("no %s frame compared", typ)
		}
	}
}

// messageOf returns the Message a caller would pass for the frame's data.
func messageOf(t *testing.T, f protocol.ClientFrame) Message {
	t.Helper()
	switch f.DataType {
	case protocol.DataTypeText:
		return TextMessage(string(f.Data))
	case protocol.DataTypeBinary:
		return BinaryMessage(f.Data)
	default:
		return JSONMessage(json.RawMessage(f.Data))
	}
}

// normalizeRequest adds the defaults the client always writes: noEcho on
// sendToGroup and dataType on frames with data.
func normalizeRequest(t *testing.T, raw []byte) []byte {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	if v["type"] == "sendToGroup" {
		if _, ok := v["noEcho"]; !ok {
			v["noEcho"] = false
		}
	}
	if _, ok := v["data"]; ok {
		if _, ok := v["dataType"]; !ok {
			v["dataType"] = "json"
		}
	}
	b, _ := json.Marshal(v)
	return b
}
