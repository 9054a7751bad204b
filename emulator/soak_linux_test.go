//go:build linux

package emulator

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// The soak test: many JSON-subprotocol connections, a broadcast every
// 100 ms of the emulator's (fake) clock, 5 % of the connections cut in
// waves and reconnecting. Its clients live in a child process (this test
// binary running TestSoakClients), so that both ends' descriptors fit
// the per-process limit and the clients' memory stays out of the
// emulator's.
const (
	soakConns     = 9000
	soakRounds    = 60 // broadcasts
	soakInterval  = 100 * time.Millisecond
	soakWaves     = 5  // rounds in which connections are cut
	soakCutPerMil = 50 // 5 % of the connections are cut, spread over the waves
	// The smaller run, for -short and the race detector (which allows
	// 8,128 live goroutines).
	soakConnsSmall  = 1000
	soakRoundsSmall = 30
)

// Environment of the child process.
const (
	envSoakClients = "EMULATOR_SOAK_CLIENTS"
	envSoakURL     = "EMULATOR_SOAK_URL"
	envSoakRounds  = "EMULATOR_SOAK_ROUNDS"
)

// soakClient is one client of the child process: a connection that,
// when cut, dials again.
type soakClient struct {
	mu sync.Mutex
	ws *websocket.Conn
	// origID is the id of the first connection.
	origID string
	// conns counts the connections made (1 + reconnections).
	conns int
	// origFirst is the first message index the first connection got;
	// prefixLast the last one it got before the cut; -1 for none.
	origFirst, prefixLast int
	// first and last are the first and last message indexes of the
	// current connection; -1 for none.
	first, last int
	// gaps is set when a connection got a message out of order or skipped
	// one after its first.
	gaps bool
	err  string
}

// TestSoakClients is the child process of TestSoak, not a test: it dials
// the connections and prints "ready"; each connection records the
// indexes of the messages it gets (the text of each message is its
// index) and dials again when its connection drops. It prints "complete"
// once every current connection has the last message, a line per client
// followed by "done" when "report" arrives on its standard input, and
// closes everything and exits when its standard input closes.
func TestSoakClients(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv(envSoakClients))
	if n == 0 {
		t.Skip("helper process of TestSoak")
	}
	rounds, _ := strconv.Atoi(os.Getenv(envSoakRounds))
	target := os.Getenv(envSoakURL)
	opts := &websocket.DialOptions{
		HTTPClient:   &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: -1}},
		Subprotocols: []string{protocol.SubprotocolJSON},
	}
	var out sync.Mutex
	say := func(s string) {
		out.Lock()
		defer out.Unlock()
		fmt.Println(s)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	dial := func() (*websocket.Conn, string, error) {
		dctx, dcancel := context.WithTimeout(ctx, time.Minute)
		defer dcancel()
		ws, _, err := websocket.Dial(dctx, target, opts)
		if err != nil {
			return nil, "", err
		}
		_, data, err := ws.Read(dctx)
		var f struct{ Event, ConnectionID string }
		if err == nil {
			err = json.Unmarshal(data, &f)
		}
		if err == nil && f.Event != "connected" {
			err = fmt.Errorf("first frame %q, want the connected event", data)
		}
		if err != nil {
			_ = ws.CloseNow()
			return nil, "", err
		}
		return ws, f.ConnectionID, nil
	}

	clients := make([]*soakClient, n)
	var (
		next    atomic.Int64
		dialers sync.WaitGroup
		dialErr atomic.Value
	)
	for range 64 {
		dialers.Add(1)
		go func() {
			defer dialers.Done()
			for i := int(next.Add(1)) - 1; i < n; i = int(next.Add(1)) - 1 {
				ws, id, err := dial()
				if err != nil {
					dialErr.Store(err)
					return
				}
				clients[i] = &soakClient{ws: ws, origID: id, conns: 1, origFirst: -1, prefixLast: -1, first: -1, last: -1}
			}
		}()
	}
	dialers.Wait()
	if err := dialErr.Load(); err != nil {
		t.Fatalf("dial: %v", err)
	}

	var (
		completed atomic.Int64
		readers   sync.WaitGroup
	)
	for _, c := range clients {
		readers.Add(1)
		go func() {
			defer readers.Done()
			c.read(ctx, dial, rounds, func() {
				if completed.Add(1) == int64(n) {
					say("complete")
				}
			})
		}()
	}
	say("ready")

	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		if sc.Text() != "report" {
			continue
		}
		out.Lock()
		w := bufio.NewWriter(os.Stdout)
		for _, c := range clients {
			c.mu.Lock()
			fmt.Fprintf(w, "client %s %d %d %d %d %d %t %q\n", c.origID, c.conns, c.origFirst, c.prefixLast, c.first, c.last, c.gaps, c.err)
			c.mu.Unlock()
		}
		fmt.Fprintln(w, "done")
		_ = w.Flush()
		out.Unlock()
	}
	cancel()
	for _, c := range clients {
		c.mu.Lock()
		if c.ws != nil {
			_ = c.ws.CloseNow()
		}
		c.mu.Unlock()
	}
	readers.Wait()
}

// read records the messages of c's connections until ctx ends, dialing
// again when a connection drops; done is called when the current
// connection gets message rounds-1.
func (c *soakClient) read(ctx context.Context, dial func() (*websocket.Conn, string, error), rounds int, done func()) {
	c.mu.Lock()
	ws := c.ws
	c.mu.Unlock()
	for {
		_, data, err := ws.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			nws, _, err := dial()
			c.mu.Lock()
			if err != nil {
				c.err = "redial: " + err.Error()
				c.ws = nil
				c.mu.Unlock()
				return
			}
			if c.conns == 1 {
				c.prefixLast = c.last
			}
			c.conns++
			c.ws, c.first, c.last = nws, -1, -1
			c.mu.Unlock()
			if ctx.Err() != nil {
				_ = nws.CloseNow()
				return
			}
			ws = nws
			continue
		}
		var f struct{ Type, Data string }
		if json.Unmarshal(data, &f) != nil || f.Type != "message" {
			continue
		}
		k, err := strconv.Atoi(f.Data)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.last == -1 {
			c.first = k
			if c.conns == 1 {
				c.origFirst = k
			}
		} else if k != c.last+1 {
			c.gaps = true
		}
		c.last = k
		c.mu.Unlock()
		if k == rounds-1 {
			done()
		}
	}
}

// soakChild is the running child process of TestSoak.
type soakChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func (p *soakChild) expect(t *testing.T, want string, within time.Duration) bool {
	t.Helper()
	timeout := time.After(within)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				t.Fatalf("the client process ended before %q", want)
			}
			if l == want {
				return true
			}
		case <-timeout:
			return false
		}
	}
}

// TestSoak runs 9,000 JSON-subprotocol connections (1,000 with -short or
// the race detector) through 60 broadcasts (30), one every 100 ms of the
// emulator's fake clock, while 5 % of the connections are cut in five
// waves and reconnect. Every connection that was not cut must get every
// message, in order; a reconnected one every message sent after it
// reconnected; no other connection may end. Once all close, the
// emulator's goroutines must be back where they started. All of this
// runs twice, and after the second run the resident memory must be back
// where the first left it. The test moves on by events (the emulator's
// connection events and Wait, the clients' reports), never by sleeping;
// only the end of the goroutines is polled for.
func TestSoak(t *testing.T) {
	n, rounds := soakConns, soakRounds
	if testing.Short() || raceEnabled {
		n, rounds = soakConnsSmall, soakRoundsSmall
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err == nil && lim.Cur < uint64(n)+512 {
		n = int(lim.Cur) - 512
		if n < 100 {
			t.Skipf("the open-file limit (%d) is too low for the soak test", lim.Cur)
		}
		t.Logf("open-file limit %d: %d connections", lim.Cur, n)
	}

	const hub = "soak"
	var (
		mu    sync.Mutex
		live  = map[string]bool{}
		ended = map[string]string{} // id -> close reason
	)
	clock := NewFakeClock(time.Time{})
	e, err := New(Options{Clock: clock, OnConnectionEvent: func(ev ConnectionEvent) {
		if ev.Hub != hub {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		switch ev.Kind {
		case ConnectionConnected:
			live[ev.ConnectionID] = true
		case ConnectionDisconnected:
			delete(live, ev.ConnectionID)
			ended[ev.ConnectionID] = ev.Reason
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = e.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := e.Wait(ctx, func() bool {
			mu.Lock()
			defer mu.Unlock()
			return cond()
		}); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	broadcast := func(k int) {
		t.Helper()
		r := doREST(t, e.URL(), e.AccessKey(), "POST", "/api/hubs/"+hub+"/:send?api-version=2024-12-01", "text/plain", []byte(strconv.Itoa(k)), nil)
		if r.status != http.StatusAccepted {
			t.Fatalf("broadcast %d: %d %s", k, r.status, r.body)
		}
	}
	broadcast(-1) // to no one: warms up the REST path
	goroutines := runtime.NumGoroutine()
	waitGoroutines := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond) // goroutines end on their own; poll, bounded
		}
		if g := runtime.NumGoroutine(); g > goroutines {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after every connection closed, %d before:\n%s", g, goroutines, buf[:runtime.Stack(buf, true)])
		}
	}
	tok, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": e.URL() + "/client/hubs/" + hub, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(e.AccessKey()))
	target := "ws" + strings.TrimPrefix(e.URL(), "http") + "/client/hubs/" + hub + "?access_token=" + tok

	// The soak runs twice. The first run grows what the Go runtime keeps
	// for reuse (goroutine descriptors, stack and span caches); the
	// second must leave the resident memory where the first did, so that
	// what stays is reuse, not a leak.
	var rssBefore, rssPeak uint64
	rssStart, _ := residentBytes()
	for run := range 2 {
		peak := soakRun(t, e, soakEnv{n: n, rounds: rounds, hub: hub, target: target, clock: clock,
			waitFor: waitFor, broadcast: broadcast, live: func() map[string]bool { return live },
			ended: func() map[string]string { return ended }, mu: &mu})
		waitGoroutines()
		if t.Failed() {
			return
		}
		if run == 0 {
			rssBefore, _ = residentBytes()
		} else {
			rssPeak = peak
		}
	}
	rssAfter, ok := residentBytes()
	if !ok || raceEnabled {
		return // the race detector's shadow memory is never given back
	}
	t.Logf("%d connections, %d broadcasts, %d cut, twice: RSS %.1f MiB before any connection, %.1f MiB after the first run, %.1f MiB with the second's connections open, %.1f MiB after they closed",
		n, rounds, n*soakCutPerMil/1000/soakWaves*soakWaves, float64(rssStart)/(1<<20), float64(rssBefore)/(1<<20), float64(rssPeak)/(1<<20), float64(rssAfter)/(1<<20))
	// A twentieth of the growth, and at least 2 MiB, is allowed for what
	// the runtime's caches hold at the moment of the measurement.
	growth := int64(rssPeak) - int64(rssBefore)
	if allowed := max(growth/20, 2<<20); int64(rssAfter)-int64(rssBefore) > allowed {
		t.Errorf("RSS %.1f MiB after the second run, %.1f MiB after the first: more than the %.1f MiB allowed of the %.1f MiB the connections took is still held",
			float64(rssAfter)/(1<<20), float64(rssBefore)/(1<<20), float64(allowed)/(1<<20), float64(growth)/(1<<20))
	}
}

// soakEnv is what a run of the soak test uses of TestSoak's setup.
type soakEnv struct {
	n, rounds   int
	hub, target string
	clock       *FakeClock
	waitFor     func(what string, cond func() bool)
	broadcast   func(k int)
	// live and ended return the connection sets, guarded by mu.
	live  func() map[string]bool
	ended func() map[string]string
	mu    *sync.Mutex
}

// soakRun runs the soak once: it connects the clients, broadcasts,
// cuts, checks what every client got, closes every connection and waits
// until the emulator has seen them end. It returns the RSS with the
// connections open.
func soakRun(t *testing.T, e *Emulator, s soakEnv) uint64 {
	t.Helper()
	n, rounds, hub := s.n, s.rounds, s.hub
	child := startSoakChild(t, n, rounds, s.target)
	if !child.expect(t, "ready", 2*time.Minute) {
		t.Fatal("the client process did not connect within 2 minutes")
	}
	s.waitFor("every connection", func() bool { return len(s.live()) == n })
	s.mu.Lock()
	clear(s.ended())
	original := make([]string, 0, n)
	for id := range s.live() {
		original = append(original, id)
	}
	s.mu.Unlock()
	slices.Sort(original)
	rssPeak, _ := residentBytes()

	cutAt := map[string]int{} // id -> the first broadcast after its client reconnected
	perWave := n * soakCutPerMil / 1000 / soakWaves
	wave := 0
	for k := range rounds {
		if wave < soakWaves && k == (wave+1)*rounds/(soakWaves+1) {
			ids := original[wave*perWave : (wave+1)*perWave]
			for _, id := range ids {
				cutAt[id] = k
				if err := e.CutConnection(hub, id); err != nil {
					t.Fatalf("cut %s: %v", id, err)
				}
			}
			s.waitFor(fmt.Sprintf("the reconnections of wave %d", wave), func() bool {
				for _, id := range ids {
					if s.live()[id] {
						return false
					}
				}
				return len(s.live()) == n
			})
			wave++
		}
		s.clock.Advance(soakInterval)
		s.broadcast(k)
	}
	complete := child.expect(t, "complete", 2*time.Minute)
	s.mu.Lock()
	for id, reason := range s.ended() {
		if _, cut := cutAt[id]; !cut {
			t.Errorf("connection %s ended without being cut: %q", id, reason)
		}
	}
	s.mu.Unlock()
	if _, err := io.WriteString(child.stdin, "report\n"); err != nil {
		t.Fatal(err)
	}
	reports := map[string][]string{}
	for l := range child.lines {
		if l == "done" {
			break
		}
		if f := strings.Fields(l); len(f) == 9 && f[0] == "client" {
			reports[f[1]] = f[2:]
		}
	}
	if !complete {
		t.Error("not every connection got the last message within 2 minutes")
	}
	if len(reports) != n {
		t.Fatalf("%d client reports, want %d", len(reports), n)
	}
	bad := 0
	for id, r := range reports {
		if problem := soakProblem(r, cutAt, id, rounds); problem != "" {
			if bad++; bad <= 10 {
				t.Errorf("client of connection %s: %s (report %v)", id, problem, r)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d clients did not get what they should", bad, n)
	}

	// Close everything.
	child.stop()
	s.waitFor("every connection to end", func() bool { return len(s.live()) == 0 })
	return rssPeak
}

// soakProblem checks a client's report (connections, first message of the
// first connection, last message before the cut, first and last message of
// the current connection, gaps, error) and says what is wrong, or "".
// A client that was not cut must have had one connection that got every
// message in order. A cut one must have had two: the first got an
// unbroken prefix that ended before its cut, the second every message
// from the first broadcast after it reconnected.
func soakProblem(r []string, cutAt map[string]int, id string, rounds int) string {
	conns, _ := strconv.Atoi(r[0])
	origFirst, _ := strconv.Atoi(r[1])
	prefixLast, _ := strconv.Atoi(r[2])
	first, _ := strconv.Atoi(r[3])
	last, _ := strconv.Atoi(r[4])
	switch k, cut := cutAt[id]; {
	case r[6] != `""`:
		return "error " + r[6]
	case r[5] != "false":
		return "a message was skipped or out of order"
	case !cut && conns != 1:
		return "reconnected without being cut"
	case !cut && (first != 0 || last != rounds-1):
		return fmt.Sprintf("got messages %d to %d, want 0 to %d", first, last, rounds-1)
	case cut && conns != 2:
		return fmt.Sprintf("%d connections after one cut, want 2", conns)
	case cut && (origFirst > 0 || prefixLast >= k):
		return fmt.Sprintf("the first connection got %d to %d, want a prefix of 0 to %d", origFirst, prefixLast, k-1)
	case cut && (first != k || last != rounds-1):
		return fmt.Sprintf("the reconnected connection got %d to %d, want %d to %d", first, last, k, rounds-1)
	}
	return ""
}

func startSoakChild(t *testing.T, n, rounds int, target string) *soakChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestSoakClients$", "-test.bench=^$", "-test.timeout=10m")
	cmd.Env = append(os.Environ(), envSoakClients+"="+strconv.Itoa(n), envSoakURL+"="+target, envSoakRounds+"="+strconv.Itoa(rounds))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &soakChild{cmd: cmd, stdin: stdin, lines: make(chan string, 1024)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
	}()
	t.Cleanup(p.stop)
	return p
}

// stop closes the child's standard input, which makes it close its
// connections and exit, and waits for it.
func (p *soakChild) stop() {
	_ = p.stdin.Close()
	for range p.lines {
	}
	_ = p.cmd.Wait()
}
