package cloudevents

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func TestDecodeState(t *testing.T) {
	tests := []struct {
		name       string
		header     string
		wantNames  []string
		wantValues map[string]string
		wantErr    string
	}{
		{"absent", "", nil, nil, ""},
		{"empty object", "e30=", nil, nil, ""},
		{"JS sample", "eyJjb3VudGVyIjoxLCJuYW1lIjoidmljIn0=", []string{"counter", "name"}, map[string]string{"counter": "1", "name": `"vic"`}, ""},
		{"padded", b64(`{"a":1}`), []string{"a"}, nil, ""},
		{"unpadded", strings.TrimRight(b64(`{"ab":1}`), "="), []string{"ab"}, nil, ""},
		{"URL-safe", base64.URLEncoding.EncodeToString([]byte(`{"a":"??>>"}`)), []string{"a"}, nil, ""},
		{"URL-safe unpadded", base64.RawURLEncoding.EncodeToString([]byte(`{"a":"??>"}`)), []string{"a"}, nil, ""},
		{"order kept", b64(`{"z":1,"a":2,"m":3}`), []string{"z", "a", "m"}, nil, ""},
		{"repeated key keeps its first position", b64(`{"a":1,"b":2,"a":3}`), []string{"a", "b"}, map[string]string{"a": "3", "b": "2"}, ""},
		{"white space is compacted", b64(" {\n\"a\" : [1, 2] } "), []string{"a"}, map[string]string{"a": "[1,2]"}, ""},
		{"escaped name", b64(`{"\u003c\"x":true}`), []string{`<"x`}, nil, ""},
		{"not base64", "!!!not base64!!!", nil, nil, "not valid base64"},
		{"not JSON", b64("hello"), nil, nil, "not valid JSON"},
		{"blank JSON", b64(" "), nil, nil, "not valid JSON"},
		{"array", b64(`[1,2]`), nil, nil, "not a JSON object"},
		{"number", b64(`1`), nil, nil, "not a JSON object"},
		{"null", b64(`null`), nil, nil, "not a JSON object"},
		{"truncated", b64(`{"a":`), nil, nil, "not valid JSON"},
		{"trailing data", b64(`{"a":1}{}`), nil, nil, "data after the object"},
		{"bad value", b64(`{"a":tru}`), nil, nil, "not valid JSON"},
		{"non-string key", b64(`{1:2}`), nil, nil, "not valid JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st, err := DecodeState(tt.header)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("error %v, want %q", err, tt.wantErr)
			}
			if st == nil {
				t.Fatal("nil state")
			}
			if !slices.Equal(st.Names(), tt.wantNames) || st.Len() != len(tt.wantNames) || len(st.Values()) != len(tt.wantNames) {
				t.Fatalf("names %v (%d values), want %v", st.Names(), len(st.Values()), tt.wantNames)
			}
			for name, want := range tt.wantValues {
				if got, ok := st.Get(name); !ok || string(got) != want {
					t.Fatalf("%s = %s, want %s", name, got, want)
				}
			}
			if st.Modified() {
				t.Fatal("a decoded state is marked modified")
			}
		})
	}
}

func TestStateEncode(t *testing.T) {
	type nested struct {
		List []any  `json:"list"`
		Q    string `json:"q"`
	}
	tests := []struct {
		name   string
		values [][2]any // name, value, in insertion order
		want   string
	}{
		{"empty", nil, "e30="},
		{"JS sample", [][2]any{{"counter", 1}, {"name", "vic"}}, "eyJjb3VudGVyIjoxLCJuYW1lIjoidmljIn0="},
		{"nested", [][2]any{{"k", map[string]int{"n": 1}}, {"s", "v"}}, "eyJrIjp7Im4iOjF9LCJzIjoidiJ9"},
		{"HTML and emoji unescaped, as Node writes them", [][2]any{
			{"name", "Zoë <b>&</b> 😀"},
			{"nested", nested{List: []any{1, 2.5, true, nil}, Q: "\"quoted\"\n"}},
			{"counter", 3},
		}, "eyJuYW1lIjoiWm/DqyA8Yj4mPC9iPiDwn5iAIiwibmVzdGVkIjp7Imxpc3QiOlsxLDIuNSx0cnVlLG51bGxdLCJxIjoiXCJxdW90ZWRcIlxuIn0sImNvdW50ZXIiOjN9"},
		{"raw JSON is compacted", [][2]any{{"r", json.RawMessage(` { "x" : 1 } `)}}, b64(`{"r":{"x":1}}`)},
		{"HTML in a name", [][2]any{{"<&>", 1}}, b64(`{"<&>":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s State
			for _, kv := range tt.values {
				if err := s.Set(kv[0].(string), kv[1]); err != nil {
					t.Fatal(err)
				}
			}
			got := s.Encode()
			if got != tt.want {
				t.Fatalf("Encode() = %q, want %q", got, tt.want)
			}
			back, err := DecodeState(got)
			if err != nil || !slices.Equal(back.Names(), s.Names()) || back.Encode() != got {
				t.Fatalf("decode of %q: %v, names %v", got, err, back.Names())
			}
		})
	}
}

func TestStateMutations(t *testing.T) {
	start := b64(`{"a":1,"b":2,"c":3}`)
	tests := []struct {
		name     string
		mutate   func(*State) error
		wantJSON string // "" means not modified
	}{
		{"untouched", func(*State) error { return nil }, ""},
		{"read only", func(s *State) error { _ = s.Values(); _, _ = s.Get("a"); _ = s.Names(); return nil }, ""},
		{"replace keeps position", func(s *State) error { return s.Set("a", "x") }, `{"a":"x","b":2,"c":3}`},
		{"add goes last", func(s *State) error { return s.Set("d", []int{4}) }, `{"a":1,"b":2,"c":3,"d":[4]}`},
		{"delete", func(s *State) error { s.Delete("b"); return nil }, `{"a":1,"c":3}`},
		{"delete absent", func(s *State) error { s.Delete("zz"); return nil }, ""},
		{"delete then add", func(s *State) error { s.Delete("a"); return s.Set("a", 0) }, `{"b":2,"c":3,"a":0}`},
		{"clear", func(s *State) error { s.Clear(); return nil }, `{}`},
		{"clear then set", func(s *State) error { s.Clear(); return s.Set("z", nil) }, `{"z":null}`},
		{"failed set", func(s *State) error {
			if s.Set("ch", make(chan int)) == nil {
				return errFailedSetAccepted
			}
			return nil
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := DecodeState(start)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.mutate(s); err != nil {
				t.Fatal(err)
			}
			if tt.wantJSON == "" {
				if s.Modified() || s.Encode() != start {
					t.Fatalf("modified %v, encoded %q", s.Modified(), s.Encode())
				}
				return
			}
			if got := s.Encode(); !s.Modified() || got != b64(tt.wantJSON) {
				t.Fatalf("modified %v, encoded %q, want %s", s.Modified(), got, tt.wantJSON)
			}
		})
	}
}

var errFailedSetAccepted = errors.New("a Set of a channel succeeded")

func TestStateCopies(t *testing.T) {
	s, _ := DecodeState(b64(`{"a":1}`))
	m := s.Values()
	m["a"][0] = '9'
	m["b"] = json.RawMessage("2")
	names := s.Names()
	names[0] = "x"
	if got := s.Values(); string(got["a"]) != "1" || len(got) != 1 || s.Names()[0] != "a" {
		t.Fatalf("Values or Names returned internal storage: %v %v", got, s.Names())
	}
	var zero State
	if zero.Len() != 0 || zero.Values() == nil || zero.Encode() != "e30=" || zero.Modified() {
		t.Fatal("the zero State is not empty")
	}
	zero.Delete("a")
	if zero.Modified() {
		t.Fatal("deleting from the zero State modified it")
	}
}
