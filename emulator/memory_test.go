package emulator

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// idleSizes are the connection counts of BenchmarkIdleMemory.
var idleSizes = []int{2000, 9000}

// residentBytes is the process's resident set size, after a collection
// that returns the freed memory to the operating system. It reports false
// where /proc/self/statm does not exist.
func residentBytes() (uint64, bool) {
	debug.FreeOSMemory()
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0, false
	}
	fields := strings.Fields(string(b))
	if len(fields) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		return 0, false
	}
	return pages * uint64(os.Getpagesize()), true
}

// idleServer is a server under measurement: its client URL and a
// function that waits until it holds n connections.
type idleServer struct {
	url   string
	ready func(n int)
	close func()
}

// BenchmarkIdleMemory measures the resident memory one idle connection
// costs: N clients in a child process open json.webpubsub.azure.v1
// connections and read their connected frame, and the growth of this
// process's RSS (after a collection that returns freed memory) is divided
// by N. "emulator" is the emulator; "baseline" a bare coder/websocket
// server that accepts and keeps the connection, with no goroutine;
// "baseline-reader" the same with one goroutine per connection blocked
// in Read, as a bare server that notices closes and Pongs needs.
// Metrics: KiB/conn and goroutines/conn. Run it with -benchtime=1x; on a
// system without /proc it is skipped.
func BenchmarkIdleMemory(b *testing.B) {
	if _, ok := residentBytes(); !ok {
		b.Skip("no /proc/self/statm: RSS cannot be measured here")
	}
	servers := []struct {
		name  string
		start func(b *testing.B) idleServer
	}{
		{"emulator", startIdleEmulator},
		{"baseline", func(b *testing.B) idleServer { return startIdleBaseline(b, false) }},
		{"baseline-reader", func(b *testing.B) idleServer { return startIdleBaseline(b, true) }},
	}
	for _, n := range idleSizes {
		for _, s := range servers {
			b.Run(s.name+"/"+strconv.Itoa(n), func(b *testing.B) {
				srv := s.start(b)
				defer srv.close()
				goroutines := runtime.NumGoroutine()
				before, _ := residentBytes()
				clients := startClients(b, n, srv.url, true)
				defer clients.stop()
				srv.ready(n)
				var after uint64
				for b.Loop() {
					after, _ = residentBytes()
				}
				b.ReportMetric(float64(int64(after)-int64(before))/float64(n)/1024, "KiB/conn")
				b.ReportMetric(float64(runtime.NumGoroutine()-goroutines)/float64(n), "goroutines/conn")
			})
		}
	}
}

// startIdleEmulator starts an emulator and returns the client URL of its
// hub "chat".
func startIdleEmulator(b *testing.B) idleServer {
	e, err := New(Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Start(); err != nil {
		b.Fatal(err)
	}
	port := strings.Split(strings.TrimPrefix(e.URL(), "http://"), ":")[1]
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": e.URL() + "/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(DefaultAccessKey))
	return idleServer{
		url: "ws://127.0.0.1:" + port + "/client/hubs/chat?access_token=" + tok,
		ready: func(n int) {
			// Every client has read its connected frame: every connection
			// is registered. Wait for the writers of those frames to end.
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if err := e.Wait(ctx, func() bool {
				for _, c := range e.Connections("chat") {
					if c.Queued > 0 {
						return false
					}
				}
				return len(e.Connections("chat")) == n
			}); err != nil {
				b.Fatal(err)
			}
		},
		close: func() { _ = e.Close() },
	}
}

// startIdleBaseline starts a bare coder/websocket server that accepts
// json.webpubsub.azure.v1, writes a connected frame and keeps the
// connection; with reader, a goroutine per connection reads it.
func startIdleBaseline(b *testing.B, reader bool) idleServer {
	var (
		mu    sync.Mutex
		conns []*websocket.Conn
		wg    sync.WaitGroup
	)
	accepted := make(chan struct{}, 1<<15)
	connected := (&protocol.ServiceFrame{Type: protocol.TypeSystem, Event: protocol.EventConnected,
		ConnectionID: strings.Repeat("0", 32)}).AppendJSON(nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
		if err != nil {
			return
		}
		if err := ws.Write(context.Background(), websocket.MessageText, connected); err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, ws)
		mu.Unlock()
		if reader {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					if _, _, err := ws.Read(context.Background()); err != nil {
						return
					}
				}
			}()
		}
		accepted <- struct{}{}
	}))
	return idleServer{
		url: "ws" + strings.TrimPrefix(srv.URL, "http"),
		ready: func(n int) {
			for range n {
				<-accepted
			}
		},
		close: func() {
			mu.Lock()
			for _, ws := range conns {
				_ = ws.CloseNow()
			}
			mu.Unlock()
			wg.Wait()
			srv.Close()
		},
	}
}
