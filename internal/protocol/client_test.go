package protocol

import (
	"bytes"
	"errors"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestParseClientFrameAccepted(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ClientFrame
	}{
		{"join", `{"type":"joinGroup","group":"room1","ackId":1}`,
			ClientFrame{Type: TypeJoinGroup, Group: "room1", AckID: 1, HasAckID: true}},
		{"join without ackId", `{"type":"joinGroup","group":"room1"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "room1"}},
		{"type case-insensitive", `{"type":"JOINGROUP","group":"g"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "g"}},
		{"leave", `{"type":"leaveGroup","group":"room1","ackId":2}`,
			ClientFrame{Type: TypeLeaveGroup, Group: "room1", AckID: 2, HasAckID: true}},
		{"max ackId", `{"type":"leaveGroup","group":"g","ackId":18446744073709551615}`,
			ClientFrame{Type: TypeLeaveGroup, Group: "g", AckID: 1<<64 - 1, HasAckID: true}},
		{"null ackId is absent", `{"type":"joinGroup","group":"g","ackId":null}`,
			ClientFrame{Type: TypeJoinGroup, Group: "g"}},
		{"unknown fields ignored", `{"type":"joinGroup","x":{"y":[1,"}"]},"group":"g"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "g"}},
		{"last duplicate wins", `{"type":"joinGroup","group":"a","group":"b"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "b"}},
		{"escaped key", `{"typ\u0065":"joinGroup","group":"g"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "g"}},
		{"escaped group", `{"type":"joinGroup","group":"a\"b\u00fc"}`,
			ClientFrame{Type: TypeJoinGroup, Group: "a\"bü"}},
		{"whitespace", " \n{ \"type\" : \"ping\" } \t",
			ClientFrame{Type: TypePing}},
		{"send json", `{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"json","data":{"x":1}}`,
			ClientFrame{Type: TypeSendToGroup, Group: "room1", AckID: 3, HasAckID: true, DataType: DataTypeJSON, Data: []byte(`{"x":1}`), HasData: true}},
		{"send text noEcho", `{"type":"sendToGroup","group":"room1","ackId":4,"noEcho":true,"dataType":"text","data":"hello"}`,
			ClientFrame{Type: TypeSendToGroup, Group: "room1", AckID: 4, HasAckID: true, NoEcho: true, DataType: DataTypeText, Data: []byte("hello"), HasData: true}},
		{"send binary", `{"type":"sendToGroup","group":"room1","dataType":"Binary","data":"AQID"}`,
			ClientFrame{Type: TypeSendToGroup, Group: "room1", DataType: DataTypeBinary, Data: []byte{1, 2, 3}, HasData: true}},
		{"send default dataType", `{"type":"sendToGroup","group":"g","data":[1,2]}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", DataType: DataTypeJSON, Data: []byte(`[1,2]`), HasData: true}},
		{"data before dataType", `{"data":"hi","type":"sendToGroup","dataType":"text","group":"g"}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", DataType: DataTypeText, Data: []byte("hi"), HasData: true}},
		{"escaped text data", `{"type":"sendToGroup","group":"g","dataType":"text","data":"a\nb"}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", DataType: DataTypeText, Data: []byte("a\nb"), HasData: true}},
		{"json string data verbatim", `{"type":"sendToGroup","group":"g","data":"x\u0041"}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", DataType: DataTypeJSON, Data: []byte(`"x\u0041"`), HasData: true}},
		{"ttl and metadata", `{"type":"sendToGroup","group":"g","dataType":"text","data":"x","ttlSeconds":301,"metadata":{"k":"v"}}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", DataType: DataTypeText, Data: []byte("x"), HasData: true, TTLSeconds: 301, HasTTL: true, Metadata: map[string]string{"k": "v"}}},
		{"stream start", `{"type":"sendToGroup","group":"g","noEcho":false,"stream":{"streamId":"s1","idleTimeoutMs":300000}}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", StreamID: "s1", IdleTimeoutMs: 300000, HasIdleTimeout: true}},
		{"stream start without timeout", `{"type":"sendToGroup","group":"g","stream":{"streamId":"s2","idleTimeoutMs":null}}`,
			ClientFrame{Type: TypeSendToGroup, Group: "g", StreamID: "s2"}},
		{"event", `{"type":"event","event":"chat","ackId":6,"dataType":"text","data":"hi"}`,
			ClientFrame{Type: TypeEvent, Event: "chat", AckID: 6, HasAckID: true, DataType: DataTypeText, Data: []byte("hi"), HasData: true}},
		{"event binary", `{"type":"event","event":"upload","dataType":"binary","data":"aGVsbG8gd29ybGQ="}`,
			ClientFrame{Type: TypeEvent, Event: "upload", DataType: DataTypeBinary, Data: []byte("hello world"), HasData: true}},
		{"sequenceAck", `{"type":"sequenceAck","sequenceId":5}`,
			ClientFrame{Type: TypeSequenceAck, SequenceID: 5}},
		{"sequenceAck ignores ackId", `{"type":"sequenceAck","sequenceId":5,"ackId":"x"}`,
			ClientFrame{Type: TypeSequenceAck, SequenceID: 5}},
		{"ping ignores ackId", `{"type":"ping","ackId":-1}`,
			ClientFrame{Type: TypePing}},
		{"invoke", `{"type":"invoke","invocationId":"a1","target":"event","event":"echo","dataType":"text","data":"hi"}`,
			ClientFrame{Type: TypeInvoke, InvocationID: "a1", Target: "event", Event: "echo", DataType: DataTypeText, Data: []byte("hi"), HasData: true}},
		{"cancelInvocation", `{"type":"cancelInvocation","invocationId":"a1"}`,
			ClientFrame{Type: TypeCancelInvocation, InvocationID: "a1"}},
		{"streamData keep-alive", `{"type":"streamData","streamId":"s1"}`,
			ClientFrame{Type: TypeStreamData, StreamID: "s1"}},
		{"streamData fragment", `{"type":"streamData","streamId":"s1","streamSequenceId":3,"dataType":"text","data":"x"}`,
			ClientFrame{Type: TypeStreamData, StreamID: "s1", StreamSequenceID: 3, HasStreamSequenceID: true, DataType: DataTypeText, Data: []byte("x"), HasData: true}},
		{"streamEnd", `{"type":"streamEnd","streamId":"s1"}`,
			ClientFrame{Type: TypeStreamEnd, StreamID: "s1"}},
		{"streamEnd with error", `{"type":"streamEnd","streamId":"s1","error":{"message":"m","userErrorCode":"E1"}}`,
			ClientFrame{Type: TypeStreamEnd, StreamID: "s1", StreamError: &ErrorDetail{Message: "m", UserErrorCode: "E1"}}},
		{"setGroupState", `{"type":"setGroupState","group":"g","ackId":9,"state":{"k":"v"}}`,
			ClientFrame{Type: TypeSetGroupState, Group: "g", AckID: 9, HasAckID: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseClientFrame([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseClientFrame: %v", err)
			}
			if !clientFramesEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseClientFrameRejected(t *testing.T) {
	tests := []struct {
		name, in, field string
	}{
		{"empty", ``, ""},
		{"not json", `hello`, ""},
		{"not utf8", "{\"type\":\"ping\",\"x\":\"\xff\"}", ""},
		{"array", `[{"type":"ping"}]`, ""},
		{"string", `"ping"`, ""},
		{"trailing garbage", `{"type":"ping"} x`, ""},
		{"no type", `{"group":"g"}`, "type"},
		{"null type", `{"type":null}`, "type"},
		{"numeric type", `{"type":1}`, "type"},
		{"unknown type", `{"type":"fooBar"}`, "type"},
		{"missing group", `{"type":"joinGroup","ackId":1}`, "group"},
		{"numeric group", `{"type":"joinGroup","group":5}`, "group"},
		{"negative ackId", `{"type":"joinGroup","group":"g","ackId":-1}`, "ackId"},
		{"fraction ackId", `{"type":"joinGroup","group":"g","ackId":1.5}`, "ackId"},
		{"exponent ackId", `{"type":"joinGroup","group":"g","ackId":1e3}`, "ackId"},
		{"string ackId", `{"type":"joinGroup","group":"g","ackId":"1"}`, "ackId"},
		{"ackId overflow", `{"type":"joinGroup","group":"g","ackId":18446744073709551616}`, "ackId"},
		{"noEcho string", `{"type":"sendToGroup","group":"g","noEcho":"true","data":1}`, "noEcho"},
		{"send missing data", `{"type":"sendToGroup","group":"g","dataType":"text"}`, "data"},
		{"send null json data", `{"type":"sendToGroup","group":"g","dataType":"json","data":null}`, "data"},
		{"text data not string", `{"type":"sendToGroup","group":"g","dataType":"text","data":5}`, "data"},
		{"binary data not base64", `{"type":"sendToGroup","group":"g","dataType":"binary","data":"***"}`, "data"},
		{"binary data unpadded", `{"type":"sendToGroup","group":"g","dataType":"binary","data":"AQI"}`, "data"},
		{"unknown dataType", `{"type":"sendToGroup","group":"g","dataType":"xml","data":"x"}`, "dataType"},
		{"ttl string", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":"5"}`, "ttlSeconds"},
		{"ttl fraction", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":1.5}`, "ttlSeconds"},
		{"metadata array", `{"type":"sendToGroup","group":"g","data":1,"metadata":[]}`, "metadata"},
		{"stream not object", `{"type":"sendToGroup","group":"g","stream":"s1"}`, "stream"},
		{"stream without id", `{"type":"sendToGroup","group":"g","stream":{}}`, "stream.streamId"},
		{"event missing name", `{"type":"event","data":"x"}`, "event"},
		{"event missing data", `{"type":"event","event":"e"}`, "data"},
		{"sequenceAck string", `{"type":"sequenceAck","sequenceId":"3"}`, "sequenceId"},
		{"sequenceAck missing", `{"type":"sequenceAck"}`, "sequenceId"},
		{"invoke missing id", `{"type":"invoke","target":"event"}`, "invocationId"},
		{"streamData missing id", `{"type":"streamData"}`, "streamId"},
		{"streamData negative sequence", `{"type":"streamData","streamId":"s","streamSequenceId":-1,"dataType":"text","data":"x"}`, "streamSequenceId"},
		{"streamData string sequence", `{"type":"streamData","streamId":"s","streamSequenceId":"1","dataType":"text","data":"x"}`, "streamSequenceId"},
		{"stream idle timeout string", `{"type":"sendToGroup","group":"g","stream":{"streamId":"s","idleTimeoutMs":"5"}}`, "stream.idleTimeoutMs"},
		{"stream idle timeout negative", `{"type":"sendToGroup","group":"g","stream":{"streamId":"s","idleTimeoutMs":-5}}`, "stream.idleTimeoutMs"},
		{"streamEnd error not object", `{"type":"streamEnd","streamId":"s","error":"x"}`, "error"},
		{"streamEnd error message number", `{"type":"streamEnd","streamId":"s","error":{"message":1}}`, "error.message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseClientFrame([]byte(tt.in))
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("ParseClientFrame = %+v, %v; want *Error", f, err)
			}
			if pe.Class != ClassStructural || pe.Field != tt.field {
				t.Fatalf("error = %+v; want class structural, field %q", pe, tt.field)
			}
			if !strings.HasPrefix(pe.Error(), "protocol: structural error") {
				t.Fatalf("Error() = %q", pe.Error())
			}
		})
	}
}

func TestClientFrameValidate(t *testing.T) {
	long := strings.Repeat("g", names.MaxGroupLength)
	tests := []struct {
		name, in, field string // field "" = valid
	}{
		{"valid join", `{"type":"joinGroup","group":"room 1"}`, ""},
		{"longest group", `{"type":"joinGroup","group":"` + long + `"}`, ""},
		{"group too long", `{"type":"joinGroup","group":"` + long + `g"}`, "group"},
		{"whitespace group", `{"type":"joinGroup","group":"   "}`, "group"},
		{"empty group", `{"type":"leaveGroup","group":""}`, "group"},
		{"line feed in group", `{"type":"joinGroup","group":"a\nb"}`, "group"},
		{"ttl 0", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":0}`, ""},
		{"ttl 300", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":300}`, ""},
		{"ttl 301", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":301}`, "ttlSeconds"},
		{"ttl negative", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":-1}`, "ttlSeconds"},
		{"ttl huge", `{"type":"sendToGroup","group":"g","data":1,"ttlSeconds":99999999999999999999999}`, "ttlSeconds"},
		{"protobuf send", `{"type":"sendToGroup","group":"g","dataType":"protobuf","data":"AQ=="}`, "dataType"},
		{"protobuf event", `{"type":"event","event":"e","dataType":"protobuf","data":"AQ=="}`, "dataType"},
		{"bad event name", `{"type":"event","event":"1abc","data":1}`, "event"},
		{"event name with space", `{"type":"event","event":"a b","data":1}`, "event"},
		{"good event name", `{"type":"event","event":"a.b-c_d","data":1}`, ""},
		{"metadata ok", `{"type":"event","event":"e","data":1,"metadata":{"k-1":"v"}}`, ""},
		{"metadata number value", `{"type":"event","event":"e","data":1,"metadata":{"k":1}}`, "metadata"},
		{"metadata bad key", `{"type":"sendToGroup","group":"g","data":1,"metadata":{"a b":"v"}}`, "metadata"},
		{"metadata non-ascii value", `{"type":"sendToGroup","group":"g","data":1,"metadata":{"k":"ü"}}`, "metadata"},
		{"metadata long key", `{"type":"sendToGroup","group":"g","data":1,"metadata":{"` + strings.Repeat("k", 257) + `":"v"}}`, "metadata"},
		{"metadata long value", `{"type":"sendToGroup","group":"g","data":1,"metadata":{"k":"` + strings.Repeat("v", 1025) + `"}}`, "metadata"},
		{"ping", `{"type":"ping"}`, ""},
		{"stream start", `{"type":"sendToGroup","group":"g","stream":{"streamId":"s","idleTimeoutMs":1}}`, ""},
		{"stream start zero timeout", `{"type":"sendToGroup","group":"g","stream":{"streamId":"s","idleTimeoutMs":0}}`, "stream.idleTimeoutMs"},
		{"stream start with data", `{"type":"sendToGroup","group":"g","dataType":"text","data":"x","stream":{"streamId":"s"}}`, "data"},
		{"stream start bad group", `{"type":"sendToGroup","group":" ","stream":{"streamId":"s"}}`, "group"},
		{"keepalive", `{"type":"streamData","streamId":"s"}`, ""},
		{"fragment", `{"type":"streamData","streamId":"s","streamSequenceId":1,"dataType":"json","data":{}}`, ""},
		{"fragment sequence 0", `{"type":"streamData","streamId":"s","streamSequenceId":0,"dataType":"json","data":{}}`, "streamSequenceId"},
		{"fragment without sequence", `{"type":"streamData","streamId":"s","dataType":"json","data":{}}`, "streamSequenceId"},
		{"fragment without data", `{"type":"streamData","streamId":"s","streamSequenceId":1,"dataType":"text"}`, "streamSequenceId"},
		{"fragment without dataType", `{"type":"streamData","streamId":"s","streamSequenceId":1,"data":"x"}`, ""},
		{"fragment protobuf", `{"type":"streamData","streamId":"s","streamSequenceId":1,"dataType":"protobuf","data":"AQ=="}`, "dataType"},
		{"streamEnd user error", `{"type":"streamEnd","streamId":"s","error":{"message":"m"}}`, ""},
		{"streamEnd named error", `{"type":"streamEnd","streamId":"s","error":{"name":"X","message":"m"}}`, "error.name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := ParseClientFrame([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseClientFrame: %v", err)
			}
			err = f.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassValidation || pe.Field != tt.field {
				t.Fatalf("Validate = %v; want validation error on %q", err, tt.field)
			}
		})
	}
}

func TestMetadataTotalLimit(t *testing.T) {
	f := ClientFrame{Type: TypeEvent, Event: "e", Metadata: map[string]string{}}
	for i := range 9 {
		f.Metadata[strings.Repeat(string(rune('a'+i)), 10)] = strings.Repeat("v", 1000)
	}
	var pe *Error
	if err := f.Validate(); !errors.As(err, &pe) || pe.Field != "metadata" {
		t.Fatalf("Validate = %v; want metadata size error", err)
	}
}

func TestClientFrameAppendJSON(t *testing.T) {
	tests := []struct {
		f    ClientFrame
		want string
	}{
		{ClientFrame{Type: TypeJoinGroup, Group: "room1", AckID: 1, HasAckID: true}, `{"type":"joinGroup","group":"room1","ackId":1}`},
		{ClientFrame{Type: TypeLeaveGroup, Group: "room1"}, `{"type":"leaveGroup","group":"room1"}`},
		{ClientFrame{Type: TypeSendToGroup, Group: "room1", AckID: 3, HasAckID: true, DataType: DataTypeJSON, Data: []byte(`{"x":1}`), HasData: true},
			`{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"json","data":{"x":1}}`},
		{ClientFrame{Type: TypeSendToGroup, Group: "g", NoEcho: true, DataType: DataTypeBinary, Data: []byte{1, 2, 3}, HasData: true, TTLSeconds: 5, HasTTL: true, Metadata: map[string]string{"b": "2", "a": "1"}},
			`{"type":"sendToGroup","group":"g","noEcho":true,"dataType":"binary","data":"AQID","ttlSeconds":5,"metadata":{"a":"1","b":"2"}}`},
		{ClientFrame{Type: TypeEvent, Event: "chat", AckID: 6, HasAckID: true, DataType: DataTypeText, Data: []byte("hi\n\"x\""), HasData: true},
			`{"type":"event","event":"chat","ackId":6,"dataType":"text","data":"hi\n\"x\""}`},
		{ClientFrame{Type: TypeSequenceAck, SequenceID: 5}, `{"type":"sequenceAck","sequenceId":5}`},
		{ClientFrame{Type: TypePing}, `{"type":"ping"}`},
		{ClientFrame{Type: TypeSendToGroup, Group: "g", StreamID: "s1"}, `{"type":"sendToGroup","group":"g","noEcho":false,"stream":{"streamId":"s1"}}`},
		{ClientFrame{Type: TypeInvoke, InvocationID: "a1", Target: "event", Event: "echo", DataType: DataTypeText, Data: []byte("hi"), HasData: true},
			`{"type":"invoke","invocationId":"a1","target":"event","event":"echo","dataType":"text","data":"hi"}`},
		{ClientFrame{Type: TypeCancelInvocation, InvocationID: "a1"}, `{"type":"cancelInvocation","invocationId":"a1"}`},
		{ClientFrame{Type: TypeStreamEnd, StreamID: "s1"}, `{"type":"streamEnd","streamId":"s1"}`},
		{ClientFrame{Type: TypeSendToGroup, Group: "g", NoEcho: true, StreamID: "s1", IdleTimeoutMs: 5000, HasIdleTimeout: true},
			`{"type":"sendToGroup","group":"g","noEcho":true,"stream":{"streamId":"s1","idleTimeoutMs":5000}}`},
		{ClientFrame{Type: TypeStreamData, StreamID: "s1", StreamSequenceID: 2, HasStreamSequenceID: true, DataType: DataTypeBinary, Data: []byte{1}, HasData: true},
			`{"type":"streamData","streamId":"s1","streamSequenceId":2,"dataType":"binary","data":"AQ=="}`},
		{ClientFrame{Type: TypeStreamData, StreamID: "s1"}, `{"type":"streamData","streamId":"s1"}`},
		{ClientFrame{Type: TypeStreamEnd, StreamID: "s1", StreamError: &ErrorDetail{Message: "bad", UserErrorCode: "E"}},
			`{"type":"streamEnd","streamId":"s1","error":{"message":"bad","userErrorCode":"E"}}`},
	}
	for _, tt := range tests {
		t.Run(string(tt.f.Type), func(t *testing.T) {
			got := string(tt.f.AppendJSON(nil))
			if got != tt.want {
				t.Fatalf("AppendJSON\n got %s\nwant %s", got, tt.want)
			}
			back, err := ParseClientFrame([]byte(got))
			if err != nil {
				t.Fatalf("re-parse: %v", err)
			}
			if !clientFramesEqual(back, tt.f) {
				t.Fatalf("round trip\n got %+v\nwant %+v", back, tt.f)
			}
		})
	}
}

func TestParseClientFrameAllocations(t *testing.T) {
	join := []byte(`{"type":"joinGroup","group":"room1","ackId":1}`)
	send := []byte(`{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"json","data":{"x":1}}`)
	for name, in := range map[string][]byte{"join": join, "send": send} {
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseClientFrame(in); err != nil {
				t.Fatal(err)
			}
		})
		// One allocation for the group string; everything else stays on the stack
		// or aliases the input.
		if allocs > 1 {
			t.Errorf("%s: %v allocations per parse; want at most 1", name, allocs)
		}
	}
}

// clientFramesEqual compares frames field by field, treating nil and empty
// Data and Metadata alike.
func clientFramesEqual(a, b ClientFrame) bool {
	if !bytes.Equal(a.Data, b.Data) || !maps.Equal(a.Metadata, b.Metadata) || (a.Metadata == nil) != (b.Metadata == nil) {
		return false
	}
	a.Data, b.Data, a.Metadata, b.Metadata = nil, nil, nil, nil
	return reflect.DeepEqual(a, b)
}
