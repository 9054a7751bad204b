package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// The types below read testdata/client-frames.json (a copy of
// conformance/client-frames.json); its "format" object documents them.

type framesFile struct {
	Cases []frameCase `json:"cases"`
}

type frameCase struct {
	ID          string                    `json:"id"`
	Connections map[string]caseConnection `json:"connections"`
	Upstream    *caseUpstream             `json:"upstream"`
	Steps       []caseStep                `json:"steps"`
}

// caseUpstream configures the hub's one event handler, which points at
// the harness's fake upstream.
type caseUpstream struct {
	UserEventPattern string                  `json:"userEventPattern"`
	SystemEvents     []string                `json:"systemEvents"`
	Responses        map[string]caseResponse `json:"responses"`
}

type caseResponse struct {
	Status      int               `json:"status"`
	ContentType string            `json:"contentType"`
	Headers     map[string]string `json:"headers"`
	Body        *string           `json:"body"`
	BodyBase64  *string           `json:"bodyBase64"`
}

type caseUpstreamExpect struct {
	CeType         string            `json:"ceType"`
	Headers        map[string]string `json:"headers"`
	HeadersAbsent  []string          `json:"headersAbsent"`
	ContentType    *string           `json:"contentType"`
	BodyText       *string           `json:"bodyText"`
	BodyBase64     *string           `json:"bodyBase64"`
	BodyJSON       json.RawMessage   `json:"bodyJson"`
	BodyJSONSubset json.RawMessage   `json:"bodyJsonSubset"`
}

type caseNoUpstream struct {
	WithinMs int      `json:"withinMs"`
	CeTypes  []string `json:"ceTypes"`
}

type caseRecover struct {
	Conn              string         `json:"conn"`
	ReconnectionToken *string        `json:"reconnectionToken"`
	ExpectHandshake   *caseHandshake `json:"expectHandshake"`
}

type caseConnection struct {
	Subprotocols       []string       `json:"subprotocols"`
	Claims             jwt.MapClaims  `json:"claims"`
	NoToken            bool           `json:"noToken"`
	ExactClaims        jwt.MapClaims  `json:"exactClaims"`
	TokenIn            string         `json:"tokenIn"`
	ExpectHandshake    *caseHandshake `json:"expectHandshake"`
	ReadConnectedFrame *bool          `json:"readConnectedFrame"`
}

type caseHandshake struct {
	Status      int             `json:"status"`
	Subprotocol json.RawMessage `json:"subprotocol"`
}

type caseStep struct {
	Send           *frameSpec          `json:"send"`
	Expect         *frameSpec          `json:"expect"`
	ExpectNothing  *frameSpec          `json:"expectNothing"`
	Rest           *caseREST           `json:"rest"`
	ExpectStatus   int                 `json:"expectStatus"`
	ExpectHeaders  map[string]string   `json:"expectHeaders"`
	Repeat         int                 `json:"repeat"`
	ExpectUpstream *caseUpstreamExpect `json:"expectUpstream"`
	NoUpstream     *caseNoUpstream     `json:"expectNoUpstream"`
	DropTransport  *struct {
		Conn string `json:"conn"`
	} `json:"dropTransport"`
	Recover *caseRecover `json:"recover"`
}

type frameSpec struct {
	Conn         string          `json:"conn"`
	JSON         json.RawMessage `json:"json"`
	Text         *string         `json:"text"`
	BinaryBase64 *string         `json:"binaryBase64"`
	TextOfSize   int             `json:"textOfSize"`
	Close        *struct {
		Code int `json:"code"`
	} `json:"close"`
	Repeat int `json:"repeat"`
}

type caseREST struct {
	Method      string         `json:"method"`
	Path        string         `json:"path"`
	Query       map[string]any `json:"query"`
	ContentType string         `json:"contentType"`
	Body        *string        `json:"body"`
	BodyBase64  *string        `json:"bodyBase64"`
}

// TestClientFramesConformance runs every case of client-frames.json,
// including those that need upstream event handlers and the reliable
// subprotocol.
func TestClientFramesConformance(t *testing.T) {
	var file framesFile
	loadJSON(t, "client-frames.json", &file)
	if len(file.Cases) != 93 {
		t.Fatalf("loaded %d cases; want 93", len(file.Cases))
	}
	for _, fc := range file.Cases {
		t.Run(fc.ID, func(t *testing.T) {
			t.Parallel()
			runFrameCase(t, &fc)
		})
	}
}

type caseRun struct {
	t     *testing.T
	te    *testEmulator
	up    *fakeUpstream // nil without upstream
	conns map[string]*wsClient
	ids   map[string]string
}

var localhost8080 = regexp.MustCompile(`(?i)localhost:8080`)

func runFrameCase(t *testing.T, fc *frameCase) {
	run := &caseRun{t: t, conns: map[string]*wsClient{}, ids: map[string]string{}}
	var opts Options
	if u := fc.Upstream; u != nil {
		run.up = newFakeUpstream(t, func(r *recordedRequest) fakeResponse {
			spec, ok := u.Responses[r.header.Get("ce-eventName")]
			if !ok {
				return fakeResponse{status: http.StatusNoContent}
			}
			resp := fakeResponse{status: spec.Status, header: http.Header{}}
			if spec.ContentType != "" {
				resp.header.Set("Content-Type", spec.ContentType)
			}
			for k, v := range spec.Headers {
				resp.header.Set(k, v)
			}
			switch {
			case spec.Body != nil:
				resp.body = []byte(*spec.Body)
			case spec.BodyBase64 != nil:
				resp.body, _ = base64.StdEncoding.DecodeString(*spec.BodyBase64)
			}
			return resp
		})
		opts = run.up.handlerOptions(u.UserEventPattern, u.SystemEvents...)
	}
	run.te = startEmulator(t, opts)
	labels := make([]string, 0, len(fc.Connections))
	for l := range fc.Connections {
		labels = append(labels, l)
	}
	slices.Sort(labels)
	for _, l := range labels {
		run.connect(l, fc.Connections[l])
	}
	for i, st := range fc.Steps {
		run.step(i, &st)
	}
}

func (run *caseRun) connect(label string, cc caseConnection) {
	t, te := run.t, run.te
	var token string
	switch {
	case cc.NoToken:
	case cc.ExactClaims != nil:
		claims := jwt.MapClaims{}
		for k, v := range cc.ExactClaims {
			if s, ok := v.(string); ok {
				// The cases assume localhost:8080; keep the rest of the
				// audience, including its letter case, as written.
				v = localhost8080.ReplaceAllStringFunc(s, func(m string) string { return m[:len(m)-4] + strings.Split(te.hostPort(), ":")[1] })
			}
			claims[k] = v
		}
		token = sign(t, te.AccessKey(), claims)
	default:
		token = te.clientToken("chat", cc.Claims)
	}
	want := caseHandshake{Status: 101}
	if cc.ExpectHandshake != nil {
		want = *cc.ExpectHandshake
	}
	ws, resp, err := te.dialRaw(dialOptions{subprotocols: cc.Subprotocols, token: token, tokenHeader: cc.TokenIn == "header"})
	if want.Status != 101 {
		if err == nil {
			t.Fatalf("%s: handshake succeeded; want status %d", label, want.Status)
		}
		if resp == nil || resp.StatusCode != want.Status {
			t.Fatalf("%s: handshake = %v, %v; want status %d", label, resp, err, want.Status)
		}
		return
	}
	if err != nil {
		t.Fatalf("%s: dial: %v", label, err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	wantSub := ""
	for _, p := range cc.Subprotocols {
		if strings.EqualFold(p, "json.webpubsub.azure.v1") || strings.EqualFold(p, "json.reliable.webpubsub.azure.v1") {
			wantSub = p
			break
		}
	}
	if len(want.Subprotocol) > 0 {
		if err := json.Unmarshal(want.Subprotocol, &wantSub); err != nil {
			wantSub = "" // null: no subprotocol
		}
	}
	if ws.Subprotocol() != wantSub {
		t.Fatalf("%s: subprotocol %q; want %q", label, ws.Subprotocol(), wantSub)
	}
	c := wrapWS(t, ws)
	c.opts = dialOptions{subprotocols: cc.Subprotocols, token: token, tokenHeader: cc.TokenIn == "header"}
	c.id = te.waitRegistered()
	run.conns[label] = c
	run.ids[label] = c.id
	readConnected := wantSub != ""
	if cc.ReadConnectedFrame != nil {
		readConnected = *cc.ReadConnectedFrame
	}
	if readConnected {
		f := c.ReadJSON()
		if f["type"] != "system" || f["event"] != "connected" || f["connectionId"] != c.id {
			t.Fatalf("%s: first frame %v; want connected", label, f)
		}
		c.reconnectionToken, _ = f["reconnectionToken"].(string)
	}
}

var placeholder = regexp.MustCompile(`\{\{(connectionId|signature):([A-Za-z0-9]+)\}\}`)

// subst replaces {{connectionId:X}} with X's id and {{signature:X}} with
// its ce-signature.
func (run *caseRun) subst(s string) string {
	return placeholder.ReplaceAllStringFunc(s, func(m string) string {
		sm := placeholder.FindStringSubmatch(m)
		id, ok := run.ids[sm[2]]
		if !ok {
			run.t.Fatalf("no connection %s", sm[2])
		}
		if sm[1] == "signature" {
			return cloudevents.Sign(DefaultAccessKey, id)
		}
		return id
	})
}

func (run *caseRun) conn(label string) *wsClient {
	c := run.conns[label]
	if c == nil {
		run.t.Fatalf("no open connection %s", label)
	}
	return c
}

func (run *caseRun) step(i int, st *caseStep) {
	t := run.t
	switch {
	case st.Send != nil:
		c := run.conn(st.Send.Conn)
		typ, data := websocket.MessageText, []byte(nil)
		switch {
		case st.Send.JSON != nil:
			var buf bytes.Buffer
			if err := json.Compact(&buf, []byte(run.subst(string(st.Send.JSON)))); err != nil {
				t.Fatalf("step %d: %v", i, err)
			}
			data = buf.Bytes()
		case st.Send.Text != nil:
			data = []byte(*st.Send.Text)
		case st.Send.BinaryBase64 != nil:
			typ = websocket.MessageBinary
			data, _ = base64.StdEncoding.DecodeString(*st.Send.BinaryBase64)
		case st.Send.TextOfSize > 0:
			data = bytes.Repeat([]byte("a"), st.Send.TextOfSize)
		}
		ctx, cancel := contextWithTimeout()
		defer cancel()
		if err := c.ws.Write(ctx, typ, data); err != nil {
			t.Fatalf("step %d: write: %v", i, err)
		}
	case st.Expect != nil:
		c := run.conn(st.Expect.Conn)
		for range max(1, st.Expect.Repeat) {
			run.expect(i, c, st.Expect)
		}
	case st.ExpectNothing != nil:
		c := run.conn(st.ExpectNothing.Conn)
		if c.ws.Subprotocol() != "" {
			c.Barrier()
		} else {
			run.te.rawBarrier(c)
		}
	case st.Rest != nil:
		for range max(1, st.Repeat) {
			run.rest(i, st)
		}
	case st.ExpectUpstream != nil:
		run.expectUpstream(i, st.ExpectUpstream)
	case st.NoUpstream != nil:
		if run.up == nil {
			t.Fatalf("step %d: expectNoUpstream without an upstream", i)
		}
		run.up.expectNone(t, time.Duration(st.NoUpstream.WithinMs)*time.Millisecond, st.NoUpstream.CeTypes...)
	case st.DropTransport != nil:
		run.te.drop(run.conn(st.DropTransport.Conn))
	case st.Recover != nil:
		run.recover(i, st.Recover)
	default:
		t.Fatalf("step %d: a step kind this version does not support", i)
	}
}

func (run *caseRun) expect(i int, c *wsClient, spec *frameSpec) {
	t := run.t
	if spec.Close != nil {
		c.ExpectClose(websocket.StatusCode(spec.Close.Code))
		return
	}
	typ, b := c.Read()
	switch {
	case spec.JSON != nil:
		if typ != websocket.MessageText {
			t.Fatalf("step %d: binary frame %x; want JSON", i, b)
		}
		var got, want any
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("step %d: frame %s: %v", i, b, err)
		}
		if err := json.Unmarshal([]byte(run.subst(string(spec.JSON))), &want); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if !matchJSON(got, want) {
			t.Fatalf("step %d: frame\n got %s\nwant %s", i, b, spec.JSON)
		}
		if m, _ := got.(map[string]any); m["event"] == "connected" {
			c.reconnectionToken, _ = m["reconnectionToken"].(string)
		}
	case spec.Text != nil:
		if typ != websocket.MessageText || string(b) != *spec.Text {
			t.Fatalf("step %d: got %v %q; want text %q", i, typ, b, *spec.Text)
		}
	case spec.BinaryBase64 != nil:
		want, _ := base64.StdEncoding.DecodeString(*spec.BinaryBase64)
		if typ != websocket.MessageBinary || !bytes.Equal(b, want) {
			t.Fatalf("step %d: got %v %x; want binary %x", i, typ, b, want)
		}
	}
}

// matchJSON compares parsed JSON with an expectation that may hold the
// placeholders {{string}}, {{int}} and {{any}}; objects must have exactly
// the same keys.
func matchJSON(got, want any) bool {
	switch w := want.(type) {
	case string:
		switch w {
		case "{{any}}":
			return true
		case "{{string}}":
			_, ok := got.(string)
			return ok
		case "{{int}}":
			n, ok := got.(float64)
			return ok && n == float64(int64(n))
		}
		return got == w
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for k, wv := range w {
			gv, present := g[k]
			if !present || !matchJSON(gv, wv) {
				return false
			}
		}
		return true
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return false
		}
		for i := range w {
			if !matchJSON(g[i], w[i]) {
				return false
			}
		}
		return true
	default:
		return got == want
	}
}

func (run *caseRun) rest(i int, st *caseStep) {
	t := run.t
	r := st.Rest
	q := []string{"api-version=2024-12-01"}
	keys := make([]string, 0, len(r.Query))
	for k := range r.Query {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		var values []string
		switch v := r.Query[k].(type) {
		case string:
			values = []string{v}
		case []any:
			for _, x := range v {
				values = append(values, x.(string))
			}
		}
		for _, v := range values {
			q = append(q, k+"="+strings.ReplaceAll(url.QueryEscape(run.subst(v)), "+", "%20"))
		}
	}
	var body []byte
	switch {
	case r.Body != nil:
		body = []byte(*r.Body)
	case r.BodyBase64 != nil:
		body, _ = base64.StdEncoding.DecodeString(*r.BodyBase64)
	}
	resp := run.te.rest(r.Method, run.subst(r.Path)+"?"+strings.Join(q, "&"), r.ContentType, body)
	if st.ExpectStatus != 0 && resp.status != st.ExpectStatus {
		t.Fatalf("step %d: %s %s = %d %s; want %d", i, r.Method, r.Path, resp.status, resp.body, st.ExpectStatus)
	}
	for k, v := range st.ExpectHeaders {
		if got := resp.header.Get(k); got != v {
			t.Fatalf("step %d: header %s = %q; want %q", i, k, got, v)
		}
	}
}

// recover dials a recovery of a connection and checks the handshake; on
// success the label names the new transport.
func (run *caseRun) recover(i int, spec *caseRecover) {
	t := run.t
	c := run.conn(spec.Conn)
	token := c.reconnectionToken
	if spec.ReconnectionToken != nil {
		token = *spec.ReconnectionToken
	}
	ws, resp, err := run.te.recoverRaw(c, token)
	want := caseHandshake{Status: 101}
	if spec.ExpectHandshake != nil {
		want = *spec.ExpectHandshake
	}
	if want.Status != 101 {
		if err == nil || resp == nil || resp.StatusCode != want.Status {
			t.Fatalf("step %d: recovery handshake = %v, %v; want status %d", i, resp, err, want.Status)
		}
		return
	}
	if err != nil {
		t.Fatalf("step %d: recovery: %v", i, err)
	}
	var wantSub string
	if len(want.Subprotocol) > 0 {
		_ = json.Unmarshal(want.Subprotocol, &wantSub)
	}
	if ws.Subprotocol() != wantSub {
		t.Fatalf("step %d: recovered with subprotocol %q; want %q", i, ws.Subprotocol(), wantSub)
	}
	run.conns[spec.Conn] = c.replaced(ws)
}

// expectUpstream checks the next upstream request of the expected type.
func (run *caseRun) expectUpstream(i int, spec *caseUpstreamExpect) {
	t := run.t
	if run.up == nil {
		t.Fatalf("step %d: expectUpstream without an upstream", i)
	}
	r := run.up.next(t, spec.CeType)
	for name, want := range spec.Headers {
		got, present := r.header[http.CanonicalHeaderKey(name)]
		if !present {
			t.Fatalf("step %d: %s has no header %s", i, spec.CeType, name)
		}
		if !matchJSON(strings.Join(got, ","), run.subst(want)) {
			t.Fatalf("step %d: %s header %s = %q; want %q", i, spec.CeType, name, got, run.subst(want))
		}
	}
	for _, name := range spec.HeadersAbsent {
		if _, present := r.header[http.CanonicalHeaderKey(name)]; present {
			t.Fatalf("step %d: %s has header %s = %q", i, spec.CeType, name, r.header.Get(name))
		}
	}
	if spec.ContentType != nil && r.header.Get("Content-Type") != *spec.ContentType {
		t.Fatalf("step %d: Content-Type %q; want %q", i, r.header.Get("Content-Type"), *spec.ContentType)
	}
	switch {
	case spec.BodyText != nil:
		if string(r.body) != *spec.BodyText {
			t.Fatalf("step %d: body %q; want %q", i, r.body, *spec.BodyText)
		}
	case spec.BodyBase64 != nil:
		want, _ := base64.StdEncoding.DecodeString(*spec.BodyBase64)
		if !bytes.Equal(r.body, want) {
			t.Fatalf("step %d: body %x; want %x", i, r.body, want)
		}
	case spec.BodyJSON != nil, spec.BodyJSONSubset != nil:
		var got, want any
		if err := json.Unmarshal(r.body, &got); err != nil {
			t.Fatalf("step %d: body %s: %v", i, r.body, err)
		}
		raw, subset := spec.BodyJSON, false
		if raw == nil {
			raw, subset = spec.BodyJSONSubset, true
		}
		if err := json.Unmarshal([]byte(run.subst(string(raw))), &want); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if ok := matchJSON(got, want); !subset && !ok || subset && !matchSubset(got, want) {
			t.Fatalf("step %d: body\n got %s\nwant %s (subset %v)", i, r.body, raw, subset)
		}
	}
}

// matchSubset reports whether every key of want is in got with an equal
// value; objects are compared recursively, arrays exactly.
func matchSubset(got, want any) bool {
	w, ok := want.(map[string]any)
	if !ok {
		return matchJSON(got, want)
	}
	g, ok := got.(map[string]any)
	if !ok {
		return false
	}
	for k, wv := range w {
		gv, present := g[k]
		if !present || !matchSubset(gv, wv) {
			return false
		}
	}
	return true
}
