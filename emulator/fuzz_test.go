package emulator

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// fuzzHub builds an emulator with a hub of three connections whose
// transports have no WebSocket: deliveries only land in their queues,
// which the fuzz target inspects and empties.
func fuzzHub(t testing.TB) (*Emulator, *core.Hub) {
	e, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"alice", "", "bob"} {
		fuzzConn(t, e, "conn"+string(rune('0'+i)), u, false, nil, "g"+string(rune('0'+i)), "common")
	}
	return e, e.core.Hub("chat")
}

// fuzzConn registers a PubSub connection of hub chat with a transport
// that has no WebSocket: frames only land in its queue.
func fuzzConn(t testing.TB, e *Emulator, id, user string, reliable bool, roles []string, groups ...string) *conn {
	c := newConn(e, "chat", id, user, kindPubSub, "")
	c.Reliable = reliable
	c.SetRoles(roles, discardLogger())
	if !e.core.Register(c.Conn, newTransport(c, nil, nil), groups, nil) {
		t.Fatal("Register refused the connection")
	}
	return c
}

func transportOf(c *core.Conn) *transport { return ownerOf(c).Endpoint().(*transport) }

// queued empties every queue of h and reports how many frames there were.
func queued(h *core.Hub) int {
	h.Lock()
	defer h.Unlock()
	n := 0
	for _, c := range h.ConnsLocked() {
		tr := transportOf(c)
		tr.qmu.Lock()
		n += len(tr.queue)
		tr.queue, tr.queueLen, tr.queueBytes = tr.queue[:0], 0, 0
		tr.qmu.Unlock()
	}
	return n
}

// queuedFrames returns a copy of tr's outbound queue, to be checked with
// qmu released: a check that fails must not leave qmu held, or the next
// fuzz input hangs on it.
func queuedFrames(tr *transport) []core.Frame {
	tr.qmu.Lock()
	defer tr.qmu.Unlock()
	return slices.Clone(tr.queue)
}

// checkQueuedJSON fails the test with msg when a frame queued on tr is not
// valid JSON.
func checkQueuedJSON(t *testing.T, tr *transport, msg string) {
	t.Helper()
	for _, q := range queuedFrames(tr) {
		if b := append(append([]byte(nil), q.Data...), q.Tail...); !json.Valid(b) {
			t.Fatalf("%s %q", msg, b)
		}
	}
}

// endFuzzConn ends c, whose transport is tr, at once: the queue dropped,
// the transport aborted and its close timer stopped, so that nothing of
// one input outlives it.
func endFuzzConn(c *conn, tr *transport) {
	c.Terminate(core.Ending{Code: 1000, DropQueue: true})
	tr.abort()
	tr.qmu.Lock()
	if tr.closeTimer != nil {
		tr.closeTimer.Stop()
	}
	tr.qmu.Unlock()
}

func memberships(h *core.Hub) int {
	h.RLock()
	defer h.RUnlock()
	n := 0
	for _, g := range h.GroupNamesLocked() {
		n += len(h.GroupMembersLocked(g))
	}
	return n
}

// serveSigned runs one signed request through the emulator's handler.
func serveSigned(t testing.TB, e *Emulator, method, target, contentType string, body []byte) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"aud": "http://" + req.Host + req.RequestURI, "exp": time.Now().Add(time.Hour).Unix(),
	}).SignedString([]byte(DefaultAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	rec := httptest.NewRecorder()
	e.Handler().ServeHTTP(rec, req)
	return rec
}

// FuzzRESTFilter feeds arbitrary filters to the two places REST reads
// them: the filter query parameter of a send and the filter field of
// :addToGroups. Each request must succeed or fail with the service's 400
// problem+json; a failure must have no side effect (nothing queued, no
// membership change); and both places must agree on which filters are
// valid.
func FuzzRESTFilter(f *testing.F) {
	var vectors struct {
		Vectors []filterVector `json:"vectors"`
	}
	loadJSON(f, "odata-filters.json", &vectors)
	for _, fv := range vectors.Vectors {
		if len(fv.Filter) < 2000 {
			f.Add(fv.Filter)
		}
	}
	f.Add("")
	f.Add("userId eq 'alice' and 'common' in groups")
	e, h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, filter string) {
		rec := serveSigned(t, e, "POST", "/api/hubs/chat/:send?api-version=2024-12-01&filter="+url.QueryEscape(filter), "text/plain", []byte("m"))
		sent := queued(h)
		switch rec.Code {
		case 202:
		case 400:
			checkProblem(t, rec.Body.Bytes(), "filter")
			if sent != 0 {
				t.Fatalf("a rejected send queued %d frames", sent)
			}
		default:
			t.Fatalf("send: status %d %s", rec.Code, rec.Body.Bytes())
		}

		before := memberships(h)
		body, _ := json.Marshal(map[string]any{"groups": []string{"fz"}, "filter": filter})
		rec2 := serveSigned(t, e, "POST", "/api/hubs/chat/:addToGroups?api-version=2024-12-01", "application/json", body)
		switch rec2.Code {
		case 200:
		case 400:
			checkProblem(t, rec2.Body.Bytes(), "Filter")
			if memberships(h) != before {
				t.Fatal("a rejected :addToGroups changed membership")
			}
		default:
			t.Fatalf(":addToGroups: status %d %s", rec2.Code, rec2.Body.Bytes())
		}
		if utf8.ValidString(filter) && !strings.ContainsRune(filter, utf8.RuneError) && (rec.Code == 400) != (rec2.Code == 400) {
			t.Fatalf("query and body disagree on %q: %d vs %d", filter, rec.Code, rec2.Code)
		}
		// Undo the membership change for the next input.
		h.Lock()
		for _, c := range h.GroupMembersLocked("fz") {
			h.LeaveLocked(c, "fz")
		}
		h.Unlock()
	})
}

// FuzzClientFrame feeds arbitrary text frames to a PubSub connection's
// frame handler (a reliable one for frames of odd length): it must never
// panic, every frame it queues must be valid JSON, and a malformed frame
// must end only that connection.
func FuzzClientFrame(f *testing.F) {
	for _, s := range []string{
		`{"type":"joinGroup","group":"g","ackId":1}`,
		`{"type":"sendToGroup","group":"common","ackId":2,"dataType":"binary","data":"AQID"}`,
		`{"type":"sendToGroup","group":"common","noEcho":true,"data":{"a":[1,2]}}`,
		`{"type":"event","event":"e","ackId":3,"dataType":"text","data":"x"}`,
		`{"type":"invoke","invocationId":"i"}`, `{"type":"ping"}`, `{"type":"x"}`, `not json`,
		`{"type":"invoke","invocationId":"j","target":"event","event":"e","dataType":"json","data":{"a":1}}`,
		`{"type":"cancelInvocation","invocationId":"j"}`,
		`{"type":"sequenceAck","sequenceId":1}`, `{"type":"sendToGroup","group":"common","ttlSeconds":5,"data":"x","dataType":"text"} `,
	} {
		f.Add([]byte(s))
	}
	e, h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := fuzzConn(t, e, "fuzz", "fuzzer", len(frame)%2 == 1,
			[]string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}, "common")
		tr := transportOf(c.Conn)
		c.handleJSON(1, frame) // websocket.MessageText
		checkQueuedJSON(t, tr, "queued invalid JSON")
		queued(h)
		endFuzzConn(c, tr)
		h.RLock()
		left := len(h.ConnsLocked())
		h.RUnlock()
		if left != 3 {
			t.Fatalf("%d connections left; want the 3 bystanders", left)
		}
	})
}

// FuzzStreamFrames feeds sequences of frames, one per line, to a
// publisher in group common. Whatever the frames, every queued frame is
// valid JSON, and what the group's members receive of each stream is its
// fragments from position 1 upward without a gap or a repeat, then at
// most one terminal message at the next position.
func FuzzStreamFrames(f *testing.F) {
	for _, s := range []string{
		"{\"type\":\"sendToGroup\",\"group\":\"common\",\"stream\":{\"streamId\":\"s1\"}}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"s1\",\"streamSequenceId\":1,\"dataType\":\"text\",\"data\":\"a\"}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"s1\",\"streamSequenceId\":3,\"dataType\":\"text\",\"data\":\"c\"}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"s1\",\"streamSequenceId\":1,\"dataType\":\"text\",\"data\":\"a\"}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"s1\",\"streamSequenceId\":2,\"dataType\":\"json\",\"data\":{}}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"s1\"}\n" +
			"{\"type\":\"streamEnd\",\"streamId\":\"s1\"}",
		"{\"type\":\"sendToGroup\",\"group\":\"common\",\"noEcho\":true,\"stream\":{\"streamId\":\"a\",\"idleTimeoutMs\":5}}\n" +
			"{\"type\":\"sendToGroup\",\"group\":\"common\",\"stream\":{\"streamId\":\"a\"}}\n" +
			"{\"type\":\"streamEnd\",\"streamId\":\"a\",\"error\":{\"message\":\"m\",\"userErrorCode\":\"E\"}}\n" +
			"{\"type\":\"sendToGroup\",\"group\":\"common\",\"stream\":{\"streamId\":\"a\"}}\n" +
			"{\"type\":\"streamData\",\"streamId\":\"a\",\"streamSequenceId\":1,\"dataType\":\"binary\",\"data\":\"AQ==\"}",
		"{\"type\":\"streamData\",\"streamId\":\"x\",\"streamSequenceId\":0,\"dataType\":\"text\",\"data\":\"a\"}\n" +
			"{\"type\":\"streamEnd\",\"streamId\":\"x\",\"error\":{\"name\":\"n\"}}",
	} {
		f.Add([]byte(s))
	}
	e, h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, in []byte) {
		queued(h)
		c := fuzzConn(t, e, "fuzz", "fuzzer", len(in)%2 == 1,
			[]string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}, "common")
		tr := transportOf(c.Conn)
		c.proc.Lock()
		for _, frame := range bytes.SplitN(in, []byte("\n"), 64) {
			c.handleJSON(1, frame) // websocket.MessageText
		}
		for _, s := range c.streams {
			c.closeStream(s, "Cancelled", "end of the fuzz input", false)
		}
		c.proc.Unlock()
		checkQueuedJSON(t, tr, "queued invalid JSON")
		h.RLock()
		member := h.ConnLocked("conn0")
		h.RUnlock()
		checkStreamOrder(t, transportOf(member))
		queued(h)
		endFuzzConn(c, tr)
	})
}

// checkStreamOrder checks the stream messages queued for one member.
func checkStreamOrder(t *testing.T, tr *transport) {
	t.Helper()
	next := map[string]uint64{}
	for _, q := range queuedFrames(tr) {
		b := append(append([]byte(nil), q.Data...), q.Tail...)
		var m struct {
			Stream *struct {
				StreamID         string `json:"streamId"`
				StreamSequenceID uint64 `json:"streamSequenceId"`
				EndOfStream      bool   `json:"endOfStream"`
			} `json:"stream"`
		}
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("member got invalid JSON %q", b)
		}
		s := m.Stream
		if s == nil {
			continue
		}
		want := max(next[s.StreamID], 1)
		if s.StreamSequenceID != want {
			t.Fatalf("member got position %d of stream %q; want %d (%s)", s.StreamSequenceID, s.StreamID, want, b)
		}
		if s.EndOfStream {
			delete(next, s.StreamID) // the id may be reused
			continue
		}
		next[s.StreamID] = want + 1
	}
}

// FuzzProtobufClientFrame feeds one binary frame to a protobuf client in
// group common. A frame that does not decode ends the connection with
// 1007, as a malformed JSON frame does; any other frame leaves it open,
// and everything queued for any connection is a well-formed protobuf
// DownstreamMessage in a binary frame (JSON bystanders get valid JSON).
func FuzzProtobufClientFrame(f *testing.F) {
	for _, s := range []string{
		"3206 0a02 6731 1001", "0a0e 0a02 636f 6d6d 6f6e 1003 1a04 0a02 6869 2001", "4203 08ac02",
		"2a0a 0a02 6576 1204 0a02 6869", "0a0d 0a06 636f6d6d6f6e 1a03 2201 31", "", "4a00", "ff",
	} {
		b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	e, h := fuzzHub(f)
	f.Fuzz(func(t *testing.T, frame []byte) {
		c := fuzzConn(t, e, "fuzz", "fuzzer", len(frame)%2 == 1,
			[]string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"}, "common")
		c.pbuf = true
		c.setCodec()
		tr := transportOf(c.Conn)
		_, perr := protocol.ParseProtobufClientFrame(frame)
		c.proc.Lock()
		c.handleProtobuf(2, frame) // websocket.MessageBinary
		c.proc.Unlock()
		tr.qmu.Lock()
		req := tr.closeReq
		tr.qmu.Unlock()
		for _, q := range queuedFrames(tr) {
			b := append(append([]byte(nil), q.Data...), q.Tail...)
			if _, err := protocol.ParseProtobufServiceFrame(b); err != nil || !q.Binary {
				t.Fatalf("queued %x (binary %v), not a DownstreamMessage: %v", b, q.Binary, err)
			}
		}
		switch {
		case perr != nil && (req == nil || req.code != 1007):
			t.Fatalf("a frame that does not decode (%v) did not close with 1007 (%+v)", perr, req)
		case perr == nil && req != nil:
			t.Fatalf("a decodable frame closed the connection: %+v", req)
		}
		h.RLock()
		member := h.ConnLocked("conn0")
		h.RUnlock()
		mt := transportOf(member)
		checkQueuedJSON(t, mt, "a JSON member got invalid JSON")
		queued(h)
		endFuzzConn(c, tr)
	})
}
