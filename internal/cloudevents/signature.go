package cloudevents

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
)

// signaturePrefix starts every entry of HeaderSignature.
const signaturePrefix = "sha256="

// Sign returns the HeaderSignature entry of connectionID under key:
// "sha256=" followed by the lower-case hex of HMAC-SHA256(key,
// connectionID), both taken as UTF-8 bytes. The result proves knowledge of
// key: treat it as a secret.
func Sign(key, connectionID string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(connectionID))
	return signaturePrefix + hex.EncodeToString(m.Sum(nil))
}

// Signature returns the HeaderSignature value the service sends for
// connectionID: one Sign entry per key, in order (the primary key first),
// joined with "," and no space. Empty keys are skipped.
func Signature(connectionID string, keys ...string) string {
	var b strings.Builder
	for _, k := range keys {
		if k == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		b.WriteString(Sign(k, connectionID))
	}
	return b.String()
}

// ParseSignature returns the digests of the "sha256=<hex>" entries of the
// HeaderSignature values, in order. Entries are separated by ","; spaces
// and tabs around an entry are ignored; the prefix and the hex digits are
// case-insensitive. Entries with another prefix, or whose hex does not
// decode to 32 bytes, are skipped. It never fails: an empty result means
// no usable entry.
func ParseSignature(values []string) [][]byte {
	var sigs [][]byte
	for _, hv := range values {
		for part := range strings.SplitSeq(hv, ",") {
			part = strings.Trim(part, " \t")
			if len(part) < len(signaturePrefix) || !strings.EqualFold(part[:len(signaturePrefix)], signaturePrefix) {
				continue
			}
			b, err := hex.DecodeString(part[len(signaturePrefix):])
			if err != nil || len(b) != sha256.Size {
				continue
			}
			sigs = append(sigs, b)
		}
	}
	return sigs
}

// Verifier checks HeaderSignature values against a fixed set of access
// keys. The zero Verifier has no key. It holds secrets: its String and
// GoString methods show only the number of keys, and it is safe for
// concurrent use once built.
type Verifier struct {
	keys [][]byte
}

// NewVerifier returns a Verifier for keys, used verbatim as HMAC keys.
func NewVerifier(keys ...string) Verifier {
	v := Verifier{keys: make([][]byte, 0, len(keys))}
	for _, k := range keys {
		v.keys = append(v.keys, []byte(k))
	}
	return v
}

// Len returns the number of keys.
func (v Verifier) Len() int { return len(v.keys) }

// Verify reports whether any entry of the header values (see
// ParseSignature) equals HMAC-SHA256(key, connectionID) for any key. Every
// pair of entry and key is compared, each in constant time. With no key or
// no usable entry it reports false.
func (v Verifier) Verify(connectionID string, values []string) bool {
	sigs := ParseSignature(values)
	if len(sigs) == 0 {
		return false
	}
	ok := false
	for _, key := range v.keys {
		m := hmac.New(sha256.New, key)
		m.Write([]byte(connectionID))
		want := m.Sum(nil)
		for _, sig := range sigs {
			// No early exit: every pair is compared.
			if hmac.Equal(sig, want) {
				ok = true
			}
		}
	}
	return ok
}

// String describes v without its keys, e.g. "cloudevents.Verifier{keys: 2}".
func (v Verifier) String() string {
	return "cloudevents.Verifier{keys: " + strconv.Itoa(len(v.keys)) + "}"
}

// GoString is String, for %#v.
func (v Verifier) GoString() string { return v.String() }
