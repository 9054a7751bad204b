package cloudevents

import (
	"bytes"
	"crypto/hmac"
	"slices"
	"strings"
	"testing"
)

// FuzzParseSignature feeds arbitrary ce-signature values. Parsing never
// panics and yields only 32-byte digests, no more than there are entries;
// Verify accepts exactly when one of them is the HMAC of the connection
// under the key; and a signature made with Signature always verifies.
func FuzzParseSignature(f *testing.F) {
	f.Add(exampleSig, "", exampleConn, primaryKey)
	f.Add(exampleSig+","+secondarySig, "sha256=deadbeef", exampleConn, secondaryKey)
	f.Add(" SHA256="+strings.ToUpper(exampleSig[7:])+"\t", "", exampleConn, primaryKey)
	f.Add("sha256=,,sha1=00", ",", "", "k")
	f.Fuzz(func(t *testing.T, v1, v2, conn, key string) {
		values := []string{v1, v2}
		sigs := ParseSignature(values)
		if max := strings.Count(v1, ",") + strings.Count(v2, ",") + 2; len(sigs) > max {
			t.Fatalf("%d digests from %d entries", len(sigs), max)
		}
		want := false
		mine := Sign(key, conn)
		for _, d := range sigs {
			if len(d) != 32 {
				t.Fatalf("digest of %d bytes", len(d))
			}
			if hmac.Equal(d, ParseSignature([]string{mine})[0]) {
				want = true
			}
		}
		v := NewVerifier(key)
		if got := v.Verify(conn, values); got != want {
			t.Fatalf("Verify = %v, want %v", got, want)
		}
		if !v.Verify(conn, []string{v1 + "," + mine}) {
			t.Fatal("an appended valid signature was rejected")
		}
		if NewVerifier().Verify(conn, values) {
			t.Fatal("a Verifier without keys accepted")
		}
	})
}

// FuzzDecodeState feeds arbitrary ce-connectionState values. Decoding
// never panics and never returns nil; a failure leaves an empty state and
// does not quote the input; a success re-encodes to a header that decodes
// to the same values in the same order, and re-encoding is a fixed point.
func FuzzDecodeState(f *testing.F) {
	f.Add("")
	f.Add("e30=")
	f.Add("eyJjb3VudGVyIjoxLCJuYW1lIjoidmljIn0=")
	f.Add(b64(`{"a":1,"b":{"c":[1,2,"<&>"]},"a":null}`))
	f.Add(b64(`{"a":1}{}`))
	f.Add("!!")
	f.Fuzz(func(t *testing.T, header string) {
		s, err := DecodeState(header)
		if s == nil {
			t.Fatal("nil state")
		}
		if s.Modified() {
			t.Fatal("a decoded state is modified")
		}
		if err != nil {
			if s.Len() != 0 || len(s.Values()) != 0 {
				t.Fatalf("a failed decode kept %d values", s.Len())
			}
			if len(header) > 8 && strings.Contains(err.Error(), header) {
				t.Fatalf("the error quotes the input: %v", err)
			}
			return
		}
		if len(s.Names()) != len(s.Values()) {
			t.Fatalf("%d names, %d values", len(s.Names()), len(s.Values()))
		}
		enc := s.Encode()
		back, err := DecodeState(enc)
		if err != nil {
			t.Fatalf("re-decode of %q: %v", enc, err)
		}
		if !slices.Equal(back.Names(), s.Names()) {
			t.Fatalf("names %v, then %v", s.Names(), back.Names())
		}
		for _, name := range s.Names() {
			a, _ := s.Get(name)
			b, _ := back.Get(name)
			if !bytes.Equal(a, b) {
				t.Fatalf("%q: %s, then %s", name, a, b)
			}
		}
		if again := back.Encode(); again != enc {
			t.Fatalf("encoding is not a fixed point: %q, then %q", enc, again)
		}
	})
}
