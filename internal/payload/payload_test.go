package payload

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/internal/exported"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// reasonOf returns the Reason of the *exported.ValidationError that
// m.Check("message") returns, "" when it returns nil. It fails t on any
// other error.
func reasonOf(t *testing.T, m Message) string {
	t.Helper()
	err := m.Check("message")
	if err == nil {
		return ""
	}
	var ve *exported.ValidationError
	if !errors.As(err, &ve) || ve.Name != "message" || ve.Value != "" || !errors.Is(err, exported.ErrInvalidArgument) {
		t.Fatalf("Check = %#v, want a *exported.ValidationError named message", err)
	}
	if ve.Reason == "" {
		t.Fatal("a validation error without a reason")
	}
	return ve.Reason
}

type marshaler string

func (m marshaler) MarshalJSON() ([]byte, error) { return []byte(m), nil }

func TestBuilders(t *testing.T) {
	type doc struct {
		Name string   `json:"name"`
		Tags []string `json:"tags,omitempty"`
		N    int      `json:"n"`
	}
	var nilPtr *doc
	tests := []struct {
		name     string
		msg      Message
		wantType DataType
		wantData string
		wantErr  string // a Reason, or a prefix of one
	}{
		{"text", Text("héllo"), DataTypeText, "héllo", ""},
		{"text with HTML", Text("<b>&</b>"), DataTypeText, "<b>&</b>", ""},
		{"text keeps U+FFFD", Text("a\uFFFDb"), DataTypeText, "a\uFFFDb", ""},
		{"text invalid byte", Text("a\xffb"), DataTypeText, "a\uFFFDb", ""},
		{"text each invalid byte", Text("\xff\xfe"), DataTypeText, "\uFFFD\uFFFD", ""},
		{"text truncated sequence", Text("a\xe2\x82"), DataTypeText, "a\uFFFD\uFFFD", ""},
		{"text surrogate", Text("\xed\xa0\x80"), DataTypeText, "\uFFFD\uFFFD\uFFFD", ""},
		{"text empty", Text(""), DataTypeText, "", ReasonEmpty},
		{"binary", Binary([]byte{0, 1, 0xff}), DataTypeBinary, "\x00\x01\xff", ""},
		{"binary nil", Binary(nil), DataTypeBinary, "", ReasonEmpty},
		{"binary empty", Binary([]byte{}), DataTypeBinary, "", ReasonEmpty},
		{"json object no HTML escaping", JSON(map[string]string{"a": "<b>&</b>"}), DataTypeJSON, `{"a":"<b>&</b>"}`, ""},
		{"json string", JSON("<b>&</b>"), DataTypeJSON, `"<b>&</b>"`, ""},
		{"json struct", JSON(doc{Name: "x", Tags: []string{"<t>"}, N: 2}), DataTypeJSON, `{"name":"x","tags":["<t>"],"n":2}`, ""},
		{"json number", JSON(1.5), DataTypeJSON, `1.5`, ""},
		{"json false", JSON(false), DataTypeJSON, `false`, ""},
		{"json empty string", JSON(""), DataTypeJSON, `""`, ""},
		{"json invalid UTF-8 string", JSON("a\xffb"), DataTypeJSON, `"a\ufffdb"`, ""},
		{"raw json compacted", JSON(json.RawMessage(" { \"a\" : [ 1 , \"<&>\" ] } \n")), DataTypeJSON, `{"a":[1,"<&>"]}`, ""},
		{"raw json invalid UTF-8", JSON(json.RawMessage("[\"a\xffb\"]")), DataTypeJSON, "[\"a\uFFFDb\"]", ""},
		{"raw json escapes kept", JSON(json.RawMessage(`"\u003c"`)), DataTypeJSON, `"\u003c"`, ""},
		{"marshaler compacted", JSON(marshaler(` [1, "&"] `)), DataTypeJSON, `[1,"&"]`, ""},
		{"json nil", JSON(nil), DataTypeJSON, "", ReasonNull},
		{"json nil pointer", JSON(nilPtr), DataTypeJSON, "", ReasonNull},
		{"json nil map", JSON(map[string]int(nil)), DataTypeJSON, "", ReasonNull},
		{"raw json null", JSON(json.RawMessage(" null ")), DataTypeJSON, "", ReasonNull},
		{"raw json nil", JSON(json.RawMessage(nil)), DataTypeJSON, "", ReasonNull},
		{"marshaler null", JSON(marshaler("null")), DataTypeJSON, "", ReasonNull},
		{"raw json invalid", JSON(json.RawMessage(`{`)), DataTypeJSON, "", ReasonEncode},
		{"raw json empty", JSON(json.RawMessage(``)), DataTypeJSON, "", ReasonEncode},
		{"unencodable", JSON(make(chan int)), DataTypeJSON, "", ReasonEncode},
		{"NaN", JSON(math.NaN()), DataTypeJSON, "", ReasonEncode},
		{"func", JSON(func() {}), DataTypeJSON, "", ReasonEncode},
		{"zero", Message{}, "", "", ReasonZero},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.msg.DataType(); got != tt.wantType {
				t.Errorf("DataType = %q, want %q", got, tt.wantType)
			}
			reason := reasonOf(t, tt.msg)
			if tt.wantErr != "" {
				if !strings.HasPrefix(reason, tt.wantErr) {
					t.Fatalf("Check reason %q, want %q", reason, tt.wantErr)
				}
				if len(tt.msg.Data()) != 0 && tt.wantErr != ReasonEmpty {
					t.Errorf("a refused message holds %q", tt.msg.Data())
				}
				return
			}
			if reason != "" {
				t.Fatalf("Check reason %q", reason)
			}
			if string(tt.msg.Data()) != tt.wantData || string(tt.msg.Bytes()) != tt.wantData {
				t.Errorf("Data = %q, Bytes = %q, want %q", tt.msg.Data(), tt.msg.Bytes(), tt.wantData)
			}
		})
	}
}

// TestCopies checks that a Message never shares the caller's slice, and
// that Bytes hands out a copy.
func TestCopies(t *testing.T) {
	buf := []byte{1, 2, 3}
	raw := json.RawMessage(`{"a":1}`)
	bin, js := Binary(buf), JSON(raw)
	buf[0], raw[6] = 9, '2'
	if bin.Data()[0] != 1 || string(js.Data()) != `{"a":1}` {
		t.Fatalf("the caller's change reached the message: %v, %s", bin.Data(), js.Data())
	}
	b := bin.Bytes()
	b[0] = 7
	if bin.Data()[0] != 1 {
		t.Error("Bytes returned the message's own slice")
	}
}

func TestDataTypes(t *testing.T) {
	want := map[DataType]string{DataTypeText: "text/plain", DataTypeJSON: "application/json", DataTypeBinary: "application/octet-stream"}
	proto := map[DataType]protocol.DataType{DataTypeText: protocol.DataTypeText, DataTypeJSON: protocol.DataTypeJSON, DataTypeBinary: protocol.DataTypeBinary}
	all := PossibleDataTypeValues()
	if len(all) != len(want) || all[0] != DataTypeText || all[1] != DataTypeJSON || all[2] != DataTypeBinary {
		t.Fatalf("PossibleDataTypeValues = %v", all)
	}
	for _, d := range all {
		if d.MediaType() != want[d] {
			t.Errorf("%s.MediaType() = %q, want %q", d, d.MediaType(), want[d])
		}
		if string(d) != string(proto[d]) {
			t.Errorf("%s differs from the JSON subprotocol's %q", d, proto[d])
		}
	}
	if DataType("protobuf").MediaType() != "" || DataType("").MediaType() != "" {
		t.Error("an unknown data type has a media type")
	}
}

func TestParseContentType(t *testing.T) {
	tests := []struct {
		in   string
		want DataType
		ok   bool
	}{
		{"text/plain", DataTypeText, true},
		{"text/plain; charset=utf-8", DataTypeText, true},
		{"Text/Plain;charset=UTF-8", DataTypeText, true},
		{"application/json", DataTypeJSON, true},
		{"application/json; charset=utf-8", DataTypeJSON, true},
		{"APPLICATION/JSON", DataTypeJSON, true},
		{"application/octet-stream", DataTypeBinary, true},
		{" application/octet-stream ", DataTypeBinary, true},
		{"", "", false},
		{"text", "", false},
		{"text/html", "", false},
		{"application/x-protobuf", "", false},
		{"application/problem+json", "", false},
		{"text/plain; charset", "", false},
		{"application/json;;", "", false},
		{"text/plain/extra", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseContentType(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseContentType(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func FuzzParseContentType(f *testing.F) {
	for _, s := range []string{"text/plain", "application/json; charset=utf-8", "APPLICATION/OCTET-STREAM", "", ";", "text/plain; a=\"", "a/b; c=d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := ParseContentType(s)
		if !ok {
			if d != "" {
				t.Fatalf("ParseContentType(%q) = %q without ok", s, d)
			}
			return
		}
		mt, _, _ := strings.Cut(s, ";")
		if !strings.EqualFold(strings.TrimSpace(mt), d.MediaType()) {
			t.Fatalf("ParseContentType(%q) = %q, whose media type is %q", s, d, d.MediaType())
		}
		if back, ok := ParseContentType(d.MediaType()); !ok || back != d {
			t.Fatalf("%q does not parse back to %q", d.MediaType(), d)
		}
	})
}

func FuzzText(f *testing.F) {
	for _, s := range []string{"", "hi", "a\xffb", "\xe2\x82", "\xed\xa0\x80", "\uFFFD", "<b>&</b>", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := Text(s).Data()
		if want := string([]rune(s)); string(got) != want {
			t.Fatalf("Text(%q) = %q, want %q", s, got, want)
		}
		if !utf8.Valid(got) {
			t.Fatalf("Text(%q) is not UTF-8", s)
		}
		if again := Text(string(got)).Data(); !bytes.Equal(again, got) {
			t.Fatalf("Text is not idempotent on %q", s)
		}
		if (Text(s).Check("m") == nil) != (s != "") {
			t.Fatalf("Text(%q).Check() = %v", s, Text(s).Check("m"))
		}
	})
}

// FuzzJSONRaw feeds arbitrary bytes as a json.RawMessage: the builder must
// refuse what is not JSON or is null, and otherwise hold compact JSON equal
// to the input's value, with no HTML escaping added.
func FuzzJSONRaw(f *testing.F) {
	for _, s := range []string{`{"a":1}`, ` null `, `"<&>"`, `[1, 2]`, `{`, ``, `"\u003c"`, "\"\xff\"", `1e400`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m := JSON(json.RawMessage(b))
		reason := reasonOf(t, m)
		var compact bytes.Buffer
		valid := json.Compact(&compact, b) == nil
		switch {
		case !valid:
			if !strings.HasPrefix(reason, ReasonEncode) {
				t.Fatalf("JSON(%q): Check reason %q, want an encoding error", b, reason)
			}
		case compact.String() == "null":
			if reason != ReasonNull {
				t.Fatalf("JSON(%q): Check reason %q, want the null error", b, reason)
			}
		default:
			if reason != "" {
				t.Fatalf("JSON(%q): Check reason %q", b, reason)
			}
			if want := ValidUTF8(compact.String()); !bytes.Equal(m.Data(), want) {
				t.Fatalf("JSON(%q) = %q, want %q", b, m.Data(), want)
			}
			if !json.Valid(m.Data()) || !utf8.Valid(m.Data()) {
				t.Fatalf("JSON(%q) = %q, not valid UTF-8 JSON", b, m.Data())
			}
		}
	})
}
