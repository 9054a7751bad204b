package exampleenv

import (
	"errors"
	"testing"

	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		ev   any
		want string
	}{
		{webpubsubclient.GroupMessage{Group: "g", FromUserID: "alice", DataType: webpubsubclient.DataTypeText, Data: []byte(`say "hi"`)}, `from group g (sent by alice): text "say \"hi\""`},
		{webpubsubclient.GroupMessage{Group: "g", DataType: webpubsubclient.DataTypeJSON, Data: []byte(`{"a":1}`)}, `from group g: json {"a":1}`},
		{webpubsubclient.ServerMessage{DataType: webpubsubclient.DataTypeBinary, Data: []byte{0xca, 0xfe}}, `from server: binary cafe`},
		{webpubsubclient.DisconnectedEvent{Message: "bye"}, `disconnected: "bye"`},
		{webpubsubclient.StoppedEvent{}, `stopped`},
		{42, `int`},
	} {
		if got := Describe(tc.ev); got != tc.want {
			t.Errorf("Describe(%#v) = %q, want %q", tc.ev, got, tc.want)
		}
	}
}

func TestDescribeAck(t *testing.T) {
	other := errors.New("connection lost")
	for _, tc := range []struct {
		res     webpubsubclient.AckResult
		err     error
		want    string
		wantErr error
	}{
		{webpubsubclient.AckResult{AckID: 3}, nil, "ack 3: success", nil},
		{webpubsubclient.AckResult{}, &webpubsubclient.AckError{AckID: 4, Name: "Forbidden", Message: "no"}, "ack 4: Forbidden (no)", nil},
		{webpubsubclient.AckResult{}, other, "", other},
	} {
		got, err := DescribeAck(tc.res, tc.err)
		if got != tc.want || !errors.Is(err, tc.wantErr) {
			t.Errorf("DescribeAck(%v, %v) = %q, %v; want %q, %v", tc.res, tc.err, got, err, tc.want, tc.wantErr)
		}
	}
}
