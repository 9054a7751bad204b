package webpubsub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

type connStringCase struct {
	Name   string `json:"name"`
	Input  string `json:"input"`
	Expect *struct {
		Endpoint       string  `json:"endpoint"`
		Port           *int    `json:"port"`
		ClientEndpoint *string `json:"clientEndpoint"`
		AccessKey      string  `json:"accessKey"`
		Derived        struct {
			RestURLSendToAll    string `json:"restUrlSendToAll"`
			ClientAccessBaseURL string `json:"clientAccessBaseUrl"`
			ClientTokenAudience string `json:"clientTokenAudience"`
		} `json:"derived"`
	} `json:"expect"`
	ExpectError *struct {
		Kind string `json:"kind"`
	} `json:"expectError"`
	MustNotContain []string `json:"errorMustNotContain"`
}

func loadConnStringCases(t testing.TB) []connStringCase {
	b, err := os.ReadFile("testdata/connection-strings.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Cases []connStringCase `json:"cases"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f.Cases
}

func TestParseConnectionStringConformance(t *testing.T) {
	cases := loadConnStringCases(t)
	if len(cases) != 88 {
		t.Fatalf("%d cases, want 88", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			cs, err := ParseConnectionString(tc.Input)
			if tc.ExpectError != nil {
				var ce *ConnectionStringError
				if !errors.As(err, &ce) {
					t.Fatalf("want *ConnectionStringError %s, got %v", tc.ExpectError.Kind, err)
				}
				if string(ce.Kind) != tc.ExpectError.Kind {
					t.Errorf("kind %s, want %s", ce.Kind, tc.ExpectError.Kind)
				}
				if !errors.Is(err, ErrInvalidConnectionString) {
					t.Error("error does not wrap ErrInvalidConnectionString")
				}
				for _, s := range append(tc.MustNotContain, secretsOf(tc.Input)...) {
					if s != "" && strings.Contains(err.Error(), s) {
						t.Errorf("error %q contains %q", err, s)
					}
				}
				// The constructor reports the same error.
				if _, err2 := NewServiceClientFromConnectionString(tc.Input, "hub", nil); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("constructor error %v, want %v", err2, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			e := tc.Expect
			if cs.Endpoint != e.Endpoint {
				t.Errorf("Endpoint %q, want %q", cs.Endpoint, e.Endpoint)
			}
			wantPort := 0
			if e.Port != nil {
				wantPort = *e.Port
			}
			if cs.Port != wantPort {
				t.Errorf("Port %d, want %d", cs.Port, wantPort)
			}
			wantCE := ""
			if e.ClientEndpoint != nil {
				wantCE = *e.ClientEndpoint
			}
			if cs.ClientEndpoint != wantCE {
				t.Errorf("ClientEndpoint %q, want %q", cs.ClientEndpoint, wantCE)
			}
			if cs.AccessKey != e.AccessKey {
				t.Error("AccessKey differs")
			}
			for _, s := range []string{cs.String(), fmt.Sprintf("%v|%+v|%#v|%s|%q", cs, cs, cs, cs, cs)} {
				if strings.Contains(s, cs.AccessKey) {
					t.Errorf("formatting reveals the key: %s", s)
				}
			}
			// Derived URLs.
			c, err := NewServiceClientFromConnectionString(tc.Input, "hub", &ClientOptions{clock: fixedClock})
			if err != nil {
				t.Fatal(err)
			}
			if got := c.url(nil, ":send"); got != e.Derived.RestURLSendToAll {
				t.Errorf("REST URL %s, want %s", got, e.Derived.RestURLSendToAll)
			}
			tok, err := c.GetClientAccessToken(context.Background(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if tok.BaseURL != e.Derived.ClientAccessBaseURL {
				t.Errorf("BaseURL %s, want %s", tok.BaseURL, e.Derived.ClientAccessBaseURL)
			}
			claims := verifyTestJWT(t, "Bearer "+tok.Token, e.AccessKey)
			if claims["aud"] != e.Derived.ClientTokenAudience {
				t.Errorf("aud %v, want %s", claims["aud"], e.Derived.ClientTokenAudience)
			}
			if strings.Contains(c.String(), e.AccessKey) || strings.Contains(fmt.Sprintf("%v %+v %#v", c, c, c), e.AccessKey) {
				t.Error("client formatting reveals the key")
			}
		})
	}
}

// secretsOf returns the values of an input's segments that could be secret.
func secretsOf(in string) []string {
	var out []string
	for _, seg := range strings.Split(in, ";") {
		seg = strings.TrimSpace(seg)
		if _, v, ok := strings.Cut(seg, "="); ok {
			if v = strings.TrimSpace(v); len(v) >= 6 {
				out = append(out, v)
			}
		} else if len(seg) >= 6 && !isKeyName(seg) {
			out = append(out, seg)
		}
	}
	if len(strings.TrimSpace(in)) >= 6 {
		out = append(out, in)
	}
	return out
}

func TestConnectionStringErrorNeverContainsKey(t *testing.T) {
	const key = "SuperSecretKeyValue0123456789="
	inputs := []string{
		"Endpoint=https://h;" + key,
		key,
		"Endpoint=https://h;AccessKey=" + key + ";AccessKey=" + key,
		"Endpoint=ftp://h;AccessKey=" + key,
		"Endpoint=https://h;AccessKey=" + key + ";Port=x" + key,
		"Endpoint=https://h;AccessKey=" + key + ";Version=" + key,
		"Endpoint=https://h;AccessKey=" + key + ";ClientEndpoint=" + key,
		"Endpoint=" + key + ";AccessKey=" + key,
	}
	for _, in := range inputs {
		_, err := ParseConnectionString(in)
		if err == nil {
			t.Fatalf("%d: no error", len(in))
		}
		if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "SuperSecret") {
			t.Errorf("error reveals the key: %v", err)
		}
		if _, err := NewServiceClientFromConnectionString(in, "hub", nil); err == nil || strings.Contains(err.Error(), "SuperSecret") {
			t.Errorf("constructor error reveals the key or is nil: %v", err)
		}
	}
}

func FuzzParseConnectionString(f *testing.F) {
	for _, c := range loadConnStringCases(f) {
		f.Add(c.Input)
	}
	f.Fuzz(func(t *testing.T, in string) {
		cs, err := ParseConnectionString(in)
		if err != nil {
			var ce *ConnectionStringError
			if !errors.As(err, &ce) || ce.Kind == "" {
				t.Fatalf("error of type %T: %v", err, err)
			}
			// The message is a function of Kind, Segment and a fixed key name
			// only, so no part of the input can be echoed.
			if ce.Key != "" && !isKeyName(ce.Key) {
				t.Fatalf("error carries input text as its key: %q", ce.Key)
			}
			if err.Error() != (&ConnectionStringError{Kind: ce.Kind, Segment: ce.Segment, Key: ce.Key}).Error() {
				t.Fatalf("message depends on more than kind, position and key")
			}
			return
		}
		if cs.AccessKey == "" || cs.Endpoint == "" {
			t.Fatalf("accepted without endpoint or key")
		}
		// A parsed string parses again to the same endpoint when rebuilt.
		rebuilt := "Endpoint=" + cs.Endpoint + ";AccessKey=" + cs.AccessKey
		if cs.ClientEndpoint != "" {
			rebuilt += ";ClientEndpoint=" + cs.ClientEndpoint
		}
		cs2, err := ParseConnectionString(rebuilt)
		if err != nil {
			t.Fatalf("normalized form does not parse: %v", err)
		}
		if cs2.Endpoint != cs.Endpoint || cs2.ClientEndpoint != cs.ClientEndpoint || cs2.AccessKey != cs.AccessKey {
			t.Fatalf("round trip changed the values: %q -> %q", cs.Endpoint, cs2.Endpoint)
		}
		// What formatting prints does not depend on the key at all.
		other := cs
		other.AccessKey = "another key"
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
			if fmt.Sprintf(verb, cs) != fmt.Sprintf(verb, other) {
				t.Fatalf("%s formatting depends on the key", verb)
			}
		}
		if cs.String() != other.String() || cs.GoString() != other.GoString() {
			t.Fatalf("String or GoString depends on the key")
		}
		if _, err := NewServiceClientFromConnectionString(in, "hub", nil); err != nil {
			t.Fatalf("parsed but the constructor failed: %v", err)
		}
	})
}

func isKeyName(s string) bool {
	switch strings.ToLower(s) {
	case "endpoint", "accesskey", "port", "version", "clientendpoint":
		return true
	}
	return false
}
