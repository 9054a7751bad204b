package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/internal/testclient"
)

// upstreamCall is one request that reached the test's event handler.
type upstreamCall struct {
	method, path, ceType string
}

// startProgram runs the program's main logic with args until the test
// ends and returns its base URL.
func startProgram(t *testing.T, args []string, getenv func(string) string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, getenv, outW, &stderr)
		outW.Close()
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("run did not return")
		}
	})
	lines := bufio.NewScanner(outR)
	if !lines.Scan() {
		t.Fatalf("nothing printed; stderr %s", stderr.String())
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	url, ok := strings.CutPrefix(lines.Text(), "Azure Web PubSub emulator listening on ")
	if !ok {
		t.Fatalf("first line %q", lines.Text())
	}
	return url
}

// TestEventHandlerFlag runs the program with
// -event-handler 'chat=http://127.0.0.1:PORT/eventhandler/{event}' and
// sees that URL called: the abuse-protection check, connect, connected, a
// user event answered back to the client, and disconnected.
func TestEventHandlerFlag(t *testing.T) {
	calls := make(chan upstreamCall, 32)
	handler := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls <- upstreamCall{r.Method, r.URL.Path, r.Header.Get("ce-type")}
		switch {
		case r.Method == http.MethodOptions:
			w.Header().Set("WebHook-Allowed-Origin", "*")
		case r.Header.Get("ce-type") == "azure.webpubsub.user.echo":
			body, _ := io.ReadAll(r.Body)
			w.Header().Set("Content-Type", "text/plain")
			_, _ = w.Write(append([]byte("echo: "), body...))
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer handler.Close()
	tmpl := "chat=" + handler.URL + "/eventhandler/{event}"
	base := startProgram(t, []string{"-port", "0", "-event-handler", tmpl}, noEnv)
	port := strings.TrimPrefix(base, "http://localhost:")

	ws := testclient.Dial(t, "ws://localhost:"+port+"/client/hubs/chat?access_token="+testToken(t, base+"/client/hubs/chat"),
		&testclient.Options{Subprotocols: []string{testclient.JSON}})
	ws.SendText(`{"type":"event","event":"echo","ackId":1,"dataType":"text","data":"hi"}`)
	for _, want := range []string{
		`{"type":"message","from":"server","dataType":"text","data":"echo: hi"}`,
		`{"type":"ack","ackId":1,"success":true}`,
	} {
		if _, b := ws.Read(); string(b) != want {
			t.Fatalf("got %s; want %s", b, want)
		}
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	want := map[upstreamCall]bool{
		{http.MethodOptions, "/eventhandler/validate", ""}:                                  true,
		{http.MethodPost, "/eventhandler/connect", "azure.webpubsub.sys.connect"}:           true,
		{http.MethodPost, "/eventhandler/connected", "azure.webpubsub.sys.connected"}:       true,
		{http.MethodPost, "/eventhandler/echo", "azure.webpubsub.user.echo"}:                true,
		{http.MethodPost, "/eventhandler/disconnected", "azure.webpubsub.sys.disconnected"}: true,
	}
	var first upstreamCall
	for i := 0; len(want) > 0; i++ {
		select {
		case c := <-calls:
			if i == 0 {
				first = c
			}
			delete(want, c)
		case <-ctx.Done():
			t.Fatalf("not called: %v", want)
		}
	}
	if first.method != http.MethodOptions {
		t.Fatalf("first call %v; want the abuse-protection check", first)
	}
}

// TestConfigFileAndPrecedence: the file, then the environment, then flags.
func TestConfigFileAndPrecedence(t *testing.T) {
	dir := t.TempDir()
	fileKey := strings.Repeat("f", 40)
	envKey := strings.Repeat("e", 40)
	flagKey := strings.Repeat("g", 40)
	path := filepath.Join(dir, "cfg.json")
	writeFile(t, path, `{"Listen":"127.0.0.1:9100","ACCESSKEY":"`+fileKey+`","hubs":{"chat":{"eventHandlers":[{"urlTemplate":"http://h/{event}"}]}}}`)
	printCS := func(args []string, env map[string]string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		getenv := func(k string) string { return env[k] }
		if code := run(context.Background(), append([]string{"-print-connection-string", "-config", path}, args...), getenv, &out, &errOut); code != 0 {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
		return out.String()
	}
	if got := printCS(nil, nil); got != "Endpoint=http://127.0.0.1;Port=9100;AccessKey="+fileKey+";Version=1.0;\n" {
		t.Errorf("file only: %q", got)
	}
	env := map[string]string{"AWPS_EMULATOR_ACCESSKEY": envKey, "AWPS_EMULATOR_PORT": "9200"}
	if got := printCS(nil, env); got != "Endpoint=http://127.0.0.1;Port=9200;AccessKey="+envKey+";Version=1.0;\n" {
		t.Errorf("file and env: %q", got)
	}
	if got := printCS([]string{"-key", flagKey, "-host", "localhost"}, env); got != "Endpoint=http://localhost;Port=9200;AccessKey="+flagKey+";Version=1.0;\n" {
		t.Errorf("file, env and flags: %q", got)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestApplyConfig checks the parsed settings of both accepted file shapes
// and the rejected ones.
func TestApplyConfig(t *testing.T) {
	s := newSettings()
	err := s.applyConfig([]byte(`{
		"listen": "0.0.0.0:8081", "publicEndpoint": "http://emu:8081", "relaxedAudience": true,
		"allowUnvalidatedEntraTokens": true, "reliableRetentionSeconds": 5, "eventHandlerTimeoutSeconds": 2.5,
		"maxRestBodyBytes": 1024, "Logging": {"ignored": true},
		"maxHeaderBytes": 8192, "readHeaderTimeoutSeconds": 3, "httpIdleTimeoutSeconds": 7, "clockSkewSeconds": 42,
		"hubs": {
			"Chat": {"anonymousConnectPolicy": "Allow", "eventHandlers": [
				{"urlTemplate": "http://a/{hub}/{event}", "userEventPattern": "x,y", "systemEvents": ["connect"], "validate": false, "auth": {"type": "None"}},
				{"urlTemplate": "http://b/", "eventPattern": "*", "groupPresenceEvents": {"eventNames": ["joined"], "groupFilters": ["room*"]}}
			]},
			"_default": {"eventHandlers": []}
		}}`))
	if err != nil {
		t.Fatal(err)
	}
	o := s.options()
	if o.Host != "0.0.0.0" || o.Port != 8081 || o.PublicEndpoint != "http://emu:8081" || !o.RelaxedAudience || !o.AllowUnvalidatedEntraTokens ||
		o.ReliableRetention != 5*time.Second || o.EventHandlerTimeout != 2500*time.Millisecond || o.MaxRESTBodyBytes != 1024 ||
		o.MaxHeaderBytes != 8192 || o.ReadHeaderTimeout != 3*time.Second || o.HTTPIdleTimeout != 7*time.Second || o.ClockSkew != 42*time.Second {
		t.Errorf("options %+v", o)
	}
	chat := o.Hubs["chat"]
	if !chat.AllowAnonymous || len(chat.EventHandlers) != 2 || o.Hubs["*"].EventHandlers != nil {
		t.Fatalf("hubs %+v", o.Hubs)
	}
	if h := chat.EventHandlers[0]; h.URLTemplate != "http://a/{hub}/{event}" || h.UserEventPattern != "x,y" || len(h.SystemEvents) != 1 || !h.SkipValidation {
		t.Errorf("handler 0 %+v", h)
	}
	if h := chat.EventHandlers[1]; h.UserEventPattern != "*" || h.SkipValidation || h.GroupPresenceEvents == nil ||
		h.GroupPresenceEvents.EventNames[0] != "joined" || h.GroupPresenceEvents.GroupFilters[0] != "room*" {
		t.Errorf("handler 1 %+v", h)
	}
	if _, err := emulator.New(o); err != nil {
		t.Errorf("New: %v", err)
	}

	// The official emulator's appsettings.json.
	a := newSettings()
	key := strings.Repeat("k", 40)
	if err := a.applyConfig([]byte(`{"Logging":{},"WebPubSub":{"AccessKey":"` + key + `","Hubs":{"sample":{"EventHandlers":[{"UrlTemplate":"http://localhost:7071/runtime/webhooks/webpubsub","EventPattern":"*","SystemEvents":["connected","disconnected"]}]}}}}`)); err != nil {
		t.Fatal(err)
	}
	if o := a.options(); o.AccessKey != key || o.Hubs["sample"].EventHandlers[0].UserEventPattern != "*" {
		t.Errorf("appsettings: %+v", o)
	}

	for _, bad := range []string{
		`[]`,
		`{"listen": "nope"}`,
		`{"listen": "h:70000"}`,
		`{"accessKey": 5}`,
		`{"reliableRetentionSeconds": 0}`,
		`{"maxRestBodyBytes": -1}`,
		`{"maxHeaderBytes": 0}`,
		`{"httpIdleTimeoutSeconds": -1}`,
		`{"hubs": {"9bad": {}}}`,
		`{"hubs": {"chat": {"anonymousConnectPolicy": "maybe"}}}`,
		`{"hubs": {"chat": {"eventHandler": []}}}`,
		`{"hubs": {"chat": {"eventHandlers": [{"userEventPattern": "*"}]}}}`,
		`{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": {"type": "ManagedIdentity"}}]}}}`,
		`{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "sytemEvents": []}]}}}`,
		`{"hubs": {"chat": {}, "CHAT": {}}}`,
		`{"accessKey": "a", "AccessKey": "b"}`,
	} {
		s := newSettings()
		if err := s.applyConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

// TestInvalidConfigurationFailsStartUp: a bad file, a bad handler or a
// bad environment variable ends the program with exit code 1 and a
// message that holds no secret.
func TestInvalidConfigurationFailsStartUp(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.json")
	writeFile(t, path, `{"hubs":{"chat":{"eventHandlers":[{"urlTemplate":"http://h/?code=s3cret","systemEvents":["bogus"]}]}}}`)
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
	}{
		{[]string{"-config", path}, nil, 1},
		{[]string{"-config", filepath.Join(dir, "missing.json")}, nil, 1},
		{[]string{"-event-handler", "chat=ftp://h/?code=s3cret"}, nil, 1},
		{[]string{"-event-handler", "no-equals-sign"}, nil, 2},
		{[]string{"-event-handler", "9hub=http://h/"}, nil, 2},
		{nil, map[string]string{"AWPS_EMULATOR_PORT": "x"}, 1},
		{nil, map[string]string{"AWPS_EMULATOR_CONFIG": path}, 1},
		{nil, map[string]string{"AWPS_EMULATOR_LOGLEVEL": "loud"}, 2},
	} {
		var out, errOut bytes.Buffer
		getenv := func(k string) string { return tc.env[k] }
		if code := run(context.Background(), append(tc.args, "-port", "0"), getenv, &out, &errOut); code != tc.code {
			t.Errorf("%v %v: exit %d; want %d (%s)", tc.args, tc.env, code, tc.code, errOut.String())
		}
		if strings.Contains(errOut.String(), "s3cret") {
			t.Errorf("%v: message shows the secret: %s", tc.args, errOut.String())
		}
	}
}

// TestDefaultConfigFile: ./emulator.json is read when no -config is given.
func TestDefaultConfigFile(t *testing.T) {
	dir := t.TempDir()
	key := strings.Repeat("d", 40)
	writeFile(t, filepath.Join(dir, "emulator.json"), `{"accessKey":"`+key+`"}`)
	t.Chdir(dir)
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-print-connection-string"}, noEnv, &out, &errOut); code != 0 || !strings.Contains(out.String(), key) {
		t.Fatalf("exit %d, printed %q (%s)", code, out.String(), errOut.String())
	}
}

// TestAllowEntraFlag: the flag makes REST accept an unvalidated Entra
// token.
func TestAllowEntraFlag(t *testing.T) {
	base := startProgram(t, []string{"-port", "0", "-allow-unvalidated-entra-tokens"}, noEnv)
	// An unsigned token for Web PubSub that expires in 2100.
	tok := "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwczovL3dlYnB1YnN1Yi5henVyZS5jb20iLCJleHAiOjQxMDI0NDQ4MDB9.c2ln"
	req, _ := http.NewRequest("HEAD", base+"/api/hubs/chat/users/u?api-version=2024-12-01", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("status %d; want 404 (authenticated, no such user)", resp.StatusCode)
	}
}
