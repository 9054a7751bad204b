package protocol

import (
	"encoding/json"
	"errors"
	"testing"
)

var clientSeeds = []string{
	`{"type":"joinGroup","group":"room1","ackId":1}`,
	`{"type":"leaveGroup","group":"room1","ackId":2}`,
	`{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"json","data":{"x":1}}`,
	`{"type":"sendToGroup","group":"room1","ackId":4,"noEcho":true,"dataType":"text","data":"hello"}`,
	`{"type":"sendToGroup","group":"room1","ackId":5,"noEcho":false,"dataType":"binary","data":"AQID"}`,
	`{"type":"sendToGroup","group":"g","ttlSeconds":5,"metadata":{"k":"v","n":1},"data":"x"}`,
	`{"type":"sendToGroup","group":"g","noEcho":false,"stream":{"streamId":"s1","idleTimeoutMs":300000}}`,
	`{"type":"event","event":"chat","ackId":6,"dataType":"text","data":"hi"}`,
	`{"type":"event","event":"upload","ackId":8,"dataType":"binary","data":"aGVsbG8gd29ybGQ="}`,
	`{"type":"sequenceAck","sequenceId":5}`,
	`{"type":"ping"}`,
	`{"type":"invoke","invocationId":"a1","target":"event","event":"echo","dataType":"text","data":"hi"}`,
	`{"type":"cancelInvocation","invocationId":"a1"}`,
	`{"type":"streamData","streamId":"s1","streamSequenceId":1,"dataType":"text","data":"x"}`,
	`{"type":"streamData","streamId":"s1"}`,
	`{"type":"streamEnd","streamId":"s1"}`,
	`{"type":"streamEnd","streamId":"s1","error":{"message":"m","userErrorCode":"E1"}}`,
	`{"type":"setGroupState","group":"g","ackId":9,"state":{"k":"v"}}`,
	`{"typ\u0065":"JoinGroup","group":"a\"b","ackId":18446744073709551615}`,
	`{"type":"joinGroup","ackId":-1}`,
	`hello`, `[]`, "\xff", `{"type":"sendToGroup","group":"g","dataType":"text","data":"\ud800"}`,
}

// FuzzParseClientFrame checks that the parser never panics, that every
// failure is a classified *Error, and that every accepted frame survives a
// round trip through AppendJSON unchanged.
func FuzzParseClientFrame(f *testing.F) {
	for _, s := range clientSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ParseClientFrame(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) || pe.Class != ClassStructural {
				t.Fatalf("error %v is not a structural *Error", err)
			}
			return
		}
		verr := frame.Validate()
		if verr != nil {
			var pe *Error
			if !errors.As(verr, &pe) || pe.Class != ClassValidation {
				t.Fatalf("Validate error %v is not a validation *Error", verr)
			}
		}
		out := frame.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("AppendJSON produced invalid JSON %q from %q", out, in)
		}
		back, err := ParseClientFrame(out)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
		if frame.badMetadata {
			// Non-string metadata values are dropped by the encoder.
			back.badMetadata = true
		}
		if !clientFramesEqual(back, frame) {
			t.Fatalf("round trip of %q\n got %+v\nwant %+v", in, back, frame)
		}
	})
}

// FuzzParseServiceFrame checks that the tolerant parser never panics and
// that known frames re-encode to something it parses again.
func FuzzParseServiceFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"ack","ackId":1,"success":true}`,
		`{"type":"ack","ackId":1,"success":false,"error":{"name":"Duplicate","message":"m"}}`,
		`{"type":"system","event":"connected","userId":null,"connectionId":"c","reconnectionToken":"t"}`,
		`{"type":"system","event":"disconnected","message":"bye"}`,
		`{"type":"streamAck","streamId":"s1","expectedSequenceId":1}`,
		`{"type":"streamNack","streamId":"s1","name":"InvalidSequenceId","message":"m","expectedSequenceId":3}`,
		`{"type":"streamClosed","streamId":"s1","error":{"name":"IdleTimeout","message":"m"}}`,
		`{"type":"message","from":"group","group":"g","dataType":"text","data":"x","stream":{"streamId":"s","streamSequenceId":1}}`,
		`{"type":"message","from":"group","group":"g","dataType":"text","data":"","stream":{"streamId":"s","streamSequenceId":4,"endOfStream":true,"error":{"name":"UserError","message":"m","userErrorCode":"E"}},"sequenceId":2}`,
		`{"type":"message","from":"group","group":"g","fromUserId":"u","dataType":"binary","data":"AQID","sequenceId":7}`,
		`{"type":"message","from":"server","dataType":"json","data":{"a":[1]}}`,
		`{"type":"pong"}`, `{"type":"streamClosed","streamId":"s","error":{"name":"n","message":"m"}}`,
		`{"type":"groupStateSnapshot","items":[]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ParseServiceFrame(in)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error %v is not an *Error", err)
			}
			return
		}
		if frame.Type == TypeMessage && frame.DataType != "" {
			if _, known := lookupDataType(string(frame.DataType)); !known {
				return // unknown data types are kept raw and not re-encodable
			}
		}
		out := frame.AppendJSON(nil)
		if !json.Valid(out) {
			t.Fatalf("AppendJSON produced invalid JSON %q from %q", out, in)
		}
		if _, err := ParseServiceFrame(out); err != nil {
			t.Fatalf("re-parse of %q: %v", out, err)
		}
	})
}
