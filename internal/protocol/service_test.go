package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func TestServiceFrameAppendJSON(t *testing.T) {
	tests := []struct {
		name string
		f    ServiceFrame
		want string
	}{
		{"ack success", ServiceFrame{Type: TypeAck, AckID: 1, Success: true}, `{"type":"ack","ackId":1,"success":true}`},
		{"ack forbidden", ServiceFrame{Type: TypeAck, AckID: 3, Error: &ErrorDetail{Name: ErrorNameForbidden, Message: "The client has no permission to send message to group 'room1'."}},
			`{"type":"ack","ackId":3,"success":false,"error":{"name":"Forbidden","message":"The client has no permission to send message to group 'room1'."}}`},
		{"ack duplicate", ServiceFrame{Type: TypeAck, AckID: 1, Error: &ErrorDetail{Name: ErrorNameDuplicate, Message: DuplicateMessage(1)}},
			`{"type":"ack","ackId":1,"success":false,"error":{"name":"Duplicate","message":"Message with ack-id: 1 has been processed"}}`},
		{"connected", ServiceFrame{Type: TypeSystem, Event: EventConnected, UserID: "alice", ConnectionID: "0f1e"},
			`{"type":"system","event":"connected","userId":"alice","connectionId":"0f1e"}`},
		{"connected reliable", ServiceFrame{Type: TypeSystem, Event: EventConnected, UserID: "alice", ConnectionID: "c", ReconnectionToken: "t"},
			`{"type":"system","event":"connected","userId":"alice","connectionId":"c","reconnectionToken":"t"}`},
		{"connected anonymous", ServiceFrame{Type: TypeSystem, Event: EventConnected, ConnectionID: "c"},
			`{"type":"system","event":"connected","userId":null,"connectionId":"c"}`},
		{"disconnected", ServiceFrame{Type: TypeSystem, Event: EventDisconnected, Message: "Closed by the application server."},
			`{"type":"system","event":"disconnected","message":"Closed by the application server."}`},
		{"group text", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "room1", FromUserID: "alice", DataType: DataTypeText, Data: []byte("hello")},
			`{"type":"message","from":"group","group":"room1","fromUserId":"alice","dataType":"text","data":"hello"}`},
		{"group json sequenced", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "room1", DataType: DataTypeJSON, Data: []byte(`{"x":1}`), SequenceID: 7},
			`{"type":"message","from":"group","group":"room1","fromUserId":null,"dataType":"json","data":{"x":1},"sequenceId":7}`},
		{"server json", ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeJSON, Data: []byte(`{"hello":"world"}`)},
			`{"type":"message","from":"server","dataType":"json","data":{"hello":"world"}}`},
		{"server binary", ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeBinary, Data: []byte("hello world"), SequenceID: 8},
			`{"type":"message","from":"server","dataType":"binary","data":"aGVsbG8gd29ybGQ=","sequenceId":8}`},
		{"server text escapes", ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeText, Data: []byte("a\x01\"\\\xffb\u2028")},
			`{"type":"message","from":"server","dataType":"text","data":"a\u0001\"\\\ufffdb` + "\u2028" + `"}`},
		{"pong", ServiceFrame{Type: TypePong}, `{"type":"pong"}`},
		{"invokeResponse error", ServiceFrame{Type: TypeInvokeResponse, InvocationID: "a1", Error: &ErrorDetail{Name: "BadRequest", Message: "m"}},
			`{"type":"invokeResponse","invocationId":"a1","success":false,"error":{"name":"BadRequest","message":"m"}}`},
		{"invokeResponse data", ServiceFrame{Type: TypeInvokeResponse, InvocationID: "a1", Success: true, DataType: DataTypeText, Data: []byte("reply")},
			`{"type":"invokeResponse","invocationId":"a1","success":true,"dataType":"text","data":"reply"}`},
		{"streamClosed", ServiceFrame{Type: TypeStreamClosed, StreamID: "s1", Error: &ErrorDetail{Name: "BadRequest", Message: "m"}},
			`{"type":"streamClosed","streamId":"s1","error":{"name":"BadRequest","message":"m"}}`},
		{"streamClosed normally", ServiceFrame{Type: TypeStreamClosed, StreamID: "s1"}, `{"type":"streamClosed","streamId":"s1"}`},
		{"streamAck", ServiceFrame{Type: TypeStreamAck, StreamID: "s1", ExpectedSequenceID: 1}, `{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`},
		{"streamNack", ServiceFrame{Type: TypeStreamNack, StreamID: "s1", Name: StreamErrorInvalidSequenceID, Message: "m", ExpectedSequenceID: 4},
			`{"type":"streamNack","streamId":"s1","name":"InvalidSequenceId","message":"m","expectedSequenceId":4}`},
		{"group stream fragment", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g", FromUserID: "u", DataType: DataTypeText, Data: []byte("x"),
			Stream: &StreamInfo{StreamID: "s1", StreamSequenceID: 2}, SequenceID: 9},
			`{"type":"message","from":"group","group":"g","fromUserId":"u","dataType":"text","data":"x","stream":{"streamId":"s1","streamSequenceId":2},"sequenceId":9}`},
		{"group stream end with error", ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g", DataType: DataTypeText,
			Stream: &StreamInfo{StreamID: "s1", StreamSequenceID: 3, EndOfStream: true, Error: &ErrorDetail{Name: StreamErrorUser, Message: "m", UserErrorCode: "E"}}},
			`{"type":"message","from":"group","group":"g","fromUserId":null,"dataType":"text","data":"","stream":{"streamId":"s1","streamSequenceId":3,"endOfStream":true,"error":{"name":"UserError","message":"m","userErrorCode":"E"}}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.f.AppendJSON(nil)
			if string(got) != tt.want {
				t.Fatalf("AppendJSON\n got %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Fatalf("output is not valid JSON: %s", got)
			}
			back, err := ParseServiceFrame(got)
			if err != nil {
				t.Fatalf("ParseServiceFrame: %v", err)
			}
			again, err := ParseServiceFrame(back.AppendJSON(nil))
			if err != nil || !reflect.DeepEqual(again, back) {
				t.Fatalf("round trip\n got %+v, %v\nwant %+v", again, err, back)
			}
		})
	}
}

func TestServiceFrameAppendJSONAllocations(t *testing.T) {
	buf := make([]byte, 0, 256)
	f := ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "room1", FromUserID: "alice", DataType: DataTypeBinary, Data: []byte("hello"), SequenceID: 3}
	allocs := testing.AllocsPerRun(100, func() { buf = f.AppendJSON(buf[:0]) })
	if allocs != 0 {
		t.Fatalf("AppendJSON allocates %v times; want 0", allocs)
	}
}

func TestParseServiceFrameTolerance(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want ServiceFrame
	}{
		{"unknown type kept", `{"type":"groupStateSnapshot","group":"g","items":[]}`, ServiceFrame{Type: "groupStateSnapshot", Group: "g"}},
		{"absent fromUserId", `{"type":"message","from":"group","group":"g","dataType":"text","data":"x"}`,
			ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g", DataType: DataTypeText, Data: []byte("x"), HasData: true}},
		{"null userId", `{"type":"system","event":"connected","userId":null,"connectionId":"c"}`,
			ServiceFrame{Type: TypeSystem, Event: EventConnected, ConnectionID: "c"}},
		{"unknown dataType kept", `{"type":"message","from":"server","dataType":"yaml","data":{"a":1}}`,
			ServiceFrame{Type: TypeMessage, From: FromServer, DataType: "yaml", Data: []byte(`{"a":1}`), HasData: true}},
		{"metadata ignored", `{"type":"message","from":"group","group":"g","fromUserId":"u","dataType":"json","data":1,"metadata":{"k":"v"}}`,
			ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "g", FromUserID: "u", DataType: DataTypeJSON, Data: []byte("1"), HasData: true}},
		{"null data is absent", `{"type":"message","from":"server","dataType":"json","data":null}`,
			ServiceFrame{Type: TypeMessage, From: FromServer, DataType: DataTypeJSON}},
		{"sequenceId on ack", `{"type":"ack","ackId":2,"success":true,"sequenceId":4}`, ServiceFrame{Type: TypeAck, AckID: 2, HasAckID: true, Success: true, SequenceID: 4}},
		{"ack without ackId", `{"type":"ack","success":true}`, ServiceFrame{Type: TypeAck, Success: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseServiceFrame([]byte(tt.in))
			if err != nil {
				t.Fatalf("ParseServiceFrame: %v", err)
			}
			if !bytes.Equal(got.Data, tt.want.Data) {
				t.Fatalf("Data = %q; want %q", got.Data, tt.want.Data)
			}
			got.Data, tt.want.Data = nil, nil
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseServiceFrameRejected(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{"ackId":1}`, `{"type":"ack","ackId":"1"}`, `{"type":"ack","success":"yes"}`,
		`{"type":"ack","error":"x"}`, `{"type":"message","dataType":"binary","data":"***"}`,
		`{"type":"message","dataType":"text","data":1}`, `{"type":"system","userId":5}`,
		`{"type":"streamAck","streamId":"s","expectedSequenceId":-1}`,
		`{"type":"message","from":"group","stream":"s"}`,
		`{"type":"message","from":"group","stream":{"streamSequenceId":1}}`,
		`{"type":"message","from":"group","stream":{"streamId":"s"}}`,
		`{"type":"message","from":"group","stream":{"streamId":"s","streamSequenceId":1,"endOfStream":"yes"}}`,
		`{"type":"message","from":"group","stream":{"streamId":"s","streamSequenceId":1,"error":{"name":5}}}`,
	} {
		_, err := ParseServiceFrame([]byte(in))
		var pe *Error
		if !errors.As(err, &pe) || pe.Class != ClassStructural {
			t.Errorf("ParseServiceFrame(%s) = %v; want structural error", in, err)
		}
	}
}

// TestParseServiceFrameAllocations pins the allocations of the frames a
// client parses most: the frame type, "from" and the data type are the
// package's constants, so only the strings that vary (group, user id,
// connection id) are allocated.
func TestParseServiceFrameAllocations(t *testing.T) {
	cases := []struct {
		name string
		in   string
		max  float64
	}{
		{"group message", `{"type":"message","from":"group","group":"room1","fromUserId":"alice","dataType":"json","data":{"x":1}}`, 2},
		{"reliable group message", `{"sequenceId":42,"type":"message","from":"group","group":"room1","dataType":"text","data":"hi"}`, 1},
		{"server message", `{"type":"message","from":"server","dataType":"text","data":"hi"}`, 0},
		{"ack", `{"type":"ack","ackId":7,"success":true}`, 0},
	}
	for _, tc := range cases {
		in := []byte(tc.in)
		allocs := testing.AllocsPerRun(100, func() {
			if _, err := ParseServiceFrame(in); err != nil {
				t.Fatal(err)
			}
		})
		if allocs > tc.max {
			t.Errorf("%s: %v allocations per parse; want at most %v", tc.name, allocs, tc.max)
		}
	}
}
