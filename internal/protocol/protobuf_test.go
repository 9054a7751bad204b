package protocol

import (
	"bytes"
	"encoding/hex"
	"errors"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// anyX is the encoded Any of StringValue{"x"}, as in the pb vectors.
func anyX(t testing.TB) []byte {
	t.Helper()
	a, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const typeURLHex = "747970652e676f6f676c65617069732e636f6d2f676f6f676c652e70726f746f6275662e537472696e6756616c7565"

func TestParseProtobufClientFrame(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want ClientFrame
	}{
		{"join with ack", "32 06 0a 02 6731 10 01", ClientFrame{Type: TypeJoinGroup, Group: "g1", AckID: 1, HasAckID: true}},
		{"join with ack 0", "32 06 0a 02 6731 10 00", ClientFrame{Type: TypeJoinGroup, Group: "g1", AckID: 0, HasAckID: true}},
		{"join without ack", "32 04 0a 02 6731", ClientFrame{Type: TypeJoinGroup, Group: "g1"}},
		{"leave", "3a 06 0a 02 6731 10 02", ClientFrame{Type: TypeLeaveGroup, Group: "g1", AckID: 2, HasAckID: true}},
		{"send text no echo", "0a 0e 0a 02 6731 10 03 1a 04 0a 02 6869 20 01", ClientFrame{Type: TypeSendToGroup, Group: "g1", AckID: 3, HasAckID: true,
			NoEcho: true, DataType: DataTypeText, Data: []byte("hi"), HasData: true}},
		{"send binary", "0a 0b 0a 02 6731 1a 05 12 03 010203", ClientFrame{Type: TypeSendToGroup, Group: "g1", DataType: DataTypeBinary, Data: []byte{1, 2, 3}, HasData: true}},
		{"send empty binary", "0a 08 0a 02 6731 1a 02 12 00", ClientFrame{Type: TypeSendToGroup, Group: "g1", DataType: DataTypeBinary, Data: []byte{}, HasData: true}},
		{"send json", "0a 0f 0a 02 6731 1a 09 22 07 7b2261223a317d", ClientFrame{Type: TypeSendToGroup, Group: "g1", DataType: DataTypeJSON, Data: []byte(`{"a":1}`), HasData: true}},
		{"event text", "2a 0a 0a 02 6576 12 04 0a 02 6869", ClientFrame{Type: TypeEvent, Event: "ev", DataType: DataTypeText, Data: []byte("hi"), HasData: true}},
		{"event protobuf", "2a 40 0a 02 6576 12 38 1a 36 0a 2f " + typeURLHex + " 12 03 0a 01 78 18 04",
			ClientFrame{Type: TypeEvent, Event: "ev", AckID: 4, HasAckID: true, DataType: DataTypeProtobuf, Data: anyX(t), HasData: true}},
		{"sequence ack", "42 03 08 ac02", ClientFrame{Type: TypeSequenceAck, SequenceID: 300}},
		{"unknown field ignored", "32 09 0a 02 6731 10 01 f8 01 07", ClientFrame{Type: TypeJoinGroup, Group: "g1", AckID: 1, HasAckID: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProtobufClientFrame(unhex(t, tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			tt.want.viaProtobuf = true
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v\nwant %+v", got, tt.want)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
			// The frame encodes back to the same bytes.
			b, err := got.AppendProtobuf(nil)
			if err != nil {
				t.Fatal(err)
			}
			if tt.name != "unknown field ignored" && !bytes.Equal(b, unhex(t, tt.hex)) {
				t.Errorf("AppendProtobuf = % x, want %s", b, tt.hex)
			}
		})
	}
}

func TestParseProtobufClientFrameErrors(t *testing.T) {
	tests := []struct {
		name, hex string
	}{
		{"empty frame", ""},
		{"truncated", "32 06 0a 02 67"},
		{"bad varint", "32 02 10 ff"},
		{"only an unknown message", "4a 00"},
		{"send without data", "0a 04 0a 02 6731"},
		{"send with empty data", "0a 06 0a 02 6731 1a 00"},
		{"event without data", "2a 04 0a 02 6576"},
		{"text not UTF-8", "0a 09 0a 02 6731 1a 03 0a 01 ff"},
		{"json_data not JSON", "0a 09 0a 02 6731 1a 03 22 01 7b"},
		{"length past the end", "32 06 0a 09 6731 10 01"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseProtobufClientFrame(unhex(t, tt.hex))
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassStructural {
				t.Fatalf("err = %v (%+v), want a structural *Error", err, f)
			}
			if !reflect.DeepEqual(f, ClientFrame{}) {
				t.Errorf("frame = %+v, want zero", f)
			}
		})
	}
}

func TestProtobufValidate(t *testing.T) {
	// A protobuf client may send protobuf data; a JSON client may not.
	f, err := ParseProtobufClientFrame(unhex(t, "2a 40 0a 02 6576 12 38 1a 36 0a 2f "+typeURLHex+" 12 03 0a 01 78 18 04"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Errorf("protobuf frame: %v", err)
	}
	j, err := ParseClientFrame([]byte(`{"type":"event","event":"ev","dataType":"protobuf","data":"eA=="}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Validate(); err == nil {
		t.Error("a JSON frame with dataType protobuf passed Validate")
	}
	// Semantic checks still apply: an empty group is not a group.
	f, err = ParseProtobufClientFrame(unhex(t, "32 02 10 01"))
	if err != nil {
		t.Fatal(err)
	}
	var pe *Error
	if err := f.Validate(); !errors.As(err, &pe) || pe.Class != ClassValidation {
		t.Errorf("empty group: Validate = %v, want a validation error", err)
	}
}

func TestServiceFrameAppendProtobuf(t *testing.T) {
	tests := []struct {
		name string
		f    ServiceFrame
		hex  string
	}{
		{"ack ok", ServiceFrame{Type: TypeAck, AckID: 1, Success: true}, "0a 04 08 01 10 01"},
		{"ack forbidden", ServiceFrame{Type: TypeAck, AckID: 2, Error: &ErrorDetail{Name: "Forbidden", Message: "no"}},
			"0a 13 08 02 1a 0f 0a 09 466f7262696464656e 12 02 6e6f"},
		{"group text", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g1", FromUserID: "u", DataType: DataTypeText, Data: []byte("hi")},
			"12 11 0a 05 67726f7570 12 02 6731 1a 04 0a 02 6869"},
		{"group binary sequenced", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g1", DataType: DataTypeBinary, Data: []byte{0, 0xff}, SequenceID: 5},
			"12 13 0a 05 67726f7570 12 02 6731 1a 04 12 02 00ff 20 05"},
		// JSON reaches protobuf clients as text_data (the reference's
		// rule), which parses back as text.
		{"server json", ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeJSON, Data: []byte(`{"a":1}`)},
			"12 13 0a 06 736572766572 1a 09 0a 07 7b2261223a317d"},
		{"group json by default", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g1", Data: []byte(`[1]`)},
			"12 12 0a 05 67726f7570 12 02 6731 1a 05 0a 03 5b315d"},
		{"server protobuf sequenced", ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeProtobuf, Data: anyX(t), SequenceID: 1},
			"12 44 0a 06 736572766572 1a 38 1a 36 0a 2f " + typeURLHex + " 12 03 0a 01 78 20 01"},
		{"connected", ServiceFrame{Type: TypeSystem, Event: EventConnected, ConnectionID: "c1", UserID: "u1"}, "1a 0a 0a 08 0a 02 6331 12 02 7531"},
		{"connected reliable", ServiceFrame{Type: TypeSystem, Event: EventConnected, ConnectionID: "c1", UserID: "u1", ReconnectionToken: "t"},
			"1a 0d 0a 0b 0a 02 6331 12 02 7531 1a 01 74"},
		{"connected anonymous", ServiceFrame{Type: TypeSystem, Event: EventConnected, ConnectionID: "c1"}, "1a 06 0a 04 0a 02 6331"},
		{"disconnected", ServiceFrame{Type: TypeSystem, Event: EventDisconnected, Message: "bye"}, "1a 07 12 05 12 03 627965"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.AppendProtobuf(nil)
			if err != nil {
				t.Fatal(err)
			}
			if want := unhex(t, tt.hex); !bytes.Equal(got, want) {
				t.Fatalf("got % x\nwant % x", got, want)
			}
			back, err := ParseProtobufServiceFrame(got)
			if err != nil {
				t.Fatal(err)
			}
			want := tt.f
			want.FromUserID = "" // not carried
			if want.Type == TypeMessage {
				want.HasData = true
			}
			if want.Type == TypeMessage && (want.DataType == DataTypeJSON || want.DataType == "") {
				want.DataType = DataTypeText // sent as text_data
			}
			if want.Type == TypeAck {
				want.HasAckID = true // a protobuf ack always has one
			}
			if !reflect.DeepEqual(back, want) {
				t.Errorf("parsed back %+v\nwant %+v", back, want)
			}
		})
	}
	for _, f := range []ServiceFrame{
		{Type: TypePong}, {Type: TypeInvokeResponse}, {Type: TypeStreamAck}, {Type: TypeSystem, Event: "other"},
		{Type: TypeMessage, From: FromServer, DataType: DataTypeProtobuf, Data: []byte{0xff}},
	} {
		if _, err := f.AppendProtobuf(nil); err == nil {
			t.Errorf("%+v encoded", f)
		}
	}
}

// TestParseProtobufServiceFrameData: each MessageData case parses to its
// data type; json_data, which the service does not send but the schema
// allows downstream, is still JSON.
func TestParseProtobufServiceFrameData(t *testing.T) {
	for _, tt := range []struct {
		name, hex string
		dt        DataType
		data      []byte
	}{
		{"text_data", "12 13 0a 06 736572766572 1a 09 0a 07 7b2261223a317d", DataTypeText, []byte(`{"a":1}`)},
		{"json_data", "12 13 0a 06 736572766572 1a 09 22 07 7b2261223a317d", DataTypeJSON, []byte(`{"a":1}`)},
		{"binary_data", "12 0e 0a 06 736572766572 1a 04 12 02 00ff", DataTypeBinary, []byte{0, 0xff}},
		{"empty binary_data", "12 0c 0a 06 736572766572 1a 02 12 00", DataTypeBinary, []byte{}},
		{"protobuf_data", "12 42 0a 06 736572766572 1a 38 1a 36 0a 2f " + typeURLHex + " 12 03 0a 01 78", DataTypeProtobuf, anyX(t)},
		{"unknown fields ignored", "12 15 0a 06 736572766572 1a 0b 0a 02 6869 f8 01 07 fa 01 01 00", DataTypeText, []byte("hi")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseProtobufServiceFrame(unhex(t, tt.hex))
			if err != nil {
				t.Fatal(err)
			}
			if f.Type != TypeMessage || f.From != FromServer || !f.HasData || f.DataType != tt.dt || !bytes.Equal(f.Data, tt.data) {
				t.Errorf("got %+v, want %s %q", f, tt.dt, tt.data)
			}
		})
	}
}

func TestParseProtobufServiceFrameErrors(t *testing.T) {
	for _, tt := range []struct{ name, hex string }{
		{"empty frame", ""},
		{"truncated ack", "0a 04 08 01"},
		{"truncated data", "12 13 0a 06 736572766572 1a 09 0a 07 7b22"},
		{"bad varint", "0a 02 08 ff"},
		{"length past the end", "1a 07 12 05 12 09 627965"},
		{"only an unknown message", "22 00"},
		{"message without data", "12 08 0a 06 736572766572"},
		{"system without a message", "1a 00"},
		{"text not UTF-8", "12 0b 0a 06 736572766572 1a 01 0a 01 ff"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseProtobufServiceFrame(unhex(t, tt.hex))
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassStructural {
				t.Fatalf("err = %v (%+v), want a structural *Error", err, f)
			}
		})
	}
}

func TestClientFrameAppendProtobufRefuses(t *testing.T) {
	for _, f := range []ClientFrame{
		{Type: TypePing}, {Type: TypeInvoke}, {Type: TypeStreamData}, {Type: TypeStreamEnd}, {Type: TypeSetGroupState},
		{Type: TypeSendToGroup, Group: "g", StreamID: "s"},
		{Type: TypeSendToGroup, Group: "g", HasTTL: true, DataType: DataTypeText, HasData: true},
		{Type: TypeEvent, Event: "e", Metadata: map[string]string{"k": "v"}},
	} {
		if _, err := f.AppendProtobuf(nil); !errors.Is(err, ErrNoProtobufForm) {
			t.Errorf("%+v: err = %v, want ErrNoProtobufForm", f, err)
		}
	}
}

func TestJSONProtobufDataIsBase64(t *testing.T) {
	f := ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeProtobuf, Data: []byte{1, 2, 0xff}}
	b := f.AppendJSON(nil)
	if want := `{"type":"message","from":"server","dataType":"protobuf","data":"AQL/"}`; string(b) != want {
		t.Fatalf("AppendJSON = %s, want %s", b, want)
	}
	back, err := ParseServiceFrame(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Data, f.Data) || back.DataType != DataTypeProtobuf {
		t.Errorf("parsed back %+v", back)
	}
}

// FuzzParseProtobufClientFrame checks that any input gives a frame or a
// structural error, never a panic, and that an accepted frame encodes
// to bytes that parse to the same frame.
func FuzzParseProtobufClientFrame(f *testing.F) {
	for _, s := range []string{"32 06 0a 02 6731 10 01", "0a 0e 0a 02 6731 10 03 1a 04 0a 02 6869 20 01", "42 03 08 ac02",
		"0a 0f 0a 02 6731 1a 09 22 07 7b2261223a317d", "2a 40 0a 02 6576 12 38 1a 36 0a 2f " + typeURLHex + " 12 03 0a 01 78 18 04", "", "4a 00",
		// Unknown fields: at the top, in a message, in MessageData.
		"f8 01 07 32 06 0a 02 6731 10 01", "32 09 0a 02 6731 10 01 f8 01 07", "0a 11 0a 02 6731 1a 0b 0a 02 6869 fa 01 01 00 f8 01 07",
		// Truncated input: inside a message, a length, a varint.
		"32 06 0a 02 67", "0a 0e 0a 02 6731 10 03 1a 04 0a 02", "42 03 08 ac", "2a"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseProtobufClientFrame(b)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassStructural {
				t.Fatalf("error %v is not structural", err)
			}
			return
		}
		_ = fr.Validate()
		enc, err := fr.AppendProtobuf(nil)
		if err != nil {
			t.Fatalf("an accepted frame does not encode: %v", err)
		}
		again, err := ParseProtobufClientFrame(enc)
		if err != nil {
			t.Fatalf("the encoding of an accepted frame does not parse: %v", err)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
		}
	})
}

// FuzzParseProtobufServiceFrame is the same check for downstream frames.
func FuzzParseProtobufServiceFrame(f *testing.F) {
	for _, s := range []string{"0a 04 08 01 10 01", "12 13 0a 05 67726f7570 12 02 6731 1a 04 12 02 00ff 20 05", "1a 0d 0a 0b 0a 02 6331 12 02 7531 1a 01 74", "1a 07 12 05 12 03 627965", "",
		"12 13 0a 06 736572766572 1a 09 22 07 7b2261223a317d", "12 13 0a 06 736572766572 1a 09 0a 07 7b2261223a317d",
		"12 44 0a 06 736572766572 1a 38 1a 36 0a 2f " + typeURLHex + " 12 03 0a 01 78 20 01",
		"0a 13 08 02 1a 0f 0a 09 466f7262696464656e 12 02 6e6f",
		// Unknown fields: at the top, in an ack, in MessageData, in a system message.
		"f8 01 07 0a 04 08 01 10 01", "0a 07 08 01 10 01 f8 01 07", "12 15 0a 06 736572766572 1a 0b 0a 02 6869 f8 01 07 fa 01 01 00",
		"1a 0e 0a 0c 0a 02 6331 12 02 7531 fa 01 01 00", "22 00",
		// Truncated input: inside a message, a length, a varint.
		"0a 04 08 01", "12 13 0a 05 67726f7570 12 02 6731 1a 04 12", "1a 0d 0a 0b 0a 02 6331", "0a 02 08 ff", "12"} {
		f.Add(unhex(f, s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		fr, err := ParseProtobufServiceFrame(b)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassStructural {
				t.Fatalf("error %v is not structural", err)
			}
			return
		}
		if fr.Type == TypeMessage && fr.From != FromGroup {
			fr.Group = "" // only a group message carries its group
		}
		if fr.Success {
			fr.Error = nil // an error is written only on failure
		}
		if fr.Type == TypeMessage && fr.DataType == DataTypeJSON {
			fr.DataType = DataTypeText // JSON is sent as text_data
		}
		enc, err := fr.AppendProtobuf(nil)
		if err != nil {
			t.Fatalf("an accepted frame does not encode: %v", err)
		}
		again, err := ParseProtobufServiceFrame(enc)
		if err != nil {
			t.Fatalf("the encoding of an accepted frame does not parse: %v", err)
		}
		if !reflect.DeepEqual(fr, again) {
			t.Fatalf("round trip changed the frame:\n%+v\n%+v", fr, again)
		}
	})
}
