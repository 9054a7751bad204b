package cloudevents

import (
	"fmt"
	"strings"
	"testing"
)

// Test vectors of the upstream protocol's signature scheme.
const (
	primaryKey   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH"
	secondaryKey = "ZYXWVUTSRQPONMLKJIHGFEDCBA9876543210zyxwvu"
	exampleConn  = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	exampleSig   = "sha256=31f8e6b3dc22eb05c140cfc25b924fe875f1f204a284234dc93f5c6cf81b4175"
	secondarySig = "sha256=c0efcf1aa2c218015ed6294b68cce849e78eee4f7bf881239692eb2455e1eb89"
	conn1Primary = "sha256=8de7281e588e23b0a30a7180ffa240257b8176e983004c240c9f3f7a7233c993"
)

func TestSignVectors(t *testing.T) {
	vectors := []struct{ key, conn, want string }{
		{primaryKey, "conn1", conn1Primary},
		{secondaryKey, "conn1", "sha256=720e0564cb650cb1e1f467bc1403038b30f82bc87cff78db2407f3afbc587c49"},
		{primaryKey, exampleConn, exampleSig},
		{secondaryKey, exampleConn, secondarySig},
	}
	v := NewVerifier(primaryKey, secondaryKey)
	for _, tt := range vectors {
		if got := Sign(tt.key, tt.conn); got != tt.want {
			t.Errorf("Sign(%s) = %s, want %s", tt.conn, got, tt.want)
		}
		if !v.Verify(tt.conn, []string{tt.want}) {
			t.Errorf("signature of %s rejected", tt.conn)
		}
		if v.Verify(tt.conn+"x", []string{tt.want}) {
			t.Errorf("signature of %s accepted for another connection", tt.conn)
		}
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		keys []string
		want string
	}{
		{[]string{primaryKey}, exampleSig},
		{[]string{primaryKey, secondaryKey}, exampleSig + "," + secondarySig},
		{[]string{primaryKey, ""}, exampleSig},
		{[]string{"", secondaryKey}, secondarySig},
		{nil, ""},
	}
	for _, tt := range tests {
		if got := Signature(exampleConn, tt.keys...); got != tt.want {
			t.Errorf("Signature(%d keys) = %q, want %q", len(tt.keys), got, tt.want)
		}
	}
}

func TestParseSignature(t *testing.T) {
	hex := exampleSig[len("sha256="):]
	tests := []struct {
		name   string
		values []string
		want   int // usable entries
	}{
		{"one entry", []string{exampleSig}, 1},
		{"two entries", []string{exampleSig + "," + secondarySig}, 2},
		{"spaces and tabs around entries", []string{" \t" + exampleSig + " , \t" + secondarySig + "\t"}, 2},
		{"upper-case prefix and hex", []string{"SHA256=" + strings.ToUpper(hex)}, 1},
		{"several header lines", []string{exampleSig, secondarySig}, 2},
		{"empty", []string{""}, 0},
		{"no values", nil, 0},
		{"other algorithm", []string{"sha1=" + hex}, 0},
		{"bare hex", []string{hex}, 0},
		{"not hex", []string{"sha256=zz" + hex[2:]}, 0},
		{"short", []string{exampleSig[:len(exampleSig)-2]}, 0},
		{"long", []string{exampleSig + "00"}, 0},
		{"odd length", []string{exampleSig + "0"}, 0},
		{"space inside", []string{"sha256= " + hex}, 0},
		{"bad entry beside a good one", []string{"sha256=deadbeef, " + exampleSig}, 1},
		{"only commas", []string{",,,"}, 0},
		{"prefix only", []string{"sha256="}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ParseSignature(tt.values)
			if len(got) != tt.want {
				t.Fatalf("%d entries, want %d", len(got), tt.want)
			}
			for _, d := range got {
				if len(d) != 32 {
					t.Fatalf("digest of %d bytes", len(d))
				}
			}
		})
	}
}

func TestVerify(t *testing.T) {
	tests := []struct {
		name   string
		keys   []string
		values []string
		want   bool
	}{
		{"primary", []string{primaryKey, secondaryKey}, []string{exampleSig}, true},
		{"secondary", []string{primaryKey, secondaryKey}, []string{secondarySig}, true},
		{"as the service sends both", []string{secondaryKey}, []string{Signature(exampleConn, primaryKey, secondaryKey)}, true},
		{"second entry matches", []string{primaryKey}, []string{"sha256=deadbeef, " + exampleSig}, true},
		{"second header line matches", []string{primaryKey}, []string{secondarySig, exampleSig}, true},
		{"another connection's signature", []string{primaryKey}, []string{conn1Primary}, false},
		{"another key", []string{secondaryKey}, []string{exampleSig}, false},
		{"no entry", []string{primaryKey}, nil, false},
		{"unusable entries", []string{primaryKey}, []string{"sha1=" + exampleSig[7:], exampleSig[7:]}, false},
		{"no key", nil, []string{exampleSig}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NewVerifier(tt.keys...).Verify(exampleConn, tt.values); got != tt.want {
				t.Fatalf("Verify = %v, want %v", got, tt.want)
			}
		})
	}
	var zero Verifier
	if zero.Len() != 0 || zero.Verify(exampleConn, []string{exampleSig}) {
		t.Fatal("the zero Verifier accepts a signature")
	}
}

// TestVerifierHidesKeys: no formatting verb shows a key.
func TestVerifierHidesKeys(t *testing.T) {
	v := NewVerifier(primaryKey, secondaryKey)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X"} {
		for _, arg := range []any{v, &v, struct{ V Verifier }{v}} {
			out := fmt.Sprintf(verb, arg)
			for _, key := range []string{primaryKey, secondaryKey} {
				for _, form := range []string{key, fmt.Sprintf("%x", key), fmt.Sprint([]byte(key))} {
					if strings.Contains(out, form) {
						t.Fatalf("%s of %T shows a key: %s", verb, arg, out)
					}
				}
			}
		}
	}
	if got := v.String(); got != "cloudevents.Verifier{keys: 2}" {
		t.Fatalf("String() = %q", got)
	}
}
