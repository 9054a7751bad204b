package emulator

import (
	"bytes"
	"context"
	"strconv"
	"testing"

	"github.com/coder/websocket"
)

// streamBenchFragments is the length of the benchmarked stream.
const streamBenchFragments = 1000

// benchWindow is how many fragments the benchmarks' publisher may have
// sent that the subscriber has not read yet.
const benchWindow = 500

// streamBenchPayload is each fragment's text, 64 bytes.
var streamBenchPayload = bytes.Repeat([]byte("x"), 64)

// BenchmarkGroupStream sends one 1,000-fragment group stream per
// iteration through the emulator, from a publisher to one subscriber in
// the group: the start and its streamAck, the fragments (acknowledged in
// batches), the end, its streamClosed, and the subscriber's terminal
// message. Beside it, BenchmarkGroupSendToGroup sends the same 1,000
// payloads as plain sendToGroup frames, so the cost of the stream
// bookkeeping is the difference of their fragments/s.
func BenchmarkGroupStream(b *testing.B) {
	benchGroupFragments(b, true)
}

// BenchmarkGroupSendToGroup is the plain sendToGroup path of
// BenchmarkGroupStream's payloads: 1,000 sendToGroup frames without an
// ackId, then one with an ackId to know that all were fanned out.
func BenchmarkGroupSendToGroup(b *testing.B) {
	benchGroupFragments(b, false)
}

func benchGroupFragments(b *testing.B, stream bool) {
	te := startEmulator(b, Options{})
	pub, sub := te.pubsub(streamPublisher), te.pubsub(streamReader)
	joinRoom(pub, "room")
	joinRoom(sub, "room")
	ctx := context.Background()
	pws, sws := pub.WebSocket(), sub.WebSocket()

	// The publisher's replies (streamAck, streamClosed, acks) are read
	// by a goroutine that reports each terminal reply.
	done := make(chan struct{}, 1)
	go func() {
		for {
			_, m, err := pws.Read(ctx)
			if err != nil {
				return
			}
			if bytes.Contains(m, []byte(`"streamClosed"`)) || bytes.Contains(m, []byte(`"ack"`)) {
				done <- struct{}{}
			}
		}
	}()

	// The subscriber reads concurrently, as a client must, and reports
	// how many fragments came before each end (the terminal message, or
	// the last plain message), and each benchWindow/2 fragments it got:
	// the publisher keeps at most benchWindow in flight, as a publisher
	// must not outrun its subscribers by more than their queue holds.
	received := make(chan int, 1)
	progress := make(chan struct{}, streamBenchFragments)
	go func() {
		n := 0
		for {
			_, m, err := sws.Read(ctx)
			if err != nil {
				close(received)
				return
			}
			if bytes.Contains(m, []byte(`"endOfStream":true`)) || bytes.Contains(m, []byte(`"data":"last"`)) {
				received <- n
				n = 0
				continue
			}
			if n++; n%(benchWindow/2) == 0 {
				progress <- struct{}{}
			}
		}
	}()

	frame := func(id string, seq int) []byte {
		var f []byte
		if stream {
			f = append(f, `{"type":"streamData","streamId":"`...)
			f = append(f, id...)
			f = append(f, `","streamSequenceId":`...)
			f = strconv.AppendInt(f, int64(seq), 10)
		} else {
			f = append(f, `{"type":"sendToGroup","group":"room","noEcho":true`...)
		}
		f = append(f, `,"dataType":"text","data":"`...)
		f = append(f, streamBenchPayload...)
		return append(f, `"}`...)
	}
	b.SetBytes(int64(streamBenchFragments * len(streamBenchPayload)))
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		id := "s" + strconv.Itoa(i)
		if stream {
			write(b, pws, `{"type":"sendToGroup","group":"room","noEcho":true,"stream":{"streamId":"`+id+`"}}`)
		}
		for seq := 1; seq <= streamBenchFragments; seq++ {
			if err := pws.Write(ctx, websocket.MessageText, frame(id, seq)); err != nil {
				b.Fatal(err)
			}
			if seq >= benchWindow && seq%(benchWindow/2) == 0 {
				<-progress
			}
		}
		if stream {
			write(b, pws, `{"type":"streamData","streamId":"`+id+`"}`)
			write(b, pws, `{"type":"streamEnd","streamId":"`+id+`"}`)
		} else {
			write(b, pws, `{"type":"sendToGroup","group":"room","noEcho":true,"ackId":`+strconv.Itoa(i+1)+`,"dataType":"text","data":"last"}`)
		}
		if n, ok := <-received; n != streamBenchFragments {
			b.Fatalf("the subscriber got %d fragments (connection open: %v); want %d", n, ok, streamBenchFragments)
		}
		for len(progress) > 0 {
			<-progress // the signals past the last wait
		}
		<-done
	}
	b.StopTimer()
	b.ReportMetric(float64(streamBenchFragments*b.N)/b.Elapsed().Seconds(), "fragments/s")
}

func write(b *testing.B, ws *websocket.Conn, s string) {
	b.Helper()
	if err := ws.Write(context.Background(), websocket.MessageText, []byte(s)); err != nil {
		b.Fatal(err)
	}
}
