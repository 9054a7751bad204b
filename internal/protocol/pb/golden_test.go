package pb

import (
	"bufio"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// readVectors reads testdata/frames.txt: name → frame bytes.
func readVectors(t *testing.T) map[string][]byte {
	t.Helper()
	f, err := os.Open("testdata/frames.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, rest, _ := strings.Cut(line, " ")
		b, err := hex.DecodeString(strings.ReplaceAll(rest, " ", ""))
		if err != nil {
			t.Fatalf("vector %s: %v", name, err)
		}
		if _, dup := out[name]; dup {
			t.Fatalf("vector %s appears twice", name)
		}
		out[name] = b
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func stringAny(t *testing.T) *anypb.Any {
	t.Helper()
	a, err := anypb.New(wrapperspb.String("x"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func text(s string) *MessageData   { return &MessageData{Data: &MessageData_TextData{TextData: s}} }
func binary(b []byte) *MessageData { return &MessageData{Data: &MessageData_BinaryData{BinaryData: b}} }
func jsonData(s string) *MessageData {
	return &MessageData{Data: &MessageData_JsonData{JsonData: s}}
}

// TestGoldenFrames checks every message type against the hand-written
// vectors in both directions: the encoder writes exactly the vector's
// bytes, and the vector decodes to the same message.
func TestGoldenFrames(t *testing.T) {
	vectors := readVectors(t)
	anyX := stringAny(t)
	up := func(m isUpstreamMessage_Message) proto.Message { return &UpstreamMessage{Message: m} }
	down := func(m isDownstreamMessage_Message) proto.Message { return &DownstreamMessage{Message: m} }
	system := func(m isDownstreamMessage_SystemMessage_Message) proto.Message {
		return down(&DownstreamMessage_SystemMessage_{SystemMessage: &DownstreamMessage_SystemMessage{Message: m}})
	}
	tests := []struct {
		name string
		msg  proto.Message
	}{
		{"up.join.ack1", up(&UpstreamMessage_JoinGroupMessage_{JoinGroupMessage: &UpstreamMessage_JoinGroupMessage{Group: "g1", AckId: proto.Uint64(1)}})},
		{"up.join.noack", up(&UpstreamMessage_JoinGroupMessage_{JoinGroupMessage: &UpstreamMessage_JoinGroupMessage{Group: "g1"}})},
		{"up.join.ack0", up(&UpstreamMessage_JoinGroupMessage_{JoinGroupMessage: &UpstreamMessage_JoinGroupMessage{Group: "g1", AckId: proto.Uint64(0)}})},
		{"up.leave.ack2", up(&UpstreamMessage_LeaveGroupMessage_{LeaveGroupMessage: &UpstreamMessage_LeaveGroupMessage{Group: "g1", AckId: proto.Uint64(2)}})},
		{"up.send.text.noecho", up(&UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: &UpstreamMessage_SendToGroupMessage{
			Group: "g1", AckId: proto.Uint64(3), Data: text("hi"), NoEcho: proto.Bool(true)}})},
		{"up.send.echo.false", up(&UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: &UpstreamMessage_SendToGroupMessage{
			Group: "g1", Data: text("hi"), NoEcho: proto.Bool(false)}})},
		{"up.send.binary", up(&UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: &UpstreamMessage_SendToGroupMessage{
			Group: "g1", Data: binary([]byte{1, 2, 3})}})},
		{"up.send.json", up(&UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: &UpstreamMessage_SendToGroupMessage{
			Group: "g1", Data: jsonData(`{"a":1}`)}})},
		{"up.send.empty.binary", up(&UpstreamMessage_SendToGroupMessage_{SendToGroupMessage: &UpstreamMessage_SendToGroupMessage{
			Group: "g1", Data: binary([]byte{})}})},
		{"up.event.text", up(&UpstreamMessage_EventMessage_{EventMessage: &UpstreamMessage_EventMessage{Event: "ev", Data: text("hi")}})},
		{"up.event.protobuf", up(&UpstreamMessage_EventMessage_{EventMessage: &UpstreamMessage_EventMessage{
			Event: "ev", Data: &MessageData{Data: &MessageData_ProtobufData{ProtobufData: anyX}}, AckId: proto.Uint64(4)}})},
		{"up.seqack.300", up(&UpstreamMessage_SequenceAckMessage_{SequenceAckMessage: &UpstreamMessage_SequenceAckMessage{SequenceId: 300}})},
		{"up.seqack.max", up(&UpstreamMessage_SequenceAckMessage_{SequenceAckMessage: &UpstreamMessage_SequenceAckMessage{SequenceId: ^uint64(0)}})},

		{"down.ack.ok", down(&DownstreamMessage_AckMessage_{AckMessage: &DownstreamMessage_AckMessage{AckId: 1, Success: true}})},
		{"down.ack.forbidden", down(&DownstreamMessage_AckMessage_{AckMessage: &DownstreamMessage_AckMessage{AckId: 2,
			Error: &DownstreamMessage_AckMessage_ErrorMessage{Name: "Forbidden", Message: "no"}}})},
		{"down.group.text", down(&DownstreamMessage_DataMessage_{DataMessage: &DownstreamMessage_DataMessage{
			From: "group", Group: proto.String("g1"), Data: text("hi")}})},
		{"down.group.binary.seq", down(&DownstreamMessage_DataMessage_{DataMessage: &DownstreamMessage_DataMessage{
			From: "group", Group: proto.String("g1"), Data: binary([]byte{0, 0xff}), SequenceId: proto.Uint64(5)}})},
		{"down.server.json.text", down(&DownstreamMessage_DataMessage_{DataMessage: &DownstreamMessage_DataMessage{
			From: "server", Data: text(`{"a":1}`)}})},
		{"down.server.json", down(&DownstreamMessage_DataMessage_{DataMessage: &DownstreamMessage_DataMessage{
			From: "server", Data: jsonData(`{"a":1}`)}})},
		{"down.server.protobuf.seq", down(&DownstreamMessage_DataMessage_{DataMessage: &DownstreamMessage_DataMessage{
			From: "server", Data: &MessageData{Data: &MessageData_ProtobufData{ProtobufData: anyX}}, SequenceId: proto.Uint64(1)}})},
		{"down.connected", system(&DownstreamMessage_SystemMessage_ConnectedMessage_{ConnectedMessage: &DownstreamMessage_SystemMessage_ConnectedMessage{
			ConnectionId: "c1", UserId: "u1"}})},
		{"down.connected.token", system(&DownstreamMessage_SystemMessage_ConnectedMessage_{ConnectedMessage: &DownstreamMessage_SystemMessage_ConnectedMessage{
			ConnectionId: "c1", UserId: "u1", ReconnectionToken: "t"}})},
		{"down.connected.anon", system(&DownstreamMessage_SystemMessage_ConnectedMessage_{ConnectedMessage: &DownstreamMessage_SystemMessage_ConnectedMessage{
			ConnectionId: "c1"}})},
		{"down.disconnected", system(&DownstreamMessage_SystemMessage_DisconnectedMessage_{DisconnectedMessage: &DownstreamMessage_SystemMessage_DisconnectedMessage{
			Reason: "bye"}})},
	}
	seen := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, ok := vectors[tt.name]
			if !ok {
				t.Fatalf("no vector %s in testdata/frames.txt", tt.name)
			}
			seen[tt.name] = true
			got, err := proto.MarshalOptions{Deterministic: true}.Marshal(tt.msg)
			if err != nil {
				t.Fatal(err)
			}
			if hex.EncodeToString(got) != hex.EncodeToString(want) {
				t.Errorf("encoded\n got % x\nwant % x", got, want)
			}
			decoded := tt.msg.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(want, decoded); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !proto.Equal(decoded, tt.msg) {
				t.Errorf("decoded %v, want %v", decoded, tt.msg)
			}
		})
	}
	for name := range vectors {
		if !seen[name] {
			t.Errorf("vector %s has no test case", name)
		}
	}
}

// TestSchemaNumbers pins the field numbers and kinds of the wire format,
// so that an edit of the schema that keeps the vectors passing by
// accident (an unused field) is still caught.
func TestSchemaNumbers(t *testing.T) {
	type field struct {
		msg, name string
		number    int32
		kind      string
	}
	fields := []field{
		{"UpstreamMessage", "send_to_group_message", 1, "message"},
		{"UpstreamMessage", "event_message", 5, "message"},
		{"UpstreamMessage", "join_group_message", 6, "message"},
		{"UpstreamMessage", "leave_group_message", 7, "message"},
		{"UpstreamMessage", "sequence_ack_message", 8, "message"},
		{"UpstreamMessage.SendToGroupMessage", "group", 1, "string"},
		{"UpstreamMessage.SendToGroupMessage", "ack_id", 2, "uint64"},
		{"UpstreamMessage.SendToGroupMessage", "data", 3, "message"},
		{"UpstreamMessage.SendToGroupMessage", "no_echo", 4, "bool"},
		{"UpstreamMessage.EventMessage", "event", 1, "string"},
		{"UpstreamMessage.EventMessage", "data", 2, "message"},
		{"UpstreamMessage.EventMessage", "ack_id", 3, "uint64"},
		{"UpstreamMessage.JoinGroupMessage", "group", 1, "string"},
		{"UpstreamMessage.JoinGroupMessage", "ack_id", 2, "uint64"},
		{"UpstreamMessage.LeaveGroupMessage", "group", 1, "string"},
		{"UpstreamMessage.LeaveGroupMessage", "ack_id", 2, "uint64"},
		{"UpstreamMessage.SequenceAckMessage", "sequence_id", 1, "uint64"},
		{"DownstreamMessage", "ack_message", 1, "message"},
		{"DownstreamMessage", "data_message", 2, "message"},
		{"DownstreamMessage", "system_message", 3, "message"},
		{"DownstreamMessage.AckMessage", "ack_id", 1, "uint64"},
		{"DownstreamMessage.AckMessage", "success", 2, "bool"},
		{"DownstreamMessage.AckMessage", "error", 3, "message"},
		{"DownstreamMessage.AckMessage.ErrorMessage", "name", 1, "string"},
		{"DownstreamMessage.AckMessage.ErrorMessage", "message", 2, "string"},
		{"DownstreamMessage.DataMessage", "from", 1, "string"},
		{"DownstreamMessage.DataMessage", "group", 2, "string"},
		{"DownstreamMessage.DataMessage", "data", 3, "message"},
		{"DownstreamMessage.DataMessage", "sequence_id", 4, "uint64"},
		{"DownstreamMessage.SystemMessage", "connected_message", 1, "message"},
		{"DownstreamMessage.SystemMessage", "disconnected_message", 2, "message"},
		{"DownstreamMessage.SystemMessage.ConnectedMessage", "connection_id", 1, "string"},
		{"DownstreamMessage.SystemMessage.ConnectedMessage", "user_id", 2, "string"},
		{"DownstreamMessage.SystemMessage.ConnectedMessage", "reconnection_token", 3, "string"},
		{"DownstreamMessage.SystemMessage.DisconnectedMessage", "reason", 2, "string"},
		{"MessageData", "text_data", 1, "string"},
		{"MessageData", "binary_data", 2, "bytes"},
		{"MessageData", "protobuf_data", 3, "message"},
		{"MessageData", "json_data", 4, "string"},
	}
	fd := File_webpubsub_proto
	for _, f := range fields {
		parts := strings.Split(f.msg, ".")
		md := fd.Messages().ByName(protoreflect.Name(parts[0]))
		for _, p := range parts[1:] {
			md = md.Messages().ByName(protoreflect.Name(p))
		}
		if md == nil {
			t.Fatalf("no message %s", f.msg)
		}
		fld := md.Fields().ByName(protoreflect.Name(f.name))
		if fld == nil {
			t.Errorf("%s has no field %s", f.msg, f.name)
			continue
		}
		if fld.Number() != protoreflect.FieldNumber(f.number) || fld.Kind().String() != f.kind {
			t.Errorf("%s.%s = %d %s, want %d %s", f.msg, f.name, fld.Number(), fld.Kind(), f.number, f.kind)
		}
	}
	for _, md := range []string{"UpstreamMessage", "DownstreamMessage", "MessageData"} {
		m := fd.Messages().ByName(protoreflect.Name(md))
		n := 0
		for _, f := range fields {
			if f.msg == md {
				n++
			}
		}
		if m.Fields().Len() != n {
			t.Errorf("%s has %d fields, want %d", md, m.Fields().Len(), n)
		}
	}
	if got := (&anypb.Any{}).ProtoReflect().Descriptor().FullName(); got != "google.protobuf.Any" {
		t.Errorf("protobuf_data is %s, want google.protobuf.Any", got)
	}
}
