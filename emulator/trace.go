package emulator

import (
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

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
	log  *slog.Logger
	feed *traceFeed
}

func (t *tracer) line(kind string, attrs ...any) {
	if t == nil {
		return
	}
	if t.log != nil {
		t.log.Info("trace", append([]any{"kind", kind}, attrs...)...)
	}
	t.feed.add(kind, attrs)
}

// statusWriter records the status and error code a REST handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
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
// connection, or "") is target.
func (t *tracer) rest(op Operation, hub, target string, w *statusWriter, took time.Duration) {
	t.line("rest", "operation", string(op), "hub", hub, "target", redact.Preview(target, redact.MaxLogField),
		"status", w.status, "durationMs", took.Milliseconds(), "errorCode", w.Header().Get("x-ms-error-code"))
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

// upstream traces an upstream call of event to the handler URL
// template (its query and user information left out).
func (t *tracer) upstream(hub, connID, event, template string, status int, took time.Duration, err error) {
	if t == nil {
		return
	}
	attrs := []any{"hub", hub, "connectionId", connID, "event", event, "url", redactURL(template),
		"status", status, "durationMs", took.Milliseconds()}
	if err != nil {
		attrs = append(attrs, "error", redact.Preview(err.Error(), redact.MaxLogField))
	}
	t.line("upstream", attrs...)
}

// connection traces a connection event, or a join or leave (kind
// "joined" or "left" with the group).
func (t *tracer) connection(kind, hub, id, detail string) {
	if t == nil {
		return
	}
	attrs := []any{"event", kind, "hub", hub, "connectionId", id}
	if detail != "" {
		key := "reason"
		if kind == "joined" || kind == "left" {
			key = "group"
		}
		attrs = append(attrs, key, redact.Preview(detail, redact.MaxLogField))
	}
	t.line("connection", attrs...)
}

// restTarget is the entity a REST call addresses: its path parameters.
func restTarget(params []string) string { return strings.Join(params, "/") }
