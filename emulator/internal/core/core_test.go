package core

import (
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

// endpoint records what the core does with a connection's transport.
type endpoint struct {
	mu      sync.Mutex
	frames  []Frame
	limit   int // Enqueue refuses beyond this many unsequenced frames; 0 = no limit
	closed  *Ending
	dropped bool
}

func (ep *endpoint) Enqueue(f Frame) bool {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.limit > 0 && !f.Sequenced && len(ep.frames) >= ep.limit {
		return false
	}
	ep.frames = append(ep.frames, f)
	return true
}

func (ep *endpoint) EnqueueReply(f Frame) { ep.Enqueue(f) }

func (ep *endpoint) Close(end Ending) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if ep.closed == nil {
		ep.closed = &end
	}
}

func (ep *endpoint) Drop(string) {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	ep.dropped = true
}

func (ep *endpoint) data() []string {
	ep.mu.Lock()
	defer ep.mu.Unlock()
	out := make([]string, len(ep.frames))
	for i, f := range ep.frames {
		out[i] = string(f.Data)
	}
	return out
}

// owner records the life-cycle calls.
type owner struct {
	ended    []string
	detached int
}

func (o *owner) OnEnded(reason string) { o.ended = append(o.ended, reason) }
func (o *owner) OnDetached()           { o.detached++ }
func (o *owner) OnGroup(string, bool)  {}

// codec writes "<data>" or "<data>#<seq>".
type codec struct{ builds *int }

func (c codec) Encode(m *Message) Frame {
	return m.Encoded(codec{}, func() Frame {
		*c.builds++
		return Frame{Data: m.Data}
	})
}

func (c codec) EncodeSequenced(m *Message, seq uint64) Frame {
	return Frame{Data: []byte(string(c.Encode(m).Data) + "#" + strconv.FormatUint(seq, 10))}
}

// clock moves only when advanced; due timers run in Advance.
type clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
}

type timer struct {
	at      time.Time
	f       func()
	stopped bool
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) AfterFunc(d time.Duration, f func()) func() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		was := !t.stopped
		t.stopped = true
		return was
	}
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	var due []*timer
	for _, t := range c.timers {
		if !t.stopped && !t.at.After(c.now) {
			t.stopped = true
			due = append(due, t)
		}
	}
	c.mu.Unlock()
	for _, t := range due {
		t.f()
	}
}

func inGroupG(h *Hub) []*Conn { return h.SelectGroupLocked("g", Selector{}) }

type tracker struct{}

func (tracker) Track() bool { return true }
func (tracker) Done()       {}

type fixture struct {
	svc    *Service
	clock  *clock
	builds int
	logged []uint64
}

func newFixture() *fixture {
	fx := &fixture{clock: &clock{now: time.Unix(1000, 0)}}
	fx.svc = NewService(Config{Clock: fx.clock, Retention: 30 * time.Second, Tracker: tracker{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Changes: &Notifier{},
		OnDeliver: func(_ *Conn, _ *Message, seq uint64) { fx.logged = append(fx.logged, seq) }})
	return fx
}

func (fx *fixture) conn(t *testing.T, id, user string, reliable bool, groups ...string) (*Conn, *endpoint, *owner) {
	t.Helper()
	c := fx.svc.NewConn("chat", id, user)
	c.Reliable = reliable
	c.Codec = codec{builds: &fx.builds}
	o := &owner{}
	c.Owner = o
	ep := &endpoint{}
	first := Frame{Data: []byte("connected")}
	if !fx.svc.Register(c, ep, groups, &first) {
		t.Fatal("Register refused")
	}
	return c, ep, o
}

func TestFanOutSelection(t *testing.T) {
	fx := newFixture()
	a, epA, _ := fx.conn(t, "a", "alice", false, "g")
	_, epB, _ := fx.conn(t, "b", "bob", false, "g", "h")
	_, epC, _ := fx.conn(t, "c", "", false)
	h := fx.svc.Hub("chat")
	tests := []struct {
		name    string
		pick    func() []*Conn
		a, b, c bool
	}{
		{"all", func() []*Conn { return h.SelectAllLocked(Selector{}) }, true, true, true},
		{"all excluded b", func() []*Conn { return h.SelectAllLocked(Selector{Excluded: []string{"b"}}) }, true, false, true},
		{"group g", func() []*Conn { return h.SelectGroupLocked("g", Selector{}) }, true, true, false},
		{"group g no echo", func() []*Conn { return h.SelectGroupLocked("g", Selector{Except: a}) }, false, true, false},
		{"user bob", func() []*Conn { return h.SelectUserLocked("bob", Selector{}) }, false, true, false},
		{"missing group", func() []*Conn { return h.SelectGroupLocked("zz", Selector{}) }, false, false, false},
	}
	for i, tt := range tests {
		msg := "m" + strconv.Itoa(i)
		h.Fanout(&Message{DataType: DataTypeText, Data: []byte(msg)}, func(*Hub) []*Conn { return tt.pick() })
		for name, c := range map[string]struct {
			ep   *endpoint
			want bool
		}{"a": {epA, tt.a}, "b": {epB, tt.b}, "c": {epC, tt.c}} {
			got := slices.Contains(c.ep.data(), msg)
			if got != c.want {
				t.Errorf("%s: %s received = %v; want %v", tt.name, name, got, c.want)
			}
		}
	}
	// One encoding per message, shared by its recipients.
	if fx.builds != 5 {
		t.Errorf("%d encodings for 5 delivered messages; want 5", fx.builds)
	}
	if got := epA.data()[0]; got != "connected" {
		t.Errorf("first frame %q; want the connected frame", got)
	}
}

func TestQueueFullEndsOnlyTheSlowConnection(t *testing.T) {
	fx := newFixture()
	_, slow, slowOwner := fx.conn(t, "slow", "", false, "g")
	_, fast, _ := fx.conn(t, "fast", "", false, "g")
	slow.limit = 2 // the connected frame and one message
	h := fx.svc.Hub("chat")
	for i := range 3 {
		h.Fanout(&Message{Data: []byte(strconv.Itoa(i))}, inGroupG)
	}
	if slow.closed == nil || slow.closed.Code != CodePolicyViolation || slow.closed.Reason != ReasonQueueFull || !slow.closed.DropQueue {
		t.Fatalf("slow endpoint closed with %+v; want 1008 queue full, queue dropped", slow.closed)
	}
	if !slices.Equal(slowOwner.ended, []string{ReasonQueueFull}) {
		t.Errorf("owner told %v", slowOwner.ended)
	}
	if got := fast.data(); !slices.Equal(got, []string{"connected", "0", "1", "2"}) {
		t.Errorf("fast got %v", got)
	}
	if len(h.GroupMembersLocked("g")) != 1 {
		t.Errorf("group g has %d members; want the fast one", len(h.GroupMembersLocked("g")))
	}
}

func TestReliableBufferAckDetachRecover(t *testing.T) {
	fx := newFixture()
	c, ep, o := fx.conn(t, "r", "u", true, "g")
	c.ReconnectionToken = "token"
	for i := range 3 {
		c.DeliverTo(&Message{Data: []byte("m" + strconv.Itoa(i)), TTL: time.Duration(i+1) * 10 * time.Second})
	}
	if got := ep.data(); !slices.Equal(got, []string{"connected", "m0#1", "m1#2", "m2#3"}) {
		t.Fatalf("frames %v", got)
	}
	if !slices.Equal(fx.logged, []uint64{1, 2, 3}) {
		t.Errorf("delivery log %v", fx.logged)
	}
	c.Acknowledge(1)
	c.EndpointLost(ep, ReasonEndedAbruptly)
	if !c.Detached() || o.detached != 1 || !ep.dropped {
		t.Fatalf("detached=%v owner=%d dropped=%v", c.Detached(), o.detached, ep.dropped)
	}
	// m1 has a 20 s TTL; after 25 s only m2 is replayed.
	fx.clock.Advance(25 * time.Second)
	if got := fx.svc.FindRecoverable("chat", "r", "wrong"); got != nil {
		t.Fatal("a wrong token recovered the connection")
	}
	got := fx.svc.FindRecoverable("chat", "r", "token")
	if got != c {
		t.Fatal("the right token did not find the connection")
	}
	ep2 := &endpoint{}
	if !c.Attach(ep2) {
		t.Fatal("Attach failed")
	}
	if got := ep2.data(); !slices.Equal(got, []string{"m2#3"}) {
		t.Errorf("replayed %v; want m2#3", got)
	}
	// The retention timer of the first detach no longer ends it.
	fx.clock.Advance(time.Minute)
	if c.Ended() {
		t.Fatal("a recovered connection ended with the old retention timer")
	}
}

func TestRetentionEndsDetachedConnection(t *testing.T) {
	tests := []struct {
		name   string
		before func(t *testing.T, fx *fixture, c *Conn)
		reason string
	}{
		{"timer", func(_ *testing.T, fx *fixture, _ *Conn) { fx.clock.Advance(30 * time.Second) }, ReasonRecoveryExpired},
		{"refused recovery", func(t *testing.T, fx *fixture, c *Conn) {
			c.SetRefuseRecovery(true)
			if fx.svc.FindRecoverable("chat", c.ID, "token") != nil {
				t.Fatal("a refused recovery found the connection")
			}
		}, ReasonNotRecoverable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			c, ep, o := fx.conn(t, "r", "u", true)
			c.ReconnectionToken = "token"
			c.EndpointLost(ep, ReasonEndedAbruptly)
			tt.before(t, fx, c)
			if !c.Ended() || !slices.Equal(o.ended, []string{tt.reason}) {
				t.Fatalf("ended=%v owner=%v; want %q", c.Ended(), o.ended, tt.reason)
			}
			if fx.svc.FindRecoverable("chat", "r", "token") != nil {
				t.Fatal("an ended connection is recoverable")
			}
		})
	}
}

func TestNonReliableLossEndsAndShutdownRefuses(t *testing.T) {
	fx := newFixture()
	c, ep, o := fx.conn(t, "p", "", false)
	c.EndpointLost(ep, ReasonEndedAbruptly)
	if !c.Ended() || !slices.Equal(o.ended, []string{ReasonEndedAbruptly}) || !ep.dropped {
		t.Fatalf("ended=%v owner=%v dropped=%v", c.Ended(), o.ended, ep.dropped)
	}
	_, ep2, _ := fx.conn(t, "q", "", false)
	fx.svc.Shutdown(Ending{Code: CodeGoingAway, Reason: "bye"})
	if ep2.closed == nil || ep2.closed.Code != CodeGoingAway {
		t.Fatalf("shutdown closed with %+v", ep2.closed)
	}
	late := fx.svc.NewConn("chat", "late", "")
	late.Codec, late.Owner = codec{builds: &fx.builds}, &owner{}
	if fx.svc.Register(late, &endpoint{}, nil, nil) {
		t.Fatal("Register succeeded after Shutdown")
	}
}

// tailCodec shares Data between recipients and gives each a tail, as the
// JSON subprotocols' codec does.
type tailCodec struct{}

func (tailCodec) Encode(m *Message) Frame { return Frame{Data: m.Data} }

func (tailCodec) EncodeSequenced(m *Message, seq uint64) Frame {
	return Frame{Data: m.Data, Tail: []byte("#" + strconv.FormatUint(seq, 10))}
}

// ownerCh reports ends on a channel, for ends the enforcer causes.
type ownerCh struct{ ended chan string }

func (o ownerCh) OnEnded(reason string) { o.ended <- reason }
func (ownerCh) OnDetached()             {}
func (ownerCh) OnGroup(string, bool)    {}

func TestBufferedBytesShareAFanOut(t *testing.T) {
	fx := newFixture()
	var conns []*Conn
	for i := range 20 {
		c, _, _ := fx.conn(t, "r"+strconv.Itoa(i), "", true, "g")
		c.Codec = tailCodec{}
		conns = append(conns, c)
	}
	h := fx.svc.Hub("chat")
	payload := make([]byte, 1<<20)
	h.Fanout(&Message{Data: payload}, inGroupG)
	if got, want := fx.svc.BufferedBytes(), int64(len(payload)+20*2); got != want {
		t.Fatalf("BufferedBytes = %d; want %d (one shared payload and 20 tails)", got, want)
	}
	for i, c := range conns {
		c.Acknowledge(1)
		want := int64(2 * (19 - i))
		if i < 19 {
			want += int64(len(payload))
		}
		if got := fx.svc.BufferedBytes(); got != want {
			t.Fatalf("after %d acks BufferedBytes = %d; want %d", i+1, got, want)
		}
	}
}

func TestBufferBudgetClosesTheLargestHolder(t *testing.T) {
	fx := newFixture()
	fx.svc = NewService(Config{Clock: fx.clock, Retention: time.Minute, Tracker: tracker{},
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Changes: &Notifier{}, BufferBudget: 10_000})
	big, _, _ := fx.conn(t, "big", "", true)
	small, _, _ := fx.conn(t, "small", "", true)
	ended := make(chan string, 1)
	big.Owner = ownerCh{ended}
	small.Codec, big.Codec = tailCodec{}, tailCodec{}
	small.DeliverTo(&Message{Data: make([]byte, 3000)})
	big.DeliverTo(&Message{Data: make([]byte, 6000)})
	if big.Ended() || small.Ended() {
		t.Fatal("a connection ended within the budget")
	}
	big.DeliverTo(&Message{Data: make([]byte, 2000)}) // 11,000 bytes in all
	select {
	case reason := <-ended:
		if reason != ReasonBudgetExceeded {
			t.Fatalf("big ended with %q", reason)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the largest holder was not closed")
	}
	if small.Ended() {
		t.Error("the smaller holder was closed too")
	}
	if got := fx.svc.BufferedBytes(); got != 3002 {
		t.Errorf("BufferedBytes = %d; want 3002", got)
	}
}

// TestFanoutDoesNotHoldTheHubLock: while a fan-out queues, the hub's
// other operations (a join here) proceed; a second fan-out waits, so the
// order of messages is the same for every recipient.
func TestFanoutDoesNotHoldTheHubLock(t *testing.T) {
	fx := newFixture()
	inFanout, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	fx.svc.onDeliver = func(*Conn, *Message, uint64) {
		once.Do(func() {
			close(inFanout)
			<-release
		})
	}
	a, epA, _ := fx.conn(t, "a", "", false, "g")
	_, epB, _ := fx.conn(t, "b", "", false, "g")
	h := fx.svc.Hub("chat")
	first := make(chan struct{})
	go func() {
		defer close(first)
		h.Fanout(&Message{Data: []byte("1")}, inGroupG)
	}()
	<-inFanout
	h.Lock() // would wait forever if the fan-out held the hub lock
	h.JoinLocked(a, "other")
	h.Unlock()
	second := make(chan struct{})
	go func() {
		defer close(second)
		h.Fanout(&Message{Data: []byte("2")}, inGroupG)
	}()
	close(release)
	<-first
	<-second
	for _, ep := range []*endpoint{epA, epB} {
		if got := ep.data(); !slices.Equal(got, []string{"connected", "1", "2"}) {
			t.Errorf("frames %v; want the two messages in order", got)
		}
	}
}

// A fan-out to all reaches the connections in the order they registered,
// whatever their ids, also after some left.
func TestSelectAllInRegistrationOrder(t *testing.T) {
	fx := newFixture()
	ids := []string{"m", "z", "a", "q", "b", "y", "c", "x"}
	conns := map[string]*Conn{}
	for _, id := range ids {
		conns[id], _, _ = fx.conn(t, id, "", false)
	}
	h := fx.svc.Hub("chat")
	conns["q"].Terminate(Ending{Code: CodeNormal})
	want := slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return id == "q" })
	for range 5 { // map order would differ between calls
		h.RLock()
		got := h.SelectAllLocked(Selector{})
		h.RUnlock()
		var order []string
		for _, c := range got {
			order = append(order, c.ID)
		}
		if !slices.Equal(order, want) {
			t.Fatalf("order %v, want %v", order, want)
		}
	}
}

// noAckCodec marks messages whose data starts with "q0" as never
// acknowledged.
type noAckCodec struct{ codec }

func (c noAckCodec) EncodeSequenced(m *Message, seq uint64) Frame {
	f := c.codec.EncodeSequenced(m, seq)
	f.NoAck = len(m.Data) >= 2 && string(m.Data[:2]) == "q0"
	return f
}

// TestNoAckFrames: a never-acknowledged frame of a reliable connection is
// queued but not buffered while the connection has an endpoint, buffered
// while it is detached, and replayed once by Attach.
func TestNoAckFrames(t *testing.T) {
	fx := newFixture()
	c, ep, _ := fx.conn(t, "r", "u", true, "g")
	c.Codec = noAckCodec{codec{builds: &fx.builds}}
	c.DeliverTo(&Message{Data: []byte("q0-a")})
	c.DeliverTo(&Message{Data: []byte("q1-b")})
	if got := ep.data(); !slices.Equal(got, []string{"connected", "q0-a#1", "q1-b#2"}) {
		t.Fatalf("frames %v", got)
	}
	c.mu.Lock()
	buffered := len(c.buf)
	c.mu.Unlock()
	if buffered != 1 {
		t.Fatalf("%d messages buffered; want only the acknowledged kind", buffered)
	}
	c.Acknowledge(2)
	c.EndpointLost(ep, ReasonEndedAbruptly)
	c.DeliverTo(&Message{Data: []byte("q0-c")})
	c.DeliverTo(&Message{Data: []byte("q1-d")})
	ep2 := &endpoint{}
	if !c.Attach(ep2) {
		t.Fatal("Attach failed")
	}
	if got := ep2.data(); !slices.Equal(got, []string{"q0-c#3", "q1-d#4"}) {
		t.Fatalf("replayed %v", got)
	}
	c.mu.Lock()
	buffered, bytes := len(c.buf), c.bufBytes
	c.mu.Unlock()
	if buffered != 1 || bytes != len("q1-d#4") {
		t.Fatalf("after Attach %d messages (%d bytes) buffered; want only q1-d", buffered, bytes)
	}
}

// waitingForAck reports whether a delivery to c waits for a sequenceAck.
func waitingForAck(c *Conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.acked != nil
}

// TestBufferFullWaitsForAnAck fills a reliable connection's buffer and
// delivers one message more: a sequenceAck that arrives meanwhile makes
// room and the connection stays; without one, or on a detached
// connection, it ends with 1008.
func TestBufferFullWaitsForAnAck(t *testing.T) {
	tests := []struct {
		name    string
		fanout  bool // Hub.Fanout, else Conn.DeliverTo
		ack     bool // acknowledge half the buffer while the delivery waits
		detach  bool
		wantEnd bool
	}{
		{"fan-out, ack arrives", true, true, false, false},
		{"single delivery, ack arrives", false, true, false, false},
		{"fan-out, no ack", true, false, false, true},
		{"detached", true, false, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fx := newFixture()
			c, ep, o := fx.conn(t, "r", "u", true, "g")
			c.ReconnectionToken = "token"
			for i := range maxBufferMessages {
				c.DeliverTo(&Message{Data: []byte("m" + strconv.Itoa(i))})
			}
			if c.Ended() {
				t.Fatal("a full buffer ended the connection")
			}
			if tt.detach {
				c.EndpointLost(ep, ReasonEndedAbruptly)
			}
			late := &Message{Data: []byte("late")}
			start := time.Now()
			done := make(chan struct{})
			go func() {
				defer close(done)
				if tt.fanout {
					fx.svc.Hub("chat").Fanout(late, inGroupG)
				} else {
					c.DeliverTo(late)
				}
			}()
			if tt.ack {
				for !waitingForAck(c) {
					select {
					case <-done:
						t.Fatalf("the delivery did not wait for an ack: ended=%v %v", c.Ended(), o.ended)
					default:
						runtime.Gosched()
					}
				}
				c.Acknowledge(maxBufferMessages / 2)
			}
			<-done
			if tt.wantEnd {
				if !c.Ended() || !slices.Equal(o.ended, []string{ReasonBufferFull}) {
					t.Fatalf("ended=%v owner=%v; want %q", c.Ended(), o.ended, ReasonBufferFull)
				}
				if waited := time.Since(start); !tt.detach && waited < BufferFullGrace {
					t.Errorf("closed after %v; want a wait of %v for an ack", waited, BufferFullGrace)
				}
				if tt.detach && waitingForAck(c) {
					t.Error("a delivery to a detached connection waited for an ack")
				}
				return
			}
			if c.Ended() {
				t.Fatalf("the connection ended (%v) although an ack made room", o.ended)
			}
			got := ep.data()
			if last := got[len(got)-1]; last != "late#1001" {
				t.Errorf("last frame %q; want late#1001", last)
			}
		})
	}
}
