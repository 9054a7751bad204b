package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// TestClockSkewSetting: the clock-skew allowance is the config file's
// clockSkewSeconds, AWPS_EMULATOR_CLOCKSKEWSECONDS and
// -clock-skew-seconds, each over the previous, and a REST token expired
// beyond it gets a 401 that names it.
func TestClockSkewSetting(t *testing.T) {
	s := newSettings()
	if err := s.applyConfig([]byte(`{"clockSkewSeconds": 90}`)); err != nil || s.options().ClockSkew != 90*time.Second {
		t.Fatalf("clockSkewSeconds: %v, %v", err, s.options().ClockSkew)
	}
	if err := s.applyEnv(func(k string) string { return map[string]string{"AWPS_EMULATOR_CLOCKSKEWSECONDS": "1.5"}[k] }); err != nil ||
		s.options().ClockSkew != 1500*time.Millisecond {
		t.Fatalf("AWPS_EMULATOR_CLOCKSKEWSECONDS: %v, %v", err, s.options().ClockSkew)
	}
	for _, bad := range []string{`{"clockSkewSeconds": 0}`, `{"clockSkewSeconds": -1}`, `{"clockSkewSeconds": "5m"}`} {
		if err := applyBad(bad); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
	s = newSettings()
	if err := s.applyEnv(func(k string) string { return map[string]string{"AWPS_EMULATOR_CLOCKSKEWSECONDS": "0"}[k] }); err == nil ||
		err.Error() != "AWPS_EMULATOR_CLOCKSKEWSECONDS must be a positive number of seconds" {
		t.Errorf("AWPS_EMULATOR_CLOCKSKEWSECONDS=0: %v", err)
	}
	var out, errOut strings.Builder
	if code := run(t.Context(), []string{"-port", "0", "-clock-skew-seconds", "0"}, noEnv, &out, &errOut); code != 2 ||
		!strings.Contains(errOut.String(), "-clock-skew-seconds must be positive") {
		t.Errorf("-clock-skew-seconds 0: exit %d, %s", code, errOut.String())
	}

	// A token expired 30 s ago: refused with the flag's 10 s (which wins
	// over the environment's 60 s), accepted with the environment's alone.
	env := func(k string) string { return map[string]string{"AWPS_EMULATOR_CLOCKSKEWSECONDS": "60"}[k] }
	for _, tc := range []struct {
		args   []string
		status int
		body   string
	}{
		{[]string{"-port", "0", "-clock-skew-seconds", "10"}, 401, "beyond the clock skew of 10s"},
		{[]string{"-port", "0"}, 202, ""},
	} {
		base := startProgram(t, tc.args, env)
		u := base + "/api/hubs/chat/:send?api-version=2024-12-01"
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": u, "exp": time.Now().Add(-30 * time.Second).Unix()}).
			SignedString([]byte(emulator.DefaultAccessKey))
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", u, strings.NewReader("hi"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.body) {
			t.Errorf("%v: %d %q; want %d %q", tc.args, resp.StatusCode, b, tc.status, tc.body)
		}
	}
}

// applyBad applies a configuration file's content to fresh settings.
func applyBad(content string) error {
	s := newSettings()
	return s.applyConfig([]byte(content))
}
