package emulator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
)

// filterVector is one entry of testdata/odata-filters.json.
type filterVector struct {
	Name       string `json:"name"`
	Filter     string `json:"filter"`
	Connection *struct {
		UserID       *string  `json:"userId"`
		ConnectionID string   `json:"connectionId"`
		Groups       []string `json:"groups"`
	} `json:"connection"`
	Expect      *bool `json:"expect"`
	ExpectError bool  `json:"expectError"`
}

func loadFilterVectors(t testing.TB) []filterVector {
	var file struct {
		Vectors []filterVector `json:"vectors"`
	}
	loadJSON(t, "odata-filters.json", &file)
	if len(file.Vectors) != 139 {
		t.Fatalf("loaded %d filter vectors; want 139", len(file.Vectors))
	}
	return file.Vectors
}

// TestFilterVectorsSelection runs every vector through the code path REST
// sends and batch group operations use: compileFilter, then the hub's
// selection of a connection with the vector's identity and groups.
func TestFilterVectorsSelection(t *testing.T) {
	for _, fv := range loadFilterVectors(t) {
		t.Run(fv.Name, func(t *testing.T) {
			w := &recorder{header: http.Header{}}
			f, ok := compileFilter(w, fv.Filter, "filter")
			if fv.ExpectError {
				if ok || w.status != 400 {
					t.Fatalf("filter %q compiled; want 400", fv.Filter)
				}
				checkProblem(t, w.body.Bytes(), "filter")
				return
			}
			if !ok {
				t.Fatalf("filter %q rejected: %s", fv.Filter, w.body.Bytes())
			}
			e, err := New(Options{})
			if err != nil {
				t.Fatal(err)
			}
			user := ""
			if fv.Connection.UserID != nil {
				user = *fv.Connection.UserID
			}
			c := fuzzConn(t, e, fv.Connection.ConnectionID, user, false, nil, fv.Connection.Groups...)
			h := c.Hub()
			h.RLock()
			defer h.RUnlock()
			if got := len(h.SelectAllLocked(core.Selector{Filter: f})) == 1; got != *fv.Expect {
				t.Fatalf("selected = %v; want %v", got, *fv.Expect)
			}
			// excluded is ANDed with the filter.
			if len(h.SelectAllLocked(core.Selector{Filter: f, Excluded: []string{c.ID}})) != 0 {
				t.Fatal("an excluded connection was kept")
			}
		})
	}
}

// TestFilterVectorsEndToEnd sends to all with each vector's filter while a
// live client with the vector's user and groups is connected, and checks
// that it receives the message exactly when the vector expects it; every
// invalid filter gets the service's 400.
func TestFilterVectorsEndToEnd(t *testing.T) {
	parent := startEmulator(t, Options{})
	for _, fv := range loadFilterVectors(t) {
		t.Run(fv.Name, func(t *testing.T) {
			if strings.Contains(strings.ToLower(fv.Filter), "connectionid") {
				t.Skip("compares connection ids, which a live emulator assigns at random; covered by TestFilterVectorsSelection")
			}
			te := parent.with(t)
			path := "/api/hubs/chat/:send" + v + "&filter=" + strings.ReplaceAll(url.QueryEscape(fv.Filter), "+", "%20")
			if fv.ExpectError {
				r := te.rest("POST", path, "text/plain", []byte("x"))
				expectStatus(t, r, 400)
				checkProblem(t, r.body, "filter")
				return
			}
			claims := jwt.MapClaims{}
			if fv.Connection.UserID != nil {
				claims["sub"] = *fv.Connection.UserID
			}
			if len(fv.Connection.Groups) > 0 {
				claims["webpubsub.group"] = fv.Connection.Groups
			}
			c := te.pubsub(claims)
			expectStatus(t, te.rest("POST", path, "text/plain", []byte(fv.Name)), 202)
			if *fv.Expect {
				c.ExpectJSON(`{"type":"message","from":"server","dataType":"text","data":` + jsonString(fv.Name) + `}`)
			} else {
				c.Barrier()
			}
			expectStatus(t, te.rest("DELETE", "/api/hubs/chat/connections/"+c.id+v, "", nil), 204)
		})
	}
}

// checkProblem checks the shape of a 400 problem+json body (emulator.md
// §3.1.2, odata-filter.md §8.3); message texts are informative only.
func checkProblem(t *testing.T, body []byte, target string) {
	t.Helper()
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body %s: %v", body, err)
	}
	msg, _ := p["message"].(string)
	errs, _ := p["errors"].(map[string]any)
	list, _ := errs[target].([]any)
	if p["code"] != "Error.BadRequest" || p["target"] != target || p["title"] != "One or more validation errors occurred." ||
		p["status"] != float64(400) || !strings.HasSuffix(msg, " (Parameter '"+target+"')") || len(list) != 1 || list[0] != msg {
		t.Fatalf("problem body %s", body)
	}
	for _, k := range []string{"type", "detail", "instance"} {
		if v, ok := p[k]; !ok || v != nil {
			t.Fatalf("problem body %s: %s must be null", body, k)
		}
	}
}

// recorder is a minimal http.ResponseWriter for in-process checks.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = 200
	}
	return r.body.Write(b)
}
func (r *recorder) WriteHeader(s int) { r.status = s }

// TestServiceResponseShapes issues the requests of the recorded service
// error responses (testdata/service-responses.json) against an empty hub
// and compares status, x-ms-error-code and body shape.
func TestServiceResponseShapes(t *testing.T) {
	var file struct {
		Responses []struct {
			Name    string `json:"name"`
			Request struct {
				Method  string            `json:"method"`
				URL     string            `json:"url"`
				Headers map[string]string `json:"headers"`
				Body    *string           `json:"body"`
			} `json:"request"`
			Response struct {
				Status  int               `json:"status"`
				Headers map[string]string `json:"headers"`
				Body    *string           `json:"body"`
			} `json:"response"`
		} `json:"responses"`
	}
	loadJSON(t, "service-responses.json", &file)
	parent := startEmulator(t, Options{})
	checked := 0
	for _, sr := range file.Responses {
		if sr.Response.Status < 400 {
			continue // successes need live connections; the other tests cover them
		}
		t.Run(sr.Name, func(t *testing.T) {
			te := parent.with(t)
			u, err := url.Parse(sr.Request.URL)
			if err != nil {
				t.Fatal(err)
			}
			var body []byte
			if sr.Request.Body != nil {
				body = []byte(*sr.Request.Body)
			}
			ct := ""
			for k, v := range sr.Request.Headers {
				if strings.EqualFold(k, "Content-Type") {
					ct = v
				}
			}
			r := te.rest(sr.Request.Method, u.RequestURI(), ct, body)
			expectStatus(t, r, sr.Response.Status)
			var wantCode string
			for k, v := range sr.Response.Headers {
				if strings.EqualFold(k, "x-ms-error-code") {
					wantCode = v
				}
			}
			if got := r.header.Get("x-ms-error-code"); got != wantCode {
				t.Fatalf("x-ms-error-code %q; want %q", got, wantCode)
			}
			if sr.Request.Method == "HEAD" || sr.Response.Body == nil {
				if len(r.body) != 0 {
					t.Fatalf("HEAD body %q", r.body)
				}
				return
			}
			var got, want map[string]any
			if err := json.Unmarshal(r.body, &got); err != nil {
				t.Fatalf("body %s: %v", r.body, err)
			}
			if err := json.Unmarshal([]byte(*sr.Response.Body), &want); err != nil {
				t.Fatalf("recorded body: %v", err)
			}
			if !sameKeys(got, want) || got["code"] != want["code"] || got["target"] != want["target"] {
				t.Fatalf("body\n got %s\nwant %s", r.body, *sr.Response.Body)
			}
			if sr.Response.Status == 404 && got["message"] != want["message"] {
				t.Fatalf("message %q; want %q", got["message"], want["message"])
			}
		})
		checked++
	}
	if checked < 10 {
		t.Fatalf("only %d error responses checked", checked)
	}
}

func sameKeys(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			return false
		}
	}
	return true
}

// TestJSSDKRequestsAccepted replays the exact requests @azure/web-pubsub
// 1.2.0 sent to the service (testdata/rest-requests.json), byte for byte
// on the wire and signed with the audience JS signed, against an emulator
// whose hub is empty, and checks the status the service gives an empty
// hub. It shows that routing, percent-decoding, the audience check and
// paging without api-version accept what the official SDK sends.
func TestJSSDKRequestsAccepted(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name      string `json:"name"`
			Operation string `json:"operation"`
			Requests  []struct {
				ReceivedBy    string  `json:"receivedBy"`
				Method        string  `json:"method"`
				PathAndQuery  string  `json:"pathAndQuery"`
				ContentType   *string `json:"contentType"`
				Body          *string `json:"body"`
				BodyIsBase64  bool    `json:"bodyIsBase64"`
				Authorization struct {
					Claims map[string]any `json:"claims"`
				} `json:"authorization"`
			} `json:"requests"`
		} `json:"vectors"`
	}
	loadJSON(t, "rest-requests.json", &file)
	te := startEmulator(t, Options{})
	expected := map[string]int{
		"WebPubSub_SendToAll": 202, "WebPubSub_SendToUser": 202, "WebPubSub_SendToConnection": 202, "WebPubSub_SendToGroup": 202,
		"WebPubSub_ConnectionExists": 404, "WebPubSub_UserExists": 404, "WebPubSub_GroupExists": 404, "WebPubSub_CheckPermission": 404,
		"WebPubSub_CloseConnection": 204, "WebPubSub_CloseAllConnections": 204, "WebPubSub_CloseUserConnections": 204,
		"WebPubSub_CloseGroupConnections": 204, "WebPubSub_RemoveConnectionFromGroup": 204, "WebPubSub_RemoveUserFromGroup": 204,
		"WebPubSub_RemoveUserFromAllGroups": 204, "WebPubSub_RemoveConnectionFromAllGroups": 204, "WebPubSub_RevokePermission": 204,
		"WebPubSub_AddConnectionToGroup": 404, "WebPubSub_AddUserToGroup": 404, "WebPubSub_GrantPermission": 404,
		"WebPubSub_AddConnectionsToGroups": 200, "WebPubSub_RemoveConnectionsFromGroups": 200,
		"WebPubSub_ListConnectionsInGroup": 200, "HealthApi_GetServiceStatus": 200, "WebPubSub_GenerateClientToken": 200,
	}
	replayed := 0
	for _, vec := range file.Vectors {
		for i, req := range vec.Requests {
			if req.ReceivedBy != "service" {
				continue // proxy and https captures went to other hosts
			}
			want, ok := expected[vec.Operation]
			if !ok {
				t.Fatalf("%s: no expectation for %s", vec.Name, vec.Operation)
			}
			switch {
			case strings.HasPrefix(req.PathAndQuery, "/prefix/"):
				want = 404 // the emulator serves at the root only
			case strings.Contains(req.PathAndQuery, "continuationToken="):
				u, _ := url.Parse(req.PathAndQuery)
				if _, err := base64.RawURLEncoding.DecodeString(u.Query().Get("continuationToken")); err != nil {
					want = 400 // not a token the emulator could have issued
				}
			}
			var body []byte
			if req.Body != nil {
				body = []byte(*req.Body)
				if req.BodyIsBase64 {
					body, _ = base64.StdEncoding.DecodeString(*req.Body)
				}
			}
			hr, err := http.NewRequest(req.Method, te.URL()+req.PathAndQuery, bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", vec.Name, err)
			}
			hr.Host = "localhost:8080" // as JS addressed the service
			if req.ContentType != nil {
				hr.Header.Set("Content-Type", *req.ContentType)
			}
			if aud, ok := req.Authorization.Claims["aud"].(string); ok {
				hr.Header.Set("Authorization", "Bearer "+sign(t, DefaultAccessKey, jwt.MapClaims{"aud": aud, "iat": time.Now().Unix(), "exp": time.Now().Add(time.Hour).Unix()}))
			}
			resp, err := sharedClient.Do(hr)
			if err != nil {
				t.Fatalf("%s: %v", vec.Name, err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("%s[%d] %s %s = %d; want %d", vec.Name, i, req.Method, req.PathAndQuery, resp.StatusCode, want)
			}
			replayed++
		}
	}
	if replayed < 60 {
		t.Fatalf("replayed %d requests; want at least 60", replayed)
	}
}
