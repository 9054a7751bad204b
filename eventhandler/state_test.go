package eventhandler

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// TestStateInteropWithJS decodes header values produced the way
// @azure/web-pubsub-express produces them, and checks that the same values,
// set in the same order, encode to the very same header.
func TestStateInteropWithJS(t *testing.T) {
	var data struct {
		Samples []struct {
			Name   string `json:"name"`
			JSON   string `json:"json"`
			Header string `json:"header"`
		} `json:"samples"`
	}
	loadJSON(t, "state-interop.json", &data)
	if len(data.Samples) == 0 {
		t.Fatal("no samples")
	}
	for _, s := range data.Samples {
		t.Run(s.Name, func(t *testing.T) {
			st, err := cloudevents.DecodeState(s.Header)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			want, err := cloudevents.DecodeState(base64.StdEncoding.EncodeToString([]byte(s.JSON)))
			if err != nil {
				t.Fatal(err)
			}
			keys, vals := want.Names(), want.Values()
			if !slices.Equal(st.Names(), keys) || !equalStates(st.Values(), vals) {
				t.Fatalf("decoded %v %v, want %v %v", st.Names(), st.Values(), keys, vals)
			}
			// Go side: set each value, in the JS insertion order.
			var cc ConnectionContext
			for _, k := range keys {
				if err := cc.SetState(k, vals[k]); err != nil {
					t.Fatal(err)
				}
			}
			got, ok := cc.stateHeader()
			if !ok || got != s.Header {
				t.Fatalf("encoded %q, want %q", got, s.Header)
			}
		})
	}
}

// TestStateTypedValues sets typed Go values and gets the JS literals.
func TestStateTypedValues(t *testing.T) {
	var cc ConnectionContext
	if err := cc.SetState("k", map[string]int{"n": 1}); err != nil {
		t.Fatal(err)
	}
	if err := cc.SetState("s", "v"); err != nil {
		t.Fatal(err)
	}
	if got, _ := cc.stateHeader(); got != "eyJrIjp7Im4iOjF9LCJzIjoidiJ9" {
		t.Fatalf("header %q", got)
	}

	type nested struct {
		List []any  `json:"list"`
		Q    string `json:"q"`
	}
	var cc2 ConnectionContext
	for _, kv := range []struct {
		k string
		v any
	}{
		{"name", "Zoë <b>&</b> 😀"},
		{"nested", nested{List: []any{1, 2.5, true, nil}, Q: "\"quoted\"\n"}},
		{"counter", 3},
	} {
		if err := cc2.SetState(kv.k, kv.v); err != nil {
			t.Fatal(err)
		}
	}
	want := "eyJuYW1lIjoiWm/DqyA8Yj4mPC9iPiDwn5iAIiwibmVzdGVkIjp7Imxpc3QiOlsxLDIuNSx0cnVlLG51bGxdLCJxIjoiXCJxdW90ZWRcIlxuIn0sImNvdW50ZXIiOjN9"
	if got, _ := cc2.stateHeader(); got != want {
		t.Fatalf("header %q, want the Node sample %q", got, want)
	}

	// Typed reads.
	var n nested
	if ok, err := cc2.State("nested", &n); !ok || err != nil || n.Q != "\"quoted\"\n" || len(n.List) != 4 {
		t.Fatalf("State(nested) = %v, %v, %+v", ok, err, n)
	}
	var missing int
	if ok, err := cc2.State("missing", &missing); ok || err != nil {
		t.Fatalf("State(missing) = %v, %v", ok, err)
	}
	var wrong int
	if ok, err := cc2.State("name", &wrong); !ok || err == nil || !strings.Contains(err.Error(), `"name"`) {
		t.Fatalf("State(name) into int = %v, %v", ok, err)
	}
}

func TestStateMutations(t *testing.T) {
	start := base64.StdEncoding.EncodeToString([]byte(`{"a":1,"b":2,"c":3}`))
	tests := []struct {
		name     string
		mutate   func(*ConnectionContext) error
		wantJSON string // "" means no header
	}{
		{"untouched", func(*ConnectionContext) error { return nil }, ""},
		{"read only", func(c *ConnectionContext) error { _ = c.States(); var v int; _, err := c.State("a", &v); return err }, ""},
		{"replace keeps position", func(c *ConnectionContext) error { return c.SetState("a", "x") }, `{"a":"x","b":2,"c":3}`},
		{"add goes last", func(c *ConnectionContext) error { return c.SetState("d", []int{4}) }, `{"a":1,"b":2,"c":3,"d":[4]}`},
		{"delete", func(c *ConnectionContext) error { c.DeleteState("b"); return nil }, `{"a":1,"c":3}`},
		{"delete absent", func(c *ConnectionContext) error { c.DeleteState("zz"); return nil }, ""},
		{"delete then add", func(c *ConnectionContext) error { c.DeleteState("a"); return c.SetState("a", 0) }, `{"b":2,"c":3,"a":0}`},
		{"clear", func(c *ConnectionContext) error { c.ClearStates(); return nil }, `{}`},
		{"raw message", func(c *ConnectionContext) error { return c.SetState("r", json.RawMessage(` { "x" : 1 } `)) }, `{"a":1,"b":2,"c":3,"r":{"x":1}}`},
		{"HTML is not escaped", func(c *ConnectionContext) error { return c.SetState("h", "<&>") }, `{"a":1,"b":2,"c":3,"h":"<&>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := cloudevents.DecodeState(start)
			if err != nil {
				t.Fatal(err)
			}
			cc := ConnectionContext{state: st}
			if err := tt.mutate(&cc); err != nil {
				t.Fatal(err)
			}
			got, ok := cc.stateHeader()
			if tt.wantJSON == "" {
				if ok {
					t.Fatalf("header %q written for an unchanged state", got)
				}
				return
			}
			raw, _ := base64.StdEncoding.DecodeString(got)
			if !ok || string(raw) != tt.wantJSON {
				t.Fatalf("header %q (%s), want %s", got, raw, tt.wantJSON)
			}
		})
	}
}

func TestStateErrorsAndCopies(t *testing.T) {
	st, err := cloudevents.DecodeState(base64.StdEncoding.EncodeToString([]byte(`{"a":1}`)))
	if err != nil {
		t.Fatal(err)
	}
	cc := ConnectionContext{state: st}
	if err := cc.SetState("ch", make(chan int)); err == nil || !strings.Contains(err.Error(), `"ch"`) {
		t.Fatalf("SetState(chan) error %v", err)
	}
	if _, ok := cc.stateHeader(); ok {
		t.Fatal("a failed SetState changed the state")
	}
	m := cc.States()
	m["a"][0] = '9'
	m["b"] = json.RawMessage("2")
	if got := cc.States(); string(got["a"]) != "1" || len(got) != 1 {
		t.Fatalf("States returned the internal map: %v", got)
	}
	var zero ConnectionContext
	if len(zero.States()) != 0 {
		t.Fatal("zero context has states")
	}
}

// TestStateThroughHandler: an undecodable state is logged and replaced by
// an empty one, and the request is still handled.
func TestStateThroughHandler(t *testing.T) {
	var got map[string]json.RawMessage
	h, logs := mustNew(t, &Options{UserEvent: func(_ context.Context, r *UserEventRequest) (*UserEventResponse, error) {
		got = r.States()
		return nil, nil
	}})
	resp := serve(h, eventRequest(TypeUserPrefix+"echo", "text/plain", "hi", HeaderConnectionState, "%%%"))
	if resp.StatusCode != 204 || got == nil || len(got) != 0 {
		t.Fatalf("status %d, states %v", resp.StatusCode, got)
	}
	if !strings.Contains(logs.String(), "ce-connectionState header cannot be decoded") {
		t.Fatalf("no warning: %q", logs.String())
	}
}
