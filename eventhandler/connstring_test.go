package eventhandler

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// TestConnectionStringConformance runs the project's 88 connection-string
// cases (copied from conformance/connection-strings.json).
func TestConnectionStringConformance(t *testing.T) {
	var data struct {
		Cases []struct {
			Name   string `json:"name"`
			Input  string `json:"input"`
			Expect *struct {
				Endpoint  string `json:"endpoint"`
				AccessKey string `json:"accessKey"`
			} `json:"expect"`
			ExpectError *struct {
				Kind string `json:"kind"`
			} `json:"expectError"`
			ErrorMustNotContain []string `json:"errorMustNotContain"`
		} `json:"cases"`
	}
	loadJSON(t, "connection-strings.json", &data)
	if len(data.Cases) < 80 {
		t.Fatalf("only %d cases", len(data.Cases))
	}
	for _, c := range data.Cases {
		t.Run(c.Name, func(t *testing.T) {
			cs, err := parseConnectionString(c.Input)
			if c.Expect != nil {
				if err != nil {
					t.Fatalf("error %v", err)
				}
				if cs.endpoint != c.Expect.Endpoint || cs.accessKey != c.Expect.AccessKey {
					t.Fatalf("endpoint %q, key match %v; want %q", cs.endpoint, cs.accessKey == c.Expect.AccessKey, c.Expect.Endpoint)
				}
				return
			}
			var ce *ConnectionStringError
			if !errors.As(err, &ce) || string(ce.Kind) != c.ExpectError.Kind {
				t.Fatalf("error %v, want kind %s", err, c.ExpectError.Kind)
			}
			if !errors.Is(err, ErrInvalidConnectionString) || !errors.Is(err, ErrInvalidArgument) {
				t.Fatal("the error does not wrap ErrInvalidConnectionString and ErrInvalidArgument")
			}
			for _, s := range c.ErrorMustNotContain {
				if strings.Contains(err.Error(), s) {
					t.Fatalf("the error %q contains %q", err, s)
				}
			}
		})
	}
}

// TestSecretsNeverPrinted checks that a handler holding keys prints none of
// them, with any verb.
func TestSecretsNeverPrinted(t *testing.T) {
	h, _ := mustNew(t, &Options{
		AccessKeys:       []string{secondaryKey},
		ConnectionString: "Endpoint=https://x.webpubsub.azure.com;AccessKey=" + primaryKey,
	})
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x"} {
		out := fmt.Sprintf(verb, h)
		for _, secret := range []string{primaryKey, secondaryKey, fmt.Sprintf("%x", primaryKey), fmt.Sprint([]byte(primaryKey))} {
			if strings.Contains(out, secret) {
				t.Fatalf("%s prints a key: %s", verb, out)
			}
		}
	}
	if got := h.String(); got != "eventhandler.Handler{hub: chat, access keys: 2, path: /api/webpubsub/hubs/chat/}" {
		t.Fatalf("String() = %q", got)
	}
}
