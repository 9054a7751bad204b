package cloudevents

import (
	"bufio"
	"bytes"
	"net/http"
	"net/textproto"
	"testing"
)

func TestParseType(t *testing.T) {
	tests := []struct {
		typ       string
		wantKind  Kind
		wantEvent string
	}{
		{"azure.webpubsub.sys.connect", KindConnect, "connect"},
		{"azure.webpubsub.sys.connected", KindConnected, "connected"},
		{"azure.webpubsub.sys.disconnected", KindDisconnected, "disconnected"},
		{"azure.webpubsub.user.message", KindUser, "message"},
		{"azure.webpubsub.user.connect", KindUser, "connect"},
		{"azure.webpubsub.user.a b", KindUser, "a b"},
		{"azure.webpubsub.user.\xff", KindUser, "\xff"},
		{"azure.webpubsub.user.", KindUnknown, ""},
		{"azure.webpubsub.sys.Connect", KindOtherSystem, "Connect"},
		{"azure.webpubsub.gp.joined", KindGroupJoined, "joined"},
		{"azure.webpubsub.gp.left", KindGroupLeft, "left"},
		{"azure.webpubsub.sys.futureEvent", KindOtherSystem, "futureEvent"},
		{"azure.webpubsub.gp.renamed", KindOtherSystem, "renamed"},
		{"azure.webpubsub.sys.", KindUnknown, ""},
		{"azure.webpubsub.sys.a b", KindUnknown, ""},
		{"azure.webpubsub.other.x", KindUnknown, ""},
		{"AZURE.WEBPUBSUB.USER.x", KindUnknown, ""},
		{"", KindUnknown, ""},
	}
	for _, tt := range tests {
		kind, event := ParseType(tt.typ)
		if kind != tt.wantKind || event != tt.wantEvent {
			t.Errorf("ParseType(%q) = %v, %q; want %v, %q", tt.typ, kind, event, tt.wantKind, tt.wantEvent)
		}
		if kind == KindUser && UserType(event) != tt.typ {
			t.Errorf("UserType(%q) = %q, want %q", event, UserType(event), tt.typ)
		}
	}
	if Source("chat", "c1") != "/hubs/chat/client/c1" {
		t.Errorf("Source = %q", Source("chat", "c1"))
	}
}

// wire sends h through the HTTP/1.1 header syntax and reads it back the way
// net/http's server does (canonical keys).
func wire(t *testing.T, h http.Header) http.Header {
	t.Helper()
	var b bytes.Buffer
	if err := h.Write(&b); err != nil {
		t.Fatal(err)
	}
	b.WriteString("\r\n")
	m, err := textproto.NewReader(bufio.NewReader(&b)).ReadMIMEHeader()
	if err != nil {
		t.Fatalf("read back %q: %v", b.String(), err)
	}
	return http.Header(m)
}

func TestAttributesHeaders(t *testing.T) {
	full := Attributes{
		Type: TypeDisconnected, EventName: EventDisconnected, ID: "3", Source: Source("chat", "c1"),
		Time: "2026-01-01T00:00:00Z", Hub: "chat", ConnectionID: "c1", UserID: "alice",
		Subprotocol: SubprotocolMQTT, ConnectionState: "e30=", Signature: Signature("c1", "k"),
		Origin: "localhost:8080", PhysicalConnectionID: "p1", SessionID: "s1",
	}
	minimal := Attributes{
		Type: TypeConnect, EventName: EventConnect, ID: "0", Source: Source("chat", "c2"),
		Time: "2026-01-01T00:00:00Z", Hub: "chat", ConnectionID: "c2", Origin: "localhost:8080",
	}
	tests := []struct {
		name    string
		a       Attributes
		absent  []string
		present map[string]string
	}{
		{"every attribute", full, nil, map[string]string{
			"ce-specversion": "1.0", "ce-awpsversion": "1.0", "ce-type": TypeDisconnected, "ce-eventName": "disconnected",
			"ce-id": "3", "ce-source": "/hubs/chat/client/c1", "ce-time": "2026-01-01T00:00:00Z", "ce-hub": "chat",
			"ce-connectionId": "c1", "ce-userId": "alice", "ce-subprotocol": "mqtt", "ce-connectionState": "e30=",
			"ce-signature": Sign("k", "c1"), "WebHook-Request-Origin": "localhost:8080",
			"ce-physicalConnectionId": "p1", "ce-sessionId": "s1",
		}},
		{"optional attributes omitted", minimal,
			[]string{HeaderUserID, HeaderSubprotocol, HeaderConnectionState, HeaderSignature, HeaderPhysicalConnectionID, HeaderSessionID},
			map[string]string{"ce-type": TypeConnect, "ce-id": "0", "ce-connectionId": "c2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			tt.a.SetHeaders(h)
			for name, want := range tt.present {
				// The documented spelling is the map key itself.
				if got := h[name]; len(got) != 1 || got[0] != want {
					t.Errorf("h[%q] = %q, want %q", name, got, want)
				}
			}
			got := wire(t, h)
			for _, name := range tt.absent {
				if _, ok := got[http.CanonicalHeaderKey(name)]; ok {
					t.Errorf("%s sent for an empty attribute", name)
				}
			}
			if back := ReadAttributes(got); back != tt.a {
				t.Errorf("round trip:\n got %+v\nwant %+v", back, tt.a)
			}
		})
	}
}

func TestIsMQTT(t *testing.T) {
	tests := []struct {
		sub, phys string
		want      bool
	}{
		{"mqtt", "p", true},
		{"MQTT", "p", true},
		{"mqtt", "", false},
		{"json.webpubsub.azure.v1", "p", false},
		{"", "p", false},
	}
	for _, tt := range tests {
		a := Attributes{Subprotocol: tt.sub, PhysicalConnectionID: tt.phys}
		if got := a.IsMQTT(); got != tt.want {
			t.Errorf("IsMQTT(%q, %q) = %v, want %v", tt.sub, tt.phys, got, tt.want)
		}
	}
}
