package main

import (
	"strings"
	"testing"
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
		{"syntax", "{\n  \"listen\": \"localhost:1\",\n  oops\n}", `invalid JSON at line 3, column 3: invalid character 'o' looking for beginning of object key string`},
		{"truncated", "{\n  \"hubs\": {", `invalid JSON at line 2, column 12: unexpected end of JSON input`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s settings
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
	} {
		var s settings
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
	for _, want := range []string{"-event-handler", "AWPS_EMULATOR_ACCESSKEY", "AWPS_EMULATOR_MAXHEADERBYTES", `"eventHandlers"`, "appsettings.json", "Examples:"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("-h lacks %q", want)
		}
	}
}
