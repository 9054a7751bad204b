package eventhandler

import (
	"bytes"
	"encoding/base64"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// FuzzParseRequest feeds arbitrary headers and bodies to the request parser.
// It must never panic; a refused request must be a 400 or 415
// *requestError; an accepted one must survive a round trip (encode the
// parsed request as a sender would, parse it again) with its key fields
// unchanged, and re-encoding must then be a fixed point.
func FuzzParseRequest(f *testing.F) {
	var data struct {
		Cases []specCase `json:"cases"`
	}
	loadJSON(f, "cloudevents-examples.json", &data)
	for _, c := range data.Cases {
		hdr := map[string]string{}
		for _, kv := range c.Request.Headers {
			hdr[http.CanonicalHeaderKey(kv[0])] = kv[1]
		}
		body := []byte(c.Request.Body)
		if c.Request.BodyBase64 != "" {
			body, _ = base64.StdEncoding.DecodeString(c.Request.BodyBase64)
		}
		f.Add(hdr["Ce-Type"], hdr["Ce-Connectionid"], hdr["Ce-Userid"], hdr["Content-Type"], hdr["Ce-Subprotocol"], "", hdr["Ce-Connectionstate"], hdr["Ce-Time"], body)
	}
	f.Add(TypeConnect, "c", "", jsonCT, "mqtt", "p", "", "", []byte(mqttConnectSample))
	f.Add(TypeDisconnected, "c", "u", jsonCT, "mqtt", "p", "e30=", "2026-01-01T00:00:00.5+01:00", []byte(mqttDisconnectedSample))
	f.Add(TypeConnect, "c", "", jsonCT, "", "", "!!", "", []byte(`{"claims":{"a":"b","A":null},"headers":{"x":["1"],"X":["2"],"y":[]}}`))
	f.Add(TypeUserPrefix+"e", "c", "", "application/json", "", "", "", "", []byte(`[1,{"a":null}]`))
	f.Add(TypeUserPrefix+"e", "c", "", "text/html", "", "", "", "", []byte("<p>"))
	f.Add("azure.webpubsub.gp.joined", "c", "", jsonCT, "", "", "", "", []byte(`{"group":"g"}`))

	f.Fuzz(func(t *testing.T, ceType, connID, userID, contentType, subprotocol, physID, state, ceTime string, body []byte) {
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h.Set(k, v)
			}
		}
		set(cloudevents.HeaderType, ceType)
		set(cloudevents.HeaderConnectionID, connID)
		set(cloudevents.HeaderUserID, userID)
		set("Content-Type", contentType)
		set(cloudevents.HeaderSubprotocol, subprotocol)
		set(cloudevents.HeaderPhysicalConnectionID, physID)
		set(cloudevents.HeaderSessionID, physID)
		set(HeaderConnectionState, state)
		set(cloudevents.HeaderTime, ceTime)
		set(cloudevents.HeaderHub, "chat")
		req, _, err := parseEvent(h, body)
		if err != nil {
			var re *requestError
			if !errors.As(err, &re) || (re.status != 400 && re.status != 415) {
				t.Fatalf("error %v (%T), want a 400 or 415 *requestError", err, err)
			}
			if state != "" && len(state) > 8 && strings.Contains(re.msg, state) {
				t.Fatalf("the error echoes a header: %q", re.msg)
			}
			return
		}
		h2, b2 := encodeEvent(t, req)
		req2, stateErr, err := parseEvent(h2, b2)
		if err != nil || stateErr != nil {
			t.Fatalf("re-parse of %q / %q: %v, state %v", h2, b2, err, stateErr)
		}
		cc1, cc2 := contextOf(req), contextOf(req2)
		if cc1.Type != cc2.Type || cc1.EventName != cc2.EventName || cc1.ConnectionID != cc2.ConnectionID ||
			cc1.UserID != cc2.UserID || cc1.Hub != cc2.Hub || cc1.Subprotocol != cc2.Subprotocol ||
			!cc1.Time.Equal(cc2.Time) || !reflect.DeepEqual(cc1.MQTT, cc2.MQTT) || !equalStates(cc1.States(), cc2.States()) {
			t.Fatalf("context changed:\n%+v\n%+v", cc1, cc2)
		}
		if cc1.Type != ceType || cc1.ConnectionID != connID || cc1.UserID != userID {
			t.Fatalf("parsed %q %q %q from %q %q %q", cc1.Type, cc1.ConnectionID, cc1.UserID, ceType, connID, userID)
		}
		switch r1 := req.(type) {
		case *ConnectRequest:
			r2 := req2.(*ConnectRequest)
			if !reflect.DeepEqual(r1.Claims, r2.Claims) || !reflect.DeepEqual(r1.Query, r2.Query) ||
				!reflect.DeepEqual(r1.Headers, r2.Headers) || !reflect.DeepEqual(r1.Subprotocols, r2.Subprotocols) ||
				!reflect.DeepEqual(r1.ClientCertificates, r2.ClientCertificates) || !reflect.DeepEqual(r1.MQTTProperties, r2.MQTTProperties) {
				t.Fatalf("connect body changed:\n%+v\n%+v", r1, r2)
			}
		case *DisconnectedRequest:
			r2 := req2.(*DisconnectedRequest)
			if r1.Reason != r2.Reason || !reflect.DeepEqual(r1.MQTTProperties, r2.MQTTProperties) {
				t.Fatalf("disconnected changed: %+v / %+v", r1, r2)
			}
		case *UserEventRequest:
			r2 := req2.(*UserEventRequest)
			if r1.DataType != r2.DataType || !bytes.Equal(r1.Data, r2.Data) || !bytes.Equal(r1.Data, body) {
				t.Fatalf("user event changed: %s %q / %s %q", r1.DataType, r1.Data, r2.DataType, r2.Data)
			}
		case *GroupJoinedRequest:
			if r2 := req2.(*GroupJoinedRequest); r1.Group != r2.Group {
				t.Fatalf("joined changed: %q / %q", r1.Group, r2.Group)
			}
		case *GroupLeftRequest:
			if r2 := req2.(*GroupLeftRequest); r1.Group != r2.Group {
				t.Fatalf("left changed: %q / %q", r1.Group, r2.Group)
			}
		case *ConnectedRequest, *otherSystemEvent:
		default:
			t.Fatalf("unexpected %T", req)
		}
		h3, b3 := encodeEvent(t, req2)
		if !bytes.Equal(b2, b3) || !reflect.DeepEqual(h2, h3) {
			t.Fatalf("encoding is not a fixed point:\n%q %s\n%q %s", h2, b2, h3, b3)
		}
	})
}

func contextOf(req any) *ConnectionContext {
	switch r := req.(type) {
	case *ConnectRequest:
		return &r.ConnectionContext
	case *ConnectedRequest:
		return &r.ConnectionContext
	case *DisconnectedRequest:
		return &r.ConnectionContext
	case *UserEventRequest:
		return &r.ConnectionContext
	case *GroupJoinedRequest:
		return &r.ConnectionContext
	case *GroupLeftRequest:
		return &r.ConnectionContext
	case *otherSystemEvent:
		return &r.ConnectionContext
	}
	return nil
}

// FuzzConnectionString: the parser never panics, an error never contains
// the access key, and an accepted string round-trips.
func FuzzConnectionString(f *testing.F) {
	f.Add("Endpoint=https://x.webpubsub.azure.com;", "abc", ";Version=1.0;")
	f.Add("Endpoint=http://[::1]:8080/a/;Port=", "k=", "9;ClientEndpoint=https://c")
	f.Add("", "k", ";AccessKey=again")
	f.Add("endpoint = HTTPS://Host.Example.COM/a/b/ ;", " k ", ";port=8443")
	f.Fuzz(func(t *testing.T, before, key, after string) {
		const marker = "K3y!"
		input := before + "AccessKey=" + marker + key + after
		cs, err := parseConnectionString(input)
		if err != nil {
			if !errors.Is(err, ErrInvalidConnectionString) {
				t.Fatalf("error %v does not wrap ErrInvalidConnectionString", err)
			}
			if strings.Contains(err.Error(), marker) {
				t.Fatalf("the error contains the key: %v", err)
			}
			return
		}
		again, err := parseConnectionString("Endpoint=" + cs.endpoint + ";AccessKey=" + cs.accessKey)
		if err != nil || again != cs {
			t.Fatalf("round trip of %q: %v", cs.endpoint, err)
		}
	})
}
