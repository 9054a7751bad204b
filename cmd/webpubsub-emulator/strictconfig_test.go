package main

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
)

// TestStrictConfig: every unknown key, at any depth, is an error that
// names its path and the key probably meant; a syntax error says where.
func TestStrictConfig(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"typo at the top", `{"acessKey": "x"}`, `the file has an unknown key "acessKey" (did you mean "accessKey"?)`},
		{"no near key", `{"colour": 1}`, `the file has an unknown key "colour"`},
		{"hub key", `{"hubs": {"chat": {"eventHandler": []}}}`, `hubs.chat has an unknown key "eventHandler" (did you mean "eventHandlers"?)`},
		{"handler key", `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "sytemEvents": []}]}}}`,
			`hubs.chat.eventHandlers[0] has an unknown key "sytemEvents" (did you mean "systemEvents"?)`},
		{"inside WebPubSub", `{"Logging": {}, "WebPubSub": {"AccesKey": "x"}}`, `WebPubSub has an unknown key "AccesKey" (did you mean "accessKey"?)`},
		{"auth key", `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": {"type": "None", "tpe": "x"}}]}}}`,
			`hubs.chat.eventHandlers[0].auth has an unknown key "tpe" (did you mean "type"?)`},
		{"auth key without type", `{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": {"Typ": "None"}}]}}}`,
			`hubs.chat.eventHandlers[0].auth has an unknown key "Typ" (did you mean "type"?)`},
		{"appsettings auth key", `{"WebPubSub": {"Hubs": {"s": {"EventHandlers": [{"UrlTemplate": "http://h/", "Auth": {"Type": "None", "Resource": "x"}}]}}}}`,
			`hubs.s.eventHandlers[0].auth has an unknown key "Resource"`},
		{"ours beside WebPubSub", `{"Logging": {}, "Hubs": {}, "WebPubSub": {"AccessKey": "` + strings.Repeat("k", 40) + `"}}`,
			`the file has "Hubs" next to its WebPubSub section, where it is not read: move it inside WebPubSub (the other top-level sections of an appsettings.json are ignored)`},
		{"listen beside WebPubSub", `{"listen": "localhost:1", "WebPubSub": {}}`,
			`the file has "listen" next to its WebPubSub section, where it is not read: move it inside WebPubSub (the other top-level sections of an appsettings.json are ignored)`},
		{"syntax", "{\n  \"listen\": \"localhost:1\",\n  oops\n}", `invalid JSON at line 3, column 3: invalid character 'o' looking for beginning of object key string`},
		{"truncated", "{\n  \"hubs\": {", `invalid JSON at line 2, column 12: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSettings()
			err := s.applyConfig([]byte(tt.in))
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v; want %s", err, tt.want)
			}
		})
	}
	// Other sections of an appsettings.json, and Logging in ours, load.
	for _, ok := range []string{
		`{"Logging": {"LogLevel": {}}, "AllowedHosts": "*", "WebPubSub": {"Hubs": {}}}`,
		`{"Logging": {}, "$schema": "x", "listen": "localhost:1"}`,
		`{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": {"Type": "None", "ManagedIdentity": {}}}]}}}`,
		`{"hubs": {"chat": {"eventHandlers": [{"urlTemplate": "http://h/", "auth": "None"}]}}}`,
	} {
		s := newSettings()
		if err := s.applyConfig([]byte(ok)); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	if d := editDistance("acesskey", "accesskey"); d != 1 {
		t.Errorf("editDistance = %d", d)
	}
	if strings.Contains(nearest("hubs", topKeys), "x") {
		t.Error("nearest")
	}
}

// TestHelpShowsEnvironmentAndFormat: -h documents the environment
// variables, the configuration file and two examples.
func TestHelpShowsEnvironmentAndFormat(t *testing.T) {
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"-h"}, func(string) string { return "" }, &out, &errOut); code != 0 {
		t.Fatalf("exit code %d", code)
	}
	for _, want := range []string{"-event-handler", "AWPS_EMULATOR_ACCESSKEY", "AWPS_EMULATOR_MAXHEADERBYTES", "AWPS_EMULATOR_CLOCKSKEWSECONDS", "-clock-skew-seconds", `"clockSkewSeconds"`, `"eventHandlers"`, "appsettings.json", "Examples:"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}

// TestTraceFlag: -trace alone makes the emulator log its traffic; the
// config file and AWPS_EMULATOR_TRACE turn it on too.
func TestTraceFlag(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	outR, outW := io.Pipe()
	stderr := &notifyBuffer{wrote: make(chan struct{}, 1)}
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"-port", "0", "-trace"}, noEnv, outW, stderr)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	var cs string
	for lines.Scan() {
		if v, ok := strings.CutPrefix(lines.Text(), "Connection string: "); ok {
			cs = v
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	client, err := webpubsub.NewServiceClientFromConnectionString(cs, "chat", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.SendToAll(ctx, webpubsub.TextMessage("hello"), nil); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for !strings.Contains(stderr.String(), "kind=rest operation=SendToAll hub=chat") {
		select {
		case <-stderr.wrote:
		case <-deadline:
			t.Fatalf("no trace line:\n%s", stderr.String())
		}
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("exit code %d", code)
	}
	if strings.Contains(stderr.String(), emulator.DefaultAccessKey) {
		t.Error("the trace holds the key")
	}

	s := newSettings()
	if err := s.applyEnv(func(k string) string { return map[string]string{"AWPS_EMULATOR_TRACE": "true"}[k] }); err != nil || !s.options().Trace {
		t.Errorf("AWPS_EMULATOR_TRACE: %v, %v", err, s.options().Trace)
	}
	f := newSettings()
	if err := f.applyConfig([]byte(`{"trace": true}`)); err != nil || !f.options().Trace {
		t.Errorf("config trace: %v, %v", err, f.options().Trace)
	}
}

// TestDashboardSetting: the dashboard is on unless -dashboard=false,
// AWPS_EMULATOR_DASHBOARD=false or "dashboard": false turns it off; the
// flag wins over the environment, which wins over the file. Without it
// the banner has no Dashboard line and /dashboard/ is not found.
func TestDashboardSetting(t *testing.T) {
	dir := t.TempDir()
	off := filepath.Join(dir, "off.json")
	if err := os.WriteFile(off, []byte(`{"dashboard": false}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want bool
	}{
		{"default", nil, nil, true},
		{"flag off", []string{"-dashboard=false"}, nil, false},
		{"env off", nil, map[string]string{"AWPS_EMULATOR_DASHBOARD": "false"}, false},
		{"config off", []string{"-config", off}, nil, false},
		{"env over config", []string{"-config", off}, map[string]string{"AWPS_EMULATOR_DASHBOARD": "true"}, true},
		{"flag over env", []string{"-dashboard"}, map[string]string{"AWPS_EMULATOR_DASHBOARD": "false"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			outR, outW := io.Pipe()
			var stderr syncBuffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, append([]string{"-port", "0"}, tc.args...), func(k string) string { return tc.env[k] }, outW, &stderr)
				outW.Close()
			}()
			lines := bufio.NewScanner(outR)
			var banner []string
			for len(banner) < 3 && lines.Scan() {
				banner = append(banner, lines.Text())
			}
			if len(banner) < 3 {
				t.Fatalf("banner %q; stderr %s", banner, stderr.String())
			}
			base := strings.TrimPrefix(banner[0], "Azure Web PubSub emulator listening on ")
			dashboardLine := ""
			if tc.want && lines.Scan() {
				dashboardLine = lines.Text()
			}
			go func() { _, _ = io.Copy(io.Discard, outR) }()
			if tc.want && dashboardLine != "Dashboard: "+base+"/dashboard/" {
				t.Errorf("dashboard line %q", dashboardLine)
			}
			resp, err := http.Get(base + "/dashboard/")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if wantStatus := map[bool]int{true: 200, false: 404}[tc.want]; resp.StatusCode != wantStatus {
				t.Errorf("GET /dashboard/: %d, want %d", resp.StatusCode, wantStatus)
			}
			cancel()
			if code := <-done; code != 0 {
				t.Fatalf("exit code %d; stderr %s", code, stderr.String())
			}
		})
	}
}
