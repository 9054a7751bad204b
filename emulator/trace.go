package emulator

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// dashboardFeedSize is how many trace lines the dashboard keeps for a
// page that opens later.
const dashboardFeedSize = 500

// tracePreviewBytes is how much of a text or JSON payload a delivery
// line shows.
const tracePreviewBytes = 32

// tracer writes the traffic trace (Options.Trace): one line per REST
// call, delivery, upstream call and connection event, at info level with
// the message "trace" and a kind. It never writes a key, a token, a
// signature, a handler URL's query or more of a payload than a short
// preview. Each line goes to log (nil unless Options.Trace) and to feed,
// which the dashboard shows (nil unless Options.Dashboard). A nil *tracer
// writes nothing.
type tracer struct {
	log      *slog.Logger
	feed     *traceFeed
	maxField int // Options.MaxLogFieldBytes, or its default
}

// cut returns s, a value taken from a request, for a trace line: valid
// UTF-8 and at most maxField bytes.
func (t *tracer) cut(s string) string { return redact.Preview(s, t.maxField) }

func (t *tracer) line(kind string, attrs ...any) {
	if t == nil {
		return
	}
	if t.log != nil {
		t.log.Info("trace", append([]any{"kind", kind}, attrs...)...)
	}
	t.feed.add(kind, attrs)
}

// statusWriter records the status a REST or handshake handler wrote, and
// the reason of a plain-text error (see noteReason). It passes Hijack on
// to the writer it wraps, so a WebSocket upgrade works through it.
type statusWriter struct {
	http.ResponseWriter
	status int
	// reason is the text of the error response, which holds no secret.
	reason string
}

// Unwrap returns the wrapped writer, for http.ResponseController.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack hijacks the wrapped writer, which must be an http.Hijacker.
func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("emulator: the response writer cannot be hijacked")
	}
	return hj.Hijack()
}

// noteReason records msg, the text of an error response written to w, as
// the reason of the trace line when w is a *statusWriter (seen through
// the writers that wrap it for an upgrade). msg must hold no secret.
func noteReason(w http.ResponseWriter, msg string) {
	for w != nil {
		if sw, ok := w.(*statusWriter); ok {
			if sw.reason == "" {
				sw.reason = msg
			}
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

func (w *statusWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// rest traces a REST call of op on hub whose target (a group, user or
// connection, or "") is target. A refusal written with a plain-text
// reason (a 401 says why the token was refused) adds that reason.
func (t *tracer) rest(op Operation, hub, target string, w *statusWriter, took time.Duration) {
	attrs := []any{"operation", string(op), "hub", hub, "target", t.cut(target),
		"status", w.status, "durationMs", took.Milliseconds(), "errorCode", w.Header().Get("x-ms-error-code")}
	if w.reason != "" {
		attrs = append(attrs, "reason", t.cut(w.reason))
	}
	t.line("rest", attrs...)
}

// refused traces a WebSocket handshake on path for hub (as the request
// named it) that was answered with an HTTP error instead of an upgrade:
// kind "connection", event "refused", with the status and the reason the
// response gave.
func (t *tracer) refused(hub, path string, w *statusWriter) {
	if t == nil {
		return
	}
	attrs := []any{"event", "refused", "hub", t.cut(hub),
		"path", t.cut(path), "status", w.status}
	if w.reason != "" {
		attrs = append(attrs, "reason", t.cut(w.reason))
	}
	t.line("connection", attrs...)
}

// mqttRefused traces a CONNECT that the MQTT endpoint of hub, on path,
// refused after the WebSocket upgrade: kind "connection", event
// "refused", the client id the CONNECT gave (if any), the CONNACK code
// sent ("none" when the connection closed without a CONNACK) and why.
func (t *tracer) mqttRefused(hub, path, clientID string, code byte, why string) {
	if t == nil {
		return
	}
	connack := "none"
	if code != mqttNoConnack {
		connack = fmt.Sprintf("0x%02X", code)
	}
	t.line("connection", "event", "refused", "hub", hub, "path", t.cut(path),
		"clientId", t.cut(clientID), "connack", connack, "reason", t.cut(why))
}

// delivery traces a message queued for recipients connections.
func (t *tracer) delivery(hub string, m *core.Message, recipients int) {
	if t == nil {
		return
	}
	attrs := []any{"hub", hub, "source", m.Source, "target", m.Target, "group", m.Group,
		"recipients", recipients, "bytes", len(m.Data), "dataType", m.DataType}
	if m.DataType != core.DataTypeBinary {
		attrs = append(attrs, "preview", redact.Preview(string(m.Data), tracePreviewBytes))
	}
	t.line("delivery", attrs...)
}

// upstream traces an upstream call of event to rawURL, the URL called
// (its query and user information left out: a ?code= query is a
// credential).
func (t *tracer) upstream(hub, connID, event, rawURL string, status int, took time.Duration, err error) {
	if t == nil {
		return
	}
	attrs := []any{"hub", hub, "connectionId", connID, "event", t.cut(event), "url", t.cut(redactURL(rawURL)),
		"status", status, "durationMs", took.Milliseconds()}
	if err != nil {
		attrs = append(attrs, "error", t.cut(err.Error()))
	}
	t.line("upstream", attrs...)
}

// connection traces a connection event, or a join or leave (kind
// "joined" or "left" with the group).
func (t *tracer) connection(kind, hub, id, detail string) {
	if t == nil {
		return
	}
	attrs := []any{"event", kind, "hub", hub, "connectionId", t.cut(id)}
	if detail != "" {
		key := "reason"
		if kind == "joined" || kind == "left" {
			key = "group"
		}
		attrs = append(attrs, key, t.cut(detail))
	}
	t.line("connection", attrs...)
}

// restTarget is the entity a REST call addresses: its path parameters.
func restTarget(params []string) string { return strings.Join(params, "/") }

// traceLine is one line of the traffic trace as the dashboard shows it.
type traceLine struct {
	Seq  uint64 `json:"seq"`
	Time string `json:"time"`
	Kind string `json:"kind"`
	// Fields are the line's attributes in order, each [key, value].
	Fields [][2]any `json:"fields"`
}

// traceFeed keeps the most recent trace lines for the dashboard and wakes
// its event streams when a line is added. A nil *traceFeed keeps nothing.
type traceFeed struct {
	now     func() time.Time
	mu      sync.Mutex
	lines   []traceLine // a ring of dashboardFeedSize once full
	next    int
	seq     uint64
	changes core.Notifier
}

func (f *traceFeed) add(kind string, attrs []any) {
	if f == nil {
		return
	}
	fields := make([][2]any, 0, len(attrs)/2)
	for i := 0; i+1 < len(attrs); i += 2 {
		fields = append(fields, [2]any{attrs[i], attrs[i+1]})
	}
	f.mu.Lock()
	f.seq++
	l := traceLine{Seq: f.seq, Time: f.now().UTC().Format("15:04:05.000"), Kind: kind, Fields: fields}
	if len(f.lines) < dashboardFeedSize {
		f.lines = append(f.lines, l)
	} else {
		f.lines[f.next] = l
		f.next = (f.next + 1) % dashboardFeedSize
	}
	f.mu.Unlock()
	f.changes.Signal()
}

// wait returns a channel closed at the next add.
func (f *traceFeed) wait() <-chan struct{} {
	if f == nil {
		return nil
	}
	return f.changes.Wait()
}

// after returns the lines kept with a sequence number above seq, oldest
// first, and the last sequence number.
func (f *traceFeed) after(seq uint64) ([]traceLine, uint64) {
	if f == nil {
		return nil, seq
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []traceLine
	for _, part := range [][]traceLine{f.lines[f.next:], f.lines[:f.next]} {
		for _, l := range part {
			if l.Seq > seq {
				out = append(out, l)
			}
		}
	}
	return out, f.seq
}

// cut returns s, a value taken from a request, for a log line: valid
// UTF-8 and at most Options.MaxLogFieldBytes bytes.
func (e *Emulator) cut(s string) string { return redact.Preview(s, e.maxLogField) }
