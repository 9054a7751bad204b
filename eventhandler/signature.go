package eventhandler

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// signer validates ce-signature headers against a fixed set of access keys.
// It holds the keys; it has no String method and is never printed.
type signer struct {
	keys [][]byte
}

// enabled reports whether any key is configured.
func (s *signer) enabled() bool { return len(s.keys) > 0 }

// valid reports whether any "sha256=<hex>" entry of the header values
// equals HMAC-SHA256(key, connectionID) for any configured key. Entries are
// separated by ","; spaces and tabs around an entry are ignored; the prefix
// and the hex digits are case-insensitive; other entries are ignored. The
// comparison is constant-time for each candidate.
func (s *signer) valid(connectionID string, headerValues []string) bool {
	var sigs [][]byte
	for _, hv := range headerValues {
		for part := range strings.SplitSeq(hv, ",") {
			part = strings.Trim(part, " \t")
			const prefix = "sha256="
			if len(part) < len(prefix) || !strings.EqualFold(part[:len(prefix)], prefix) {
				continue
			}
			b, err := hex.DecodeString(part[len(prefix):])
			if err != nil || len(b) != sha256.Size {
				continue
			}
			sigs = append(sigs, b)
		}
	}
	if len(sigs) == 0 {
		return false
	}
	ok := false
	for _, key := range s.keys {
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

// sign returns the "sha256=<hex>" entry for connectionID under key. It is
// the sender's side of the scheme, used by tests and examples.
func sign(key, connectionID string) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write([]byte(connectionID))
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
