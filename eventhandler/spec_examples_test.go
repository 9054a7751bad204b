package eventhandler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// specCase is one entry of testdata/cloudevents-examples.json.
type specCase struct {
	Name     string `json:"name"`
	Scenario string `json:"scenario"`
	Request  struct {
		Method     string      `json:"method"`
		Path       string      `json:"path"`
		Headers    [][2]string `json:"headers"`
		Body       string      `json:"body"`
		BodyBase64 string      `json:"bodyBase64"`
	} `json:"request"`
	Seen     map[string]json.RawMessage `json:"seen"`
	Response struct {
		Status  int                `json:"status"`
		Headers map[string]*string `json:"headers"`
		Body    string             `json:"body"`
	} `json:"response"`
}

func (c *specCase) httpRequest(t *testing.T) *http.Request {
	t.Helper()
	body := []byte(c.Request.Body)
	if c.Request.BodyBase64 != "" {
		var err error
		if body, err = base64.StdEncoding.DecodeString(c.Request.BodyBase64); err != nil {
			t.Fatal(err)
		}
	}
	r := httptest.NewRequest(c.Request.Method, "http://localhost:3000"+c.Request.Path, strings.NewReader(string(body)))
	for _, kv := range c.Request.Headers {
		r.Header.Add(kv[0], kv[1])
	}
	return r
}

// summary records what a callback received, in the vocabulary of the
// "seen" objects of the test data.
func summary(cc *ConnectionContext) map[string]any {
	m := map[string]any{
		"event": cc.EventName, "type": cc.Type, "hub": cc.Hub, "connectionId": cc.ConnectionID,
		"userId": cc.UserID, "id": cc.ID, "source": cc.Source, "origin": cc.Origin,
		"subprotocol": cc.Subprotocol, "states": cc.States(),
	}
	if !cc.Time.IsZero() {
		m["time"] = cc.Time.Format(time.RFC3339)
	}
	return m
}

// specOptions returns the callbacks of a scenario and where they record
// what they saw.
func specOptions(scenario string, seen *map[string]any) *Options {
	return &Options{
		AccessKeys:     []string{primaryKey},
		AllowedOrigins: nil,
		Connect: func(ctx context.Context, req *ConnectRequest) (*ConnectResponse, error) {
			s := summary(&req.ConnectionContext)
			s["claims"], s["query"], s["headers"] = req.Claims, req.Query, req.Headers
			s["subprotocols"], s["clientCertificates"] = req.Subprotocols, req.ClientCertificates
			*seen = s
			if scenario == "reject" {
				return nil, Reject(http.StatusUnauthorized, "Invalid credentials")
			}
			if err := req.SetState("counter", 1); err != nil {
				return nil, err
			}
			if err := req.SetState("name", "vic"); err != nil {
				return nil, err
			}
			return &ConnectResponse{
				UserID: "alice",
				Groups: []string{"room1", "lobby"},
				Roles:  []string{"webpubsub.sendToGroup.room1"},
			}, nil
		},
		Connected: func(ctx context.Context, req *ConnectedRequest) error {
			*seen = summary(&req.ConnectionContext)
			return nil
		},
		Disconnected: func(ctx context.Context, req *DisconnectedRequest) error {
			s := summary(&req.ConnectionContext)
			s["reason"] = req.Reason
			*seen = s
			return nil
		},
		UserEvents: map[string]UserEventFunc{
			"echo": func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
				s := summary(&req.ConnectionContext)
				s["dataType"], s["data"] = req.DataType, req.Data
				*seen = s
				if scenario == "fail" {
					return nil, errors.New("database unavailable at db.internal:5432")
				}
				var n int
				if _, err := req.State("counter", &n); err != nil {
					return nil, err
				}
				if err := req.SetState("counter", n+1); err != nil {
					return nil, err
				}
				return Text("echo: " + string(req.Data)), nil
			},
		},
		UserEvent: func(ctx context.Context, req *UserEventRequest) (*UserEventResponse, error) {
			s := summary(&req.ConnectionContext)
			s["dataType"], s["data"] = req.DataType, req.Data
			*seen = s
			return nil, nil
		},
	}
}

// TestSpecExamples replays the complete examples of cloudevents.md §12 and
// checks the responses (status, headers, body, ce-connectionState) and what
// the callbacks received.
func TestSpecExamples(t *testing.T) {
	var data struct {
		Cases []specCase `json:"cases"`
	}
	loadJSON(t, "cloudevents-examples.json", &data)
	if len(data.Cases) < 10 {
		t.Fatalf("only %d cases in the test data", len(data.Cases))
	}
	for _, c := range data.Cases {
		t.Run(c.Name, func(t *testing.T) {
			var seen map[string]any
			h, logs := mustNew(t, specOptions(c.Scenario, &seen))
			resp := serve(h, c.httpRequest(t))
			body := readBody(t, resp)
			if resp.StatusCode != c.Response.Status {
				t.Fatalf("status %d, want %d (body %q)", resp.StatusCode, c.Response.Status, body)
			}
			for name, want := range c.Response.Headers {
				got, present := resp.Header[http.CanonicalHeaderKey(name)]
				switch {
				case want == nil && present:
					t.Errorf("header %s = %q, want it absent", name, got)
				case want != nil && (len(got) != 1 || got[0] != *want):
					t.Errorf("header %s = %q, want [%q]", name, got, *want)
				}
			}
			if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
				if !jsonEqual([]byte(body), []byte(c.Response.Body)) {
					t.Errorf("body %s, want %s", body, c.Response.Body)
				}
			} else if body != c.Response.Body {
				t.Errorf("body %q, want %q", body, c.Response.Body)
			}
			if c.Seen != nil && seen == nil {
				t.Fatal("the callback did not run")
			}
			for key, want := range c.Seen {
				got, err := json.Marshal(seen[key])
				if err != nil {
					t.Fatal(err)
				}
				if !jsonEqual(got, want) {
					t.Errorf("callback saw %s = %s, want %s", key, got, want)
				}
			}
			if c.Scenario == "fail" {
				if strings.Contains(body, "db.internal") {
					t.Error("the callback's error text reached the response")
				}
				if !strings.Contains(logs.String(), "db.internal") {
					t.Error("the callback's error was not logged")
				}
			}
		})
	}
}
