package eventhandler

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestReplyBuilders(t *testing.T) {
	jsonReply := func(v any) *UserEventResponse {
		r, err := JSON(v)
		if err != nil {
			t.Fatalf("JSON(%v): %v", v, err)
		}
		return r
	}
	tests := []struct {
		name     string
		resp     *UserEventResponse
		wantType DataType
		wantData string
		wantCT   string // "" means no reply
	}{
		{"text", Text("<b>&</b>"), DataTypeText, "<b>&</b>", "text/plain; charset=utf-8"},
		{"json", jsonReply(map[string]string{"a": "<&>"}), DataTypeJSON, `{"a":"<&>"}`, "application/json; charset=utf-8"},
		{"raw json", jsonReply(json.RawMessage(` [ 1 ] `)), DataTypeJSON, `[1]`, "application/json; charset=utf-8"},
		{"binary", Binary([]byte{0}), DataTypeBinary, "\x00", "application/octet-stream"},
		{"empty text", Text(""), DataTypeText, "", ""},
		{"nil binary", Binary(nil), DataTypeBinary, "", ""},
		{"zero", &UserEventResponse{}, "", "", ""},
		{"nil", nil, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.resp.DataType() != tt.wantType || string(tt.resp.Bytes()) != tt.wantData || tt.resp.contentType() != tt.wantCT {
				t.Errorf("got %q %q %q, want %q %q %q", tt.resp.DataType(), tt.resp.Bytes(), tt.resp.contentType(), tt.wantType, tt.wantData, tt.wantCT)
			}
		})
	}
}

func TestJSONReplyErrors(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"null", nil, "invalid reply: is JSON null"},
		{"raw null", json.RawMessage("null"), "invalid reply: is JSON null"},
		{"unencodable", make(chan int), "invalid reply: cannot be encoded as JSON"},
		{"invalid raw", json.RawMessage("{"), "invalid reply: cannot be encoded as JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := JSON(tt.v)
			var ve *ValidationError
			if r != nil || !errors.As(err, &ve) || ve.Name != "reply" || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("JSON = %v, %v; want nil, a *ValidationError %q", r, err, tt.want)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Error("the error does not match ErrInvalidArgument")
			}
		})
	}
}
