package emulator

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// The broadcast benchmarks keep the WebSocket clients in a child process
// (this test binary, running TestBroadcastClients): 10,000 connections
// need 20,000 descriptors when both ends live in one process, more than
// this machine's limit, and it keeps the clients' memory out of the
// server's measurement.

const broadcastPayloadSize = 1 << 10

// Environment of the child process.
const (
	envClients     = "EMULATOR_BENCH_CLIENTS" // number of connections
	envClientsURL  = "EMULATOR_BENCH_URL"     // ws:// URL to dial
	envClientsJSON = "EMULATOR_BENCH_JSON"    // "1": offer json.webpubsub.azure.v1 and skip the connected frame
)

// TestBroadcastClients is the child process of the broadcast benchmarks,
// not a test: it dials the connections, prints "ready" once all are open,
// prints "round" each time every connection has received one more
// message, and exits when its standard input closes.
func TestBroadcastClients(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envClients))
	if n == 0 {
		t.Skip("helper process of BenchmarkBroadcast")
	}
	target := os.Getenv(envClientsURL)
	pubsub := os.Getenv(envClientsJSON) == "1"
	var opts websocket.DialOptions
	opts.HTTPClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}}
	if pubsub {
		opts.Subprotocols = []string{protocol.SubprotocolJSON}
	}
	var (
		out      sync.Mutex
		received atomic.Int64
		conns    = make([]*websocket.Conn, n)
		wg       sync.WaitGroup
		dialErr  atomic.Value
		next     atomic.Int64
	)
	say := func(s string) {
		out.Lock()
		defer out.Unlock()
		fmt.Println(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	for range 64 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				dctx, dcancel := context.WithTimeout(ctx, time.Minute)
				ws, _, err := websocket.Dial(dctx, target, &opts)
				dcancel()
				if err != nil {
					dialErr.Store(err)
					return
				}
				ws.SetReadLimit(-1)
				if pubsub {
					if _, _, err := ws.Read(ctx); err != nil { // the connected frame
						dialErr.Store(err)
						return
					}
				}
				conns[i] = ws
			}
		}()
	}
	wg.Wait()
	if err := dialErr.Load(); err != nil {
		t.Fatalf("dial: %v", err)
	}
	for _, ws := range conns {
		go func() {
			for {
				if _, _, err := ws.Read(ctx); err != nil {
					return
				}
				if received.Add(1)%int64(n) == 0 {
					say("round")
				}
			}
		}()
	}
	say("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	cancel()
	for _, ws := range conns {
		_ = ws.CloseNow()
	}
}

// clientProcess is a running TestBroadcastClients child.
type clientProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startClients(b *testing.B, n int, target string, pubsub bool) *clientProcess {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBroadcastClients$", "-test.bench=^$")
	json := "0"
	if pubsub {
		json = "1"
	}
	cmd.Env = append(os.Environ(), envClients+"="+strconv.Itoa(n), envClientsURL+"="+target, envClientsJSON+"="+json)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	p := &clientProcess{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if l := sc.Text(); l == "ready" || l == "round" {
				p.lines <- l
			} else if strings.HasPrefix(l, "---") || strings.Contains(l, "FAIL") {
				fmt.Fprintln(os.Stderr, "client process:", l)
			}
		}
		close(p.lines)
	}()
	p.expect(b, "ready", 5*time.Minute)
	return p
}

func (p *clientProcess) expect(b *testing.B, want string, within time.Duration) {
	select {
	case _, ok := <-p.lines:
		if !ok {
			b.Fatalf("client process ended before %q", want)
		}
	case <-time.After(within):
		b.Fatalf("no %q from the client process within %v", want, within)
	}
}

func (p *clientProcess) stop() {
	_ = p.stdin.Close()
	_ = p.cmd.Wait()
}

// serverMemory is the heap and stack in use, after a collection.
func serverMemory() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse + ms.StackInuse
}

var broadcastSizes = []int{100, 1000, 10000}

// BenchmarkBroadcast measures REST SendToAll of a 1 KiB text message to N
// PubSub connections on loopback: each iteration is one signed REST call
// and ends when every connection has received the message. Compare with
// BenchmarkBroadcastBaseline. Metrics: deliveries/s, and B/idle-conn, the
// emulator's heap and stack per open, idle connection; cpu-µs/delivery,
// this process's CPU time per delivery.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range broadcastSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			e, err := New(Options{})
			if err != nil {
				b.Fatal(err)
			}
			if err := e.Start(); err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			port := strings.Split(strings.TrimPrefix(e.URL(), "http://"), ":")[1]
			tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
				"aud": e.URL() + "/client/hubs/chat", "exp": time.Now().Add(time.Hour).Unix(),
			}).SignedString([]byte(DefaultAccessKey))

			before := serverMemory()
			clients := startClients(b, n, "ws://127.0.0.1:"+port+"/client/hubs/chat?access_token="+tok, true)
			defer clients.stop()
			perConn := float64(int64(serverMemory())-int64(before)) / float64(n) // signed: a collection may leave less in use than before

			sendURL := e.URL() + "/api/hubs/chat/:send?api-version=2024-12-01"
			auth := "Bearer " + sign(b, DefaultAccessKey, jwt.MapClaims{"aud": sendURL, "exp": time.Now().Add(time.Hour).Unix()})
			payload := bytes.Repeat([]byte("x"), broadcastPayloadSize)
			client := &http.Client{}
			b.ReportAllocs()
			cpu0, _ := processCPU()
			for b.Loop() {
				req, _ := http.NewRequest("POST", sendURL, bytes.NewReader(payload))
				req.Header.Set("Authorization", auth)
				req.Header.Set("Content-Type", "text/plain")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 202 {
					b.Fatalf("send: %d", resp.StatusCode)
				}
				clients.expect(b, "round", time.Minute)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			reportCPU(b, cpu0, n)
			b.ReportMetric(perConn, "B/idle-conn")
		})
	}
}

// reportCPU reports the CPU time this process used per delivery since
// cpu0 (the REST call's client side included): a figure that other load
// on the machine disturbs less than deliveries/s.
func reportCPU(b *testing.B, cpu0 time.Duration, n int) {
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64(cpu1-cpu0)/float64(time.Microsecond)/float64(n)/float64(b.N), "cpu-µs/delivery")
	}
}

// BenchmarkBroadcastBaseline is the physical limit BenchmarkBroadcast is
// measured against: a bare coder/websocket server writes the same JSON
// frame to the same number of loopback connections, from one goroutine
// per CPU, with no REST call, no hub and no queues. B/idle-conn is the
// bare server's memory per connection, cpu-µs/delivery its CPU time per
// delivery.
func BenchmarkBroadcastBaseline(b *testing.B) {
	for _, n := range broadcastSizes {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			var mu sync.Mutex
			var conns []*websocket.Conn
			accepted := make(chan struct{}, n)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.SubprotocolJSON}})
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, ws)
				mu.Unlock()
				accepted <- struct{}{}
			}))
			defer srv.Close()

			before := serverMemory()
			clients := startClients(b, n, "ws"+strings.TrimPrefix(srv.URL, "http"), false)
			defer clients.stop()
			for range n {
				<-accepted
			}
			perConn := float64(int64(serverMemory())-int64(before)) / float64(n) // signed: a collection may leave less in use than before
			defer func() {
				for _, ws := range conns {
					_ = ws.CloseNow()
				}
			}()

			f := protocol.ServiceFrame{Type: protocol.TypeMessage, From: protocol.FromServer, DataType: protocol.DataTypeText, Data: bytes.Repeat([]byte("x"), broadcastPayloadSize)}
			frame := f.AppendJSON(nil)
			workers := runtime.GOMAXPROCS(0)
			ctx := context.Background()
			b.ReportAllocs()
			cpu0, _ := processCPU()
			for b.Loop() {
				var wg sync.WaitGroup
				for w := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := w; i < len(conns); i += workers {
							if err := conns[i].Write(ctx, websocket.MessageText, frame); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				clients.expect(b, "round", time.Minute)
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
			reportCPU(b, cpu0, n)
			b.ReportMetric(perConn, "B/idle-conn")
		})
	}
}
