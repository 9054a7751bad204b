package emulator

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"mime"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gowebpubsub/webpubsub/internal/auth"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// DashboardPath is the path of the dashboard page (Options.Dashboard).
// Its data endpoints live below it:
//
//	GET  /dashboard/api/state         the hubs, connections and groups, as JSON
//	GET  /dashboard/api/events        server-sent events: "state" (the same JSON,
//	                                  at most ten times a second, on change) and
//	                                  "trace" (one traffic-trace line)
//	POST /dashboard/api/send          {"hub", "target": "all"|"user"|"group"|"connection",
//	                                  "id", "dataType": "text"|"json", "data"}
//	POST /dashboard/api/client-token  {"hub", "userId", "groups"}: a client URL
//	                                  with a token valid for DashboardTokenLifetime
const DashboardPath = "/dashboard/"

// DashboardTokenLifetime is how long a token that the dashboard issues
// for its in-page test client is valid.
const DashboardTokenLifetime = 10 * time.Minute

// dashboardThrottle is the shortest time between two pushes of one
// dashboard event stream.
const dashboardThrottle = 100 * time.Millisecond

// dashboardPing is the silence after which an event stream sends a
// comment, so that proxies and browsers keep it open.
const dashboardPing = 15 * time.Second

//go:embed dashboard
var dashboardAssets embed.FS

// DashboardURL returns the URL of the dashboard page, URL() +
// DashboardPath, when Options.Dashboard is set and the emulator has been
// started; "" otherwise. The URL carries no secret.
func (e *Emulator) DashboardURL() string {
	if !e.opts.Dashboard {
		return ""
	}
	u := e.URL()
	if u == "" {
		return ""
	}
	return u + DashboardPath
}

// serveDashboard answers the requests below DashboardPath.
func (e *Emulator) serveDashboard(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if !e.dashboardHostAllowed(r.Host) {
		plainError(w, http.StatusForbidden, "The dashboard answers only requests addressed to localhost, an IP address or the emulator's configured host name.")
		return
	}
	rest := strings.TrimPrefix(r.URL.Path, DashboardPath)
	switch rest {
	case "api/state":
		if dashboardMethod(w, r, http.MethodGet) {
			writeJSON(w, http.StatusOK, "application/json; charset=utf-8", e.dashboardState())
		}
	case "api/events":
		if dashboardMethod(w, r, http.MethodGet) {
			e.dashboardEvents(w, r)
		}
	case "api/send":
		if dashboardMethod(w, r, http.MethodPost) && e.dashboardPost(w, r) {
			e.dashboardSend(w, r)
		}
	case "api/client-token":
		if dashboardMethod(w, r, http.MethodPost) && e.dashboardPost(w, r) {
			e.dashboardClientToken(w, r)
		}
	default:
		if !dashboardMethod(w, r, http.MethodGet, http.MethodHead) {
			return
		}
		name := rest
		if name == "" {
			name = "index.html"
		}
		b, err := fs.ReadFile(dashboardAssets, "dashboard/"+name)
		if err != nil || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		ctype := mime.TypeByExtension(name[strings.LastIndexByte(name, '.'):])
		if ctype == "" {
			ctype = "application/octet-stream"
		}
		h.Set("Content-Type", ctype)
		h.Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws://"+r.Host+" wss://"+r.Host+"; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
		_, _ = w.Write(b)
	}
}

// dashboardMethod answers 405 unless r uses one of methods.
func dashboardMethod(w http.ResponseWriter, r *http.Request, methods ...string) bool {
	if slices.Contains(methods, r.Method) {
		return true
	}
	w.Header().Set("Allow", strings.Join(methods, ", "))
	plainError(w, http.StatusMethodNotAllowed, "Use "+strings.Join(methods, " or ")+".")
	return false
}

// dashboardHostAllowed reports whether a request's Host names the
// emulator by a name a DNS-rebinding page cannot use: an IP address,
// localhost (or a name under .localhost), Options.Host or the host of
// Options.PublicEndpoint, with no port or a numeric one.
func (e *Emulator) dashboardHostAllowed(hostport string) bool {
	host := hostport
	if h, port, err := net.SplitHostPort(hostport); err == nil {
		if port == "" || strings.Trim(port, "0123456789") != "" {
			return false
		}
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	if net.ParseIP(host) != nil || strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	if e.opts.Host != "" && strings.EqualFold(host, e.opts.Host) {
		return true
	}
	if ep := e.opts.PublicEndpoint; ep != "" {
		if u, err := url.Parse(ep); err == nil && strings.EqualFold(host, u.Hostname()) {
			return true
		}
	}
	return false
}

// dashboardPost checks that a POST comes from the dashboard page itself:
// a JSON body (which a cross-site form cannot send without a CORS
// preflight, which the dashboard never grants), and no foreign Origin.
func (e *Emulator) dashboardPost(w http.ResponseWriter, r *http.Request) bool {
	if mediaType(r) != "application/json" {
		unsupportedMediaType(w, "application/json")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" && o != "http://"+r.Host && o != "https://"+r.Host {
		plainError(w, http.StatusForbidden, "The dashboard accepts requests only from its own page.")
		return false
	}
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		plainError(w, http.StatusForbidden, "The dashboard accepts requests only from its own page.")
		return false
	}
	return true
}

// dashboardConnection is one connection in the dashboard's state.
type dashboardConnection struct {
	ID          string    `json:"id"`
	UserID      string    `json:"userId"`
	Groups      []string  `json:"groups"`
	Roles       []string  `json:"roles"`
	Subprotocol string    `json:"subprotocol"`
	ConnectedAt time.Time `json:"connectedAt"`
	Reliable    bool      `json:"reliable"`
	Detached    bool      `json:"detached"`
	Queued      int       `json:"queued"`
}

// dashboardGroup is one group in the dashboard's state.
type dashboardGroup struct {
	Name    string   `json:"name"`
	Members []string `json:"members"`
}

// dashboardHub is one hub in the dashboard's state.
type dashboardHub struct {
	Name string `json:"name"`
	// EventHandlers are the URL templates of the hub's event handlers,
	// without their query, which may hold a credential.
	EventHandlers  []string              `json:"eventHandlers"`
	AllowAnonymous bool                  `json:"allowAnonymous"`
	Connections    []dashboardConnection `json:"connections"`
	Groups         []dashboardGroup      `json:"groups"`
}

// dashboardStateJSON is the answer of /dashboard/api/state: no key and no
// token, only what inspection shows.
type dashboardStateJSON struct {
	Now      time.Time      `json:"now"`
	Endpoint string         `json:"endpoint"`
	Hubs     []dashboardHub `json:"hubs"`
	// DefaultKey reports that the emulator uses DefaultAccessKey (which
	// is public); the key itself is never shown.
	DefaultKey bool `json:"defaultKey"`
	Trace      bool `json:"trace"`
}

func (e *Emulator) dashboardState() dashboardStateJSON {
	st := dashboardStateJSON{Now: e.now(), Endpoint: e.opts.PublicEndpoint, DefaultKey: e.key == DefaultAccessKey,
		Trace: e.opts.Trace, Hubs: []dashboardHub{}}
	if st.Endpoint == "" {
		st.Endpoint = e.URL()
	}
	hubs := e.Hubs()
	e.hubsMu.RLock()
	for name := range e.opts.Hubs {
		if name != "*" && !slices.Contains(hubs, strings.ToLower(name)) {
			hubs = append(hubs, strings.ToLower(name))
		}
	}
	e.hubsMu.RUnlock()
	slices.Sort(hubs)
	for _, name := range hubs {
		dh := dashboardHub{Name: name, EventHandlers: []string{}, Connections: []dashboardConnection{}, Groups: []dashboardGroup{}}
		ho := e.hubOptions(name)
		dh.AllowAnonymous = ho.AllowAnonymous
		for _, h := range ho.EventHandlers {
			dh.EventHandlers = append(dh.EventHandlers, redactURL(h.URLTemplate))
		}
		for _, c := range e.Connections(name) {
			dh.Connections = append(dh.Connections, dashboardConnection{ID: c.ID, UserID: c.UserID,
				Groups: nonNil(c.Groups), Roles: nonNil(c.Roles), Subprotocol: c.Subprotocol, ConnectedAt: c.ConnectedAt,
				Reliable: c.Reliable, Detached: c.Detached, Queued: c.Queued})
		}
		for _, g := range e.Groups(name) {
			dh.Groups = append(dh.Groups, dashboardGroup{Name: g, Members: e.GroupMembers(name, g)})
		}
		st.Hubs = append(st.Hubs, dh)
	}
	return st
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// dashboardEvents streams the state and the trace to one page as
// server-sent events until the page goes away or Close begins.
func (e *Emulator) dashboardEvents(w http.ResponseWriter, r *http.Request) {
	if !e.track() {
		plainError(w, http.StatusServiceUnavailable, "The emulator is shutting down.")
		return
	}
	defer e.wg.Done()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)

	feed := e.trace.feed
	changed, traced := e.changes.Wait(), feed.wait()
	var last uint64
	dirty := true
	ping := time.NewTicker(dashboardPing)
	defer ping.Stop()
	throttle := time.NewTimer(0)
	defer throttle.Stop()
	var buf bytes.Buffer
	for {
		buf.Reset()
		var lines []traceLine
		lines, last = feed.after(last)
		for _, l := range lines {
			writeEvent(&buf, "trace", l)
		}
		if dirty {
			writeEvent(&buf, "state", e.dashboardState())
			dirty = false
		}
		if buf.Len() > 0 {
			if _, err := w.Write(buf.Bytes()); err != nil {
				return
			}
			if err := rc.Flush(); err != nil {
				return
			}
		}
		for woke := false; !woke; {
			select {
			case <-changed:
				woke = true
			case <-traced:
				woke = true
			case <-ping.C:
				if _, err := io.WriteString(w, ": ping\n\n"); err != nil || rc.Flush() != nil {
					return
				}
			case <-r.Context().Done():
				return
			case <-e.shutdown:
				return
			}
		}
		// Let a burst of changes gather into one push.
		throttle.Reset(dashboardThrottle)
		select {
		case <-throttle.C:
		case <-r.Context().Done():
			return
		case <-e.shutdown:
			return
		}
		// Take the next channels before reading what changed, so that no
		// change is missed.
		select {
		case <-changed:
			dirty, changed = true, e.changes.Wait()
		default:
		}
		select {
		case <-traced:
			traced = feed.wait()
		default:
		}
	}
}

// writeEvent appends one server-sent event with v as JSON.
func writeEvent(buf *bytes.Buffer, event string, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		return
	}
	buf.WriteString("event: " + event + "\ndata: ")
	buf.Write(b) // JSON has no raw line break
	buf.WriteString("\n\n")
}

// dashboardError answers a dashboard POST with a JSON error.
func dashboardError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, "application/json; charset=utf-8", struct {
		Error string `json:"error"`
	}{msg})
}

// readDashboardJSON decodes a small JSON body into v, whose hub field
// *hub must then hold a valid hub name; it answers the request itself
// and returns false when either fails.
func readDashboardJSON(w http.ResponseWriter, r *http.Request, v any, hub *string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			dashboardError(w, http.StatusRequestEntityTooLarge, "The request body is larger than 1 MiB.")
			return false
		}
		dashboardError(w, http.StatusBadRequest, "The request body is not the expected JSON object: "+redact.Preview(err.Error(), redact.MaxLogField))
		return false
	}
	if reason := names.Hub(*hub); reason != "" {
		dashboardError(w, http.StatusBadRequest, "The hub name "+reason+".")
		return false
	}
	return true
}

// dashboardSendRequest is the body of /dashboard/api/send.
type dashboardSendRequest struct {
	Hub      string `json:"hub"`
	Target   string `json:"target"`
	ID       string `json:"id"`
	DataType string `json:"dataType"`
	Data     string `json:"data"`
}

// dashboardSend sends a message through the emulator's own REST API, as
// an application server would (so the send is traced as a REST call and
// meets the REST API's checks), signed with the emulator's key, and
// answers {"status": <the REST status>} with the REST error's body as
// "detail" when the send failed.
func (e *Emulator) dashboardSend(w http.ResponseWriter, r *http.Request) {
	var req dashboardSendRequest
	if !readDashboardJSON(w, r, &req, &req.Hub) {
		return
	}
	path := "/api/hubs/" + url.PathEscape(req.Hub)
	switch req.Target {
	case "all":
	case "user", "group", "connection":
		if req.ID == "" {
			dashboardError(w, http.StatusBadRequest, "A send to a "+req.Target+" needs the "+req.Target+"'s id.")
			return
		}
		path += "/" + req.Target + "s/" + url.PathEscape(req.ID)
	default:
		dashboardError(w, http.StatusBadRequest, `The target must be "all", "user", "group" or "connection".`)
		return
	}
	path += "/:send?api-version=2024-12-01"
	ctype := "text/plain; charset=utf-8"
	switch req.DataType {
	case "text", "":
	case "json":
		ctype = "application/json"
	default:
		dashboardError(w, http.StatusBadRequest, `The dataType must be "text" or "json".`)
		return
	}
	origin := requestScheme(r) + "://" + r.Host
	inner, err := http.NewRequestWithContext(r.Context(), http.MethodPost, origin+path, strings.NewReader(req.Data))
	if err != nil {
		dashboardError(w, http.StatusBadRequest, "The send cannot be addressed: "+redact.Preview(err.Error(), redact.MaxLogField))
		return
	}
	inner.Host, inner.RequestURI, inner.TLS, inner.RemoteAddr = r.Host, path, r.TLS, r.RemoteAddr
	tok, _ := auth.SignREST(e.key, origin+path, e.now())
	inner.Header.Set("Authorization", "Bearer "+tok)
	inner.Header.Set("Content-Type", ctype)
	rec := &restRecorder{header: http.Header{}}
	e.serveREST(rec, inner)
	answer := struct {
		Status int    `json:"status"`
		Detail string `json:"detail,omitempty"`
	}{Status: rec.status}
	if rec.status >= 300 {
		answer.Detail = redact.Preview(strings.TrimSpace(rec.body.String()), 512)
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", answer)
}

// restRecorder is the http.ResponseWriter of a REST call the dashboard makes.
type restRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *restRecorder) Header() http.Header { return r.header }

func (r *restRecorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
}

func (r *restRecorder) Write(b []byte) (int, error) {
	r.WriteHeader(http.StatusOK)
	if r.body.Len() < 4096 {
		r.body.Write(b[:min(len(b), 4096-r.body.Len())])
	}
	return len(b), nil
}

// dashboardTokenRequest is the body of /dashboard/api/client-token.
type dashboardTokenRequest struct {
	Hub    string   `json:"hub"`
	UserID string   `json:"userId"`
	Groups []string `json:"groups"`
}

// dashboardClientToken answers {"url", "expiresAt"}: a client URL of the
// hub on the host the page used, with a token for the user (none for ""),
// the groups to join on connect and the roles webpubsub.joinLeaveGroup and
// webpubsub.sendToGroup, valid for DashboardTokenLifetime. It is the only
// secret the dashboard ever hands out, and only to its own page.
func (e *Emulator) dashboardClientToken(w http.ResponseWriter, r *http.Request) {
	var req dashboardTokenRequest
	if !readDashboardJSON(w, r, &req, &req.Hub) {
		return
	}
	if len(req.UserID) > 1024 {
		dashboardError(w, http.StatusBadRequest, "The user id must be at most 1024 bytes.")
		return
	}
	for _, g := range req.Groups {
		if reason := names.Group(g); reason != "" {
			dashboardError(w, http.StatusBadRequest, "The group name "+reason+".")
			return
		}
	}
	now := e.now()
	exp := now.Add(DashboardTokenLifetime)
	path := "/client/hubs/" + url.PathEscape(req.Hub)
	rawURL, _ := auth.NewSigner(e.key).SignURL(wsScheme(r)+"://"+r.Host+path, &auth.Claims{
		Audience:  requestScheme(r) + "://" + r.Host + path,
		IssuedAt:  now.Unix(),
		NotBefore: now.Unix(),
		ExpiresAt: exp.Unix(),
		Issuer:    tokenIssuer,
		Subject:   req.UserID,
		Roles:     []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
		Groups:    req.Groups,
	})
	if e.trace != nil {
		e.trace.line("dashboard", "action", "client token", "hub", strings.ToLower(req.Hub),
			"userId", e.cut(req.UserID), "expiresInSeconds", int64(DashboardTokenLifetime/time.Second))
	}
	writeJSON(w, http.StatusOK, "application/json; charset=utf-8", struct {
		URL       string    `json:"url"`
		ExpiresAt time.Time `json:"expiresAt"`
	}{rawURL, exp})
}

func wsScheme(r *http.Request) string {
	if r.TLS != nil {
		return "wss"
	}
	return "ws"
}
