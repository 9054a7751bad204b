package emulator

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"
)

// TestHandshake covers the ordered checks of client-protocol.md §1.5 that
// the conformance cases do not.
func TestHandshake(t *testing.T) {
	te := startEmulator(t, Options{Hubs: map[string]HubOptions{"open": {AllowAnonymous: true}}})
	port := strings.Split(te.hostPort(), ":")[1]
	good := te.clientToken("chat", nil)

	httpTests := []struct {
		name, method, path string
		header             map[string]string
		want               int
	}{
		{"mqtt without upgrade", "GET", "/clients/mqtt/hubs/chat", nil, 400},
		{"socketio", "GET", "/clients/socketio/hubs/chat", nil, 501},
		{"not a client path", "GET", "/clientx/hubs/chat", nil, 404},
		{"nested hub path", "GET", "/client/hubs/chat/extra", nil, 404},
		{"post", "POST", "/client/hubs/chat", nil, 405},
		{"not an upgrade", "GET", "/client/hubs/chat", nil, 400},
		{"wrong version", "GET", "/client/hubs/chat", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "8"}, 426},
		{"no hub", "GET", "/client/", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, 400},
		{"invalid hub", "GET", "/client/hubs/9chat", map[string]string{"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13"}, 400},
	}
	for _, tt := range httpTests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, "http://127.0.0.1:"+port+tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := sharedClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d %s; want %d", resp.StatusCode, body, tt.want)
			}
		})
	}

	t.Run("hub in query", func(t *testing.T) {
		te := te.with(t)
		ctx, cancel := contextWithTimeout()
		defer cancel()
		for _, path := range []string{"/client/?hub=Chat&access_token=", "/client?hub=chat&access_token="} {
			ws, _, err := websocket.Dial(ctx, "ws://127.0.0.1:"+port+path+good, &websocket.DialOptions{Subprotocols: []string{"json.webpubsub.azure.v1"}})
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			c := wrapWS(t, ws)
			c.id = te.waitRegistered()
			f := c.ReadJSON()
			if f["event"] != "connected" {
				t.Fatalf("first frame %v", f)
			}
			_ = ws.CloseNow()
		}
	})
	t.Run("anonymous hub", func(t *testing.T) {
		te := te.with(t)
		c := te.dial(dialOptions{hub: "open", subprotocols: []string{"json.webpubsub.azure.v1"}})
		c.Barrier()
		// An invalid token is still rejected.
		if _, resp, err := te.dialRaw(dialOptions{hub: "open", token: "not-a-token"}); err == nil || resp.StatusCode != 401 {
			t.Fatalf("invalid token on an anonymous hub: %v", err)
		}
	})
	t.Run("token checks", func(t *testing.T) {
		te := te.with(t)
		now := time.Now()
		for name, tc := range map[string]struct {
			claims jwt.MapClaims
			want   int
		}{
			"other hub":          {jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/other", "exp": now.Add(time.Hour).Unix()}, 401},
			"other host":         {jwt.MapClaims{"aud": "http://example.com:" + port + "/client/hubs/chat", "exp": now.Add(time.Hour).Unix()}, 401},
			"no slash":           {jwt.MapClaims{"aud": "http://" + te.hostPort() + "client/hubs/chat", "exp": now.Add(time.Hour).Unix()}, 401},
			"query in aud":       {jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/chat?x=1", "exp": now.Add(time.Hour).Unix()}, 401},
			"ftp scheme":         {jwt.MapClaims{"aud": "ftp://" + te.hostPort() + "/client/hubs/chat", "exp": now.Add(time.Hour).Unix()}, 401},
			"no exp":             {jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/chat"}, 401},
			"nbf in the future":  {jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/chat", "exp": now.Add(time.Hour).Unix(), "nbf": now.Add(time.Hour).Unix()}, 401},
			"invalid group":      {jwt.MapClaims{"aud": "http://" + te.hostPort() + "/client/hubs/chat", "exp": now.Add(time.Hour).Unix(), "webpubsub.group": []any{"a", 5}}, 400},
			"wss trailing slash": {jwt.MapClaims{"aud": "wss://127.0.0.1:" + port + "/client/hubs/CHAT/", "exp": now.Add(time.Hour).Unix()}, 101},
			"encoded hub":        {jwt.MapClaims{"aud": "https://localhost:" + port + "/client/hubs/%63hat", "exp": now.Add(time.Hour).Unix()}, 101},
		} {
			ws, resp, err := te.dialRaw(dialOptions{token: sign(t, DefaultAccessKey, tc.claims)})
			if tc.want == 101 {
				if err != nil {
					t.Errorf("%s: %v", name, err)
					continue
				}
				te.waitRegistered()
				_ = ws.CloseNow()
				continue
			}
			if err == nil || resp == nil || resp.StatusCode != tc.want {
				t.Errorf("%s: %v; want status %d", name, err, tc.want)
			}
		}
	})
	t.Run("claims", func(t *testing.T) {
		te := te.with(t)
		c := te.pubsub(jwt.MapClaims{"nameid": "nid", "http://schemas.microsoft.com/ws/2008/06/identity/claims/role": "webpubsub.joinLeaveGroup", "webpubsub.group": "solo"})
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/users/nid"+v, "", nil), 200)
		expectStatus(t, te.rest("HEAD", "/api/hubs/chat/groups/solo"+v, "", nil), 200)
		c.SendText(`{"type":"leaveGroup","group":"solo","ackId":1}`)
		c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	})
	t.Run("reliable only", func(t *testing.T) {
		te := te.with(t)
		c := te.dial(dialOptions{token: good, subprotocols: []string{"JSON.reliable.webpubsub.azure.v1"}})
		if c.ws.Subprotocol() != "JSON.reliable.webpubsub.azure.v1" {
			t.Fatalf("subprotocol %q; want the offer as spelled", c.ws.Subprotocol())
		}
		if len(c.reconnectionToken) != 43 {
			t.Fatalf("reconnectionToken %q; want 43 base64url characters", c.reconnectionToken)
		}
	})
	t.Run("mqtt only", func(t *testing.T) {
		te := te.with(t)
		_, resp, err := te.dialRaw(dialOptions{token: good, subprotocols: []string{"mqtt"}})
		if err == nil || resp.StatusCode != 400 {
			t.Fatalf("mqtt-only offer: %v", err)
		}
	})
	t.Run("protobuf before mqtt", func(t *testing.T) {
		te := te.with(t)
		ws, _, err := te.dialRaw(dialOptions{token: good, subprotocols: []string{"mqtt", "Protobuf.reliable.webpubsub.azure.v1"}})
		if err != nil {
			t.Fatal(err)
		}
		defer ws.CloseNow()
		if ws.Subprotocol() != "Protobuf.reliable.webpubsub.azure.v1" {
			t.Fatalf("subprotocol %q; want the protobuf offer as spelled", ws.Subprotocol())
		}
	})
	t.Run("recovery refused", func(t *testing.T) {
		te := te.with(t)
		ws, _, err := te.dialRaw(dialOptions{subprotocols: []string{"json.reliable.webpubsub.azure.v1"}, query: "awps_connection_id=c1&awps_reconnection_token=t"})
		if err != nil {
			t.Fatal(err)
		}
		c := wrapWS(t, ws)
		c.ExpectJSON(`{"type":"system","event":"disconnected","message":"The connection could not be recovered."}`)
		c.ExpectClose(websocket.StatusPolicyViolation)
	})
}

func TestPubSubFrameErrorsKeepOrder(t *testing.T) {
	te := startEmulator(t, Options{})
	c := te.pubsub(jwt.MapClaims{"sub": "a", "role": []string{"webpubsub.sendToGroup", "webpubsub.joinLeaveGroup"}})
	c.SendText(`{"type":"joinGroup","group":"g","ackId":1}`)
	c.SendText(`{"type":"sendToGroup","group":"g","ackId":2,"dataType":"text","data":"echo"}`)
	c.SendText(`{"type":"event","event":"bad name","ackId":3,"data":1}`)
	c.SendText(`{"type":"subscribeGroupState","group":"g","ackId":4}`)
	c.SendText(`{"type":"streamEnd","streamId":"s9"}`)
	c.SendText(`{"type":"sendToGroup","group":"g","ackId":5,"dataType":"protobuf","data":"AQ=="}`)
	c.ExpectJSON(`{"type":"ack","ackId":1,"success":true}`)
	c.ExpectJSON(`{"type":"message","from":"group","group":"g","fromUserId":"a","dataType":"text","data":"echo"}`)
	c.ExpectJSON(`{"type":"ack","ackId":2,"success":true}`)
	c.ExpectJSON(`{"type":"ack","ackId":3,"success":false,"error":{"name":"BadRequest","message":"Invalid event name 'bad name'."}}`)
	c.ExpectJSON(`{"type":"ack","ackId":4,"success":false,"error":{"name":"BadRequest","message":"Group state is not supported by this emulator."}}`)
	c.ExpectJSON(`{"type":"streamClosed","streamId":"s9","error":{"name":"StreamNotFound","message":"The stream 's9' is not open on this connection."}}`)
	c.ExpectJSON(`{"type":"ack","ackId":5,"success":false,"error":{"name":"BadRequest","message":"dataType 'protobuf' is not supported."}}`)
}

func TestOptionsValidation(t *testing.T) {
	for name, o := range map[string]Options{
		"short key":      {AccessKey: "short"},
		"key with ;":     {AccessKey: strings.Repeat("k", 32) + ";"},
		"key with space": {AccessKey: " " + strings.Repeat("k", 32)},
		"secondary":      {SecondaryAccessKey: "short"},
		"port":           {Port: 70000},
		"endpoint":       {PublicEndpoint: "ws://x"},
		"hub":            {Hubs: map[string]HubOptions{"1x": {}}},
	} {
		_, err := New(o)
		if err == nil {
			t.Errorf("%s: New succeeded", name)
			continue
		}
		if strings.Contains(err.Error(), o.AccessKey) && o.AccessKey != "" {
			t.Errorf("%s: error %q contains the key", name, err)
		}
	}
}

func TestConnectionStringAndURLs(t *testing.T) {
	e, err := New(Options{PublicEndpoint: "http://emulator:9090/"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := e.ConnectionString(), "Endpoint=http://emulator;Port=9090;AccessKey="+DefaultAccessKey+";Version=1.0;"; got != want {
		t.Errorf("ConnectionString = %q; want %q", got, want)
	}
	if got := e.ClientURL("chat"); got != "ws://emulator:9090/client/hubs/chat" {
		t.Errorf("ClientURL = %q", got)
	}
	custom := strings.Repeat("s", 40)
	e2, _ := New(Options{AccessKey: custom})
	if e2.ConnectionString() != "" || e2.URL() != "" {
		t.Errorf("before Start: %q %q", e2.ConnectionString(), e2.URL())
	}
	if strings.Contains(e2.String(), custom) || strings.Contains(e2.String(), "AccessKey") {
		t.Errorf("String() = %q leaks the key", e2.String())
	}
	te := startEmulator(t, Options{AccessKey: custom})
	port := strings.Split(te.hostPort(), ":")[1]
	if got, want := te.ConnectionString(), "Endpoint=http://localhost;Port="+port+";AccessKey="+custom+";Version=1.0;"; got != want {
		t.Errorf("ConnectionString = %q; want %q", got, want)
	}
	if te.URL() != "http://localhost:"+port || te.AccessKey() != custom {
		t.Errorf("URL %q AccessKey mismatch", te.URL())
	}
	if strings.Contains(te.String(), custom) {
		t.Errorf("String() = %q leaks the key", te.String())
	}
}
