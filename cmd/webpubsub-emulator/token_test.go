package main

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/gowebpubsub/webpubsub/emulator"
)

// testToken signs a client token for aud with the well-known key.
func testToken(t *testing.T, aud string) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"aud": aud, "exp": time.Now().Add(time.Hour).Unix()}).
		SignedString([]byte(emulator.DefaultAccessKey))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}
