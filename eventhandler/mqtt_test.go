package eventhandler

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// The MQTT samples of cloudevents.md §10 (docs samples).
const (
	mqttConnectSample = `{"mqtt":{"protocolVersion":4,"cleanStart":true,"username":null,"password":null,"userProperties":null},` +
		`"claims":{"type1":["value1"]},"query":{"queryKey1":["queryValue1"]},"headers":{"Connection":["Upgrade"]},` +
		`"subprotocols":["mqtt"],"clientCertificates":[{"thumbprint":"3ce9b08a37566915dec4d1662cd2102121a99868","content":"..."}]}`
	mqttDisconnectedSample = `{"reason":"","mqtt":{"initiatedByClient":true,"disconnectPacket":{"code":0,"userProperties":[{"name":"name1","value":"value1"}]}}}`
)

func mqttHeaders(session string) []string {
	return []string{cloudevents.HeaderSubprotocol, "mqtt", cloudevents.HeaderPhysicalConnectionID, "phys-1", cloudevents.HeaderSessionID, session}
}

func TestMQTTConnect(t *testing.T) {
	var got *ConnectRequest
	h, _ := mustNew(t, &Options{Connect: func(_ context.Context, r *ConnectRequest) (*ConnectResponse, error) {
		got = r
		return &ConnectResponse{UserID: "userId1", Groups: []string{"newGroup1"}, Subprotocol: "mqtt",
			MQTT: &MQTTConnectResponseProperties{UserProperties: []MQTTUserProperty{{Name: "name1", Value: "value1"}}}}, nil
	}})
	resp := serve(h, eventRequest(TypeConnect, jsonCT, mqttConnectSample, mqttHeaders("")...))
	body := readBody(t, resp)
	if resp.StatusCode != 200 || !jsonEqual([]byte(body), []byte(`{"userId":"userId1","groups":["newGroup1"],"subprotocol":"mqtt","mqtt":{"userProperties":[{"name":"name1","value":"value1"}]}}`)) {
		t.Fatalf("response %d %s", resp.StatusCode, body)
	}
	if got.MQTT == nil || got.MQTT.PhysicalConnectionID != "phys-1" || got.MQTT.SessionID != "" {
		t.Fatalf("MQTT context %+v", got.MQTT)
	}
	p := got.MQTTProperties
	if p == nil || p.ProtocolVersion != 4 || !p.CleanStart || p.Username != "" || p.Password != nil || p.UserProperties != nil {
		t.Fatalf("MQTT properties %+v", p)
	}
	if got.Claims["type1"][0] != "value1" || got.Query.Get("queryKey1") != "queryValue1" || got.ClientCertificates[0].Content != "..." {
		t.Fatalf("request %+v", got)
	}

	// MQTT 5 with credentials and user properties.
	body5 := `{"mqtt":{"protocolVersion":5,"cleanStart":false,"username":"dev","password":"cGFzcw==","userProperties":[{"name":"a","value":"1"},{"name":"a","value":"2"}]}}`
	serve(h, eventRequest(TypeConnect, jsonCT, body5, mqttHeaders("")...))
	p = got.MQTTProperties
	if p.ProtocolVersion != 5 || p.CleanStart || p.Username != "dev" || string(p.Password) != "pass" || fmt.Sprint(p.UserProperties) != "[{a 1} {a 2}]" {
		t.Fatalf("MQTT 5 properties %+v", p)
	}
}

func TestMQTTConnectRejection(t *testing.T) {
	tests := []struct {
		name     string
		version  int
		err      error
		wantCode int
		wantBody string
	}{
		{"3.1.1 400", 4, Reject(400, "bad"), 400, `{"mqtt":{"code":4,"reason":"bad"}}`},
		{"3.1.1 401", 4, Reject(401, "nope"), 401, `{"mqtt":{"code":5,"reason":"nope"}}`},
		{"3.1.1 403", 4, Reject(403, "banned"), 403, `{"mqtt":{"code":5,"reason":"banned"}}`},
		{"3.1.1 500", 4, Reject(500, "down"), 500, `{"mqtt":{"code":3,"reason":"down"}}`},
		{"5 400", 5, Reject(400, ""), 400, `{"mqtt":{"code":134}}`},
		{"5 401", 5, Reject(401, "nope"), 401, `{"mqtt":{"code":135,"reason":"nope"}}`},
		{"5 500", 5, Reject(500, "x"), 500, `{"mqtt":{"code":128,"reason":"x"}}`},
		{"5 other error", 5, errors.New("internal"), 500, `{"mqtt":{"code":128,"reason":"` + genericFailure + `"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, _ := mustNew(t, &Options{Connect: func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, tt.err }})
			body := fmt.Sprintf(`{"mqtt":{"protocolVersion":%d}}`, tt.version)
			resp := serve(h, eventRequest(TypeConnect, jsonCT, body, mqttHeaders("")...))
			got := readBody(t, resp)
			if resp.StatusCode != tt.wantCode || resp.Header.Get("Content-Type") != jsonCT || !jsonEqual([]byte(got), []byte(tt.wantBody)) {
				t.Fatalf("got %d %q %s, want %d %s", resp.StatusCode, resp.Header.Get("Content-Type"), got, tt.wantCode, tt.wantBody)
			}
		})
	}
	// Without ce-physicalConnectionId the request is not MQTT: plain text.
	h, _ := mustNew(t, &Options{Connect: func(context.Context, *ConnectRequest) (*ConnectResponse, error) { return nil, Reject(401, "nope") }})
	resp := serve(h, eventRequest(TypeConnect, jsonCT, `{}`, cloudevents.HeaderSubprotocol, "mqtt"))
	if got := readBody(t, resp); resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" || got != "nope" {
		t.Fatalf("non-MQTT rejection %q %q", resp.Header.Get("Content-Type"), got)
	}
}

func TestMQTTDisconnected(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		check  func(*DisconnectedRequest) bool
		expect string
	}{
		{"docs sample", mqttDisconnectedSample, func(r *DisconnectedRequest) bool {
			p := r.MQTTProperties
			return r.Reason == "" && p != nil && p.InitiatedByClient && p.DisconnectPacket != nil &&
				p.DisconnectPacket.Code == 0 && fmt.Sprint(p.DisconnectPacket.UserProperties) == "[{name1 value1}]" &&
				r.MQTT != nil && r.MQTT.SessionID == "sess-1" && r.MQTT.PhysicalConnectionID == "phys-1"
		}, "sample fields"},
		{"network failure", `{"reason":null,"mqtt":{"initiatedByClient":false,"disconnectPacket":null}}`, func(r *DisconnectedRequest) bool {
			return r.Reason == "" && r.MQTTProperties != nil && !r.MQTTProperties.InitiatedByClient && r.MQTTProperties.DisconnectPacket == nil
		}, "nil packet"},
		{"MQTT 5 reason code", `{"reason":"x","mqtt":{"initiatedByClient":true,"disconnectPacket":{"code":4,"userProperties":null}}}`, func(r *DisconnectedRequest) bool {
			return r.Reason == "x" && r.MQTTProperties.DisconnectPacket.Code == 4 && r.MQTTProperties.DisconnectPacket.UserProperties == nil
		}, "code 4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got *DisconnectedRequest
			h, _ := mustNew(t, &Options{Disconnected: func(_ context.Context, r *DisconnectedRequest) error { got = r; return nil }})
			resp := serve(h, eventRequest(TypeDisconnected, jsonCT, tt.body, mqttHeaders("sess-1")...))
			if resp.StatusCode != 200 || got == nil || !tt.check(got) {
				t.Fatalf("status %d, request %+v (%s)", resp.StatusCode, got, tt.expect)
			}
		})
	}
}

func TestMQTTConnectCodeTable(t *testing.T) {
	tests := []struct{ status, version, want int }{
		{400, 4, 4}, {401, 4, 5}, {403, 4, 5}, {500, 4, 3}, {400, 3, 4},
		{400, 5, 0x86}, {401, 5, 0x87}, {403, 5, 0x87}, {500, 5, 0x80},
	}
	for _, tt := range tests {
		if got := mqttConnectCode(tt.status, tt.version); got != tt.want {
			t.Errorf("mqttConnectCode(%d, %d) = %#x, want %#x", tt.status, tt.version, got, tt.want)
		}
	}
}
