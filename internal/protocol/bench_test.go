package protocol

import (
	"encoding/json"
	"testing"
)

var benchSend = []byte(`{"type":"sendToGroup","group":"room1","ackId":3,"noEcho":false,"dataType":"json","data":{"x":1,"text":"some text of moderate length for a chat message"}}`)

// BenchmarkParseClientFrame measures the strict parser on a typical
// sendToGroup frame. Compare with BenchmarkParseClientFrameBaselineValid,
// the validation pass over the same bytes that any correct parser has to
// make, and BenchmarkParseClientFrameBaselineUnmarshal, the obvious
// encoding/json alternative.
func BenchmarkParseClientFrame(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSend)))
	for b.Loop() {
		if _, err := ParseClientFrame(benchSend); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseClientFrameBaselineValid(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSend)))
	for b.Loop() {
		if !json.Valid(benchSend) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkParseClientFrameBaselineUnmarshal(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchSend)))
	var v struct {
		Type     string          `json:"type"`
		Group    string          `json:"group"`
		AckID    *uint64         `json:"ackId"`
		NoEcho   bool            `json:"noEcho"`
		DataType string          `json:"dataType"`
		Data     json.RawMessage `json:"data"`
	}
	for b.Loop() {
		if err := json.Unmarshal(benchSend, &v); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendServiceFrame measures encoding a group message; the
// baseline copies a pre-encoded frame of the same size, the floor for any
// encoder.
func BenchmarkAppendServiceFrame(b *testing.B) {
	f := ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "room1", FromUserID: "alice", DataType: DataTypeText, Data: []byte("some text of moderate length for a chat message")}
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	for b.Loop() {
		buf = f.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

func BenchmarkAppendServiceFrameBaselineCopy(b *testing.B) {
	f := ServiceFrame{Type: TypeMessage, From: FromGroup, Group: "room1", FromUserID: "alice", DataType: DataTypeText, Data: []byte("some text of moderate length for a chat message")}
	pre := f.AppendJSON(nil)
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(pre)))
	for b.Loop() {
		buf = append(buf[:0], pre...)
	}
}
