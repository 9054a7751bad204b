package payload

import (
	"encoding/json"
	"errors"
	"math"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

func TestJSON(t *testing.T) {
	tests := []struct {
		name   string
		in     any
		want   string
		reason string
	}{
		{"object", map[string]any{"a": 1}, `{"a":1}`, ""},
		{"html kept", map[string]string{"h": "<b>&</b>"}, `{"h":"<b>&</b>"}`, ""},
		{"string", "hi", `"hi"`, ""},
		{"raw compacted", json.RawMessage(`{ "a" : [1, 2] }`), `{"a":[1,2]}`, ""},
		{"nil", nil, "", ReasonNull},
		{"nil pointer", (*int)(nil), "", ReasonNull},
		{"raw null", json.RawMessage(`null`), "", ReasonNull},
		{"NaN", math.NaN(), "", "cannot be encoded as JSON"},
		{"bad raw", json.RawMessage(`{`), "", "cannot be encoded as JSON"},
		{"func", func() {}, "", "cannot be encoded as JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := JSON("message", tt.in)
			if tt.reason == "" {
				if err != nil || string(got) != tt.want {
					t.Fatalf("JSON = %q, %v; want %q", got, err, tt.want)
				}
				return
			}
			var ve *exported.ValidationError
			if !errors.As(err, &ve) || ve.Name != "message" || len(ve.Reason) < len(tt.reason) || ve.Reason[:len(tt.reason)] != tt.reason {
				t.Fatalf("JSON error %v; want reason %q", err, tt.reason)
			}
			if !errors.Is(err, exported.ErrInvalidArgument) {
				t.Error("the error does not match ErrInvalidArgument")
			}
		})
	}
}

func TestCopyAndEmpty(t *testing.T) {
	b := []byte{1, 2, 3}
	c := Copy(b)
	b[0] = 9
	if c[0] != 1 {
		t.Error("Copy shares the caller's slice")
	}
	if Copy(nil) != nil || Copy([]byte{}) != nil {
		t.Error("Copy of an empty slice is not nil")
	}
	if CheckNotEmpty("m", nil) == nil || CheckNotEmpty("m", []byte{0}) != nil {
		t.Error("CheckNotEmpty")
	}
	for dt, ct := range map[string]string{DataTypeText: ContentTypeText, DataTypeJSON: ContentTypeJSON, DataTypeBinary: ContentTypeBinary, "protobuf": ""} {
		if got := ContentTypeOf(dt); got != ct {
			t.Errorf("ContentTypeOf(%q) = %q", dt, got)
		}
	}
}
