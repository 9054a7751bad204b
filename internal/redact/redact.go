// Package redact prints values that hold secrets (keys, tokens, URLs with
// an access_token, reconnection tokens) without them, for every fmt verb.
// A type that holds a secret implements fmt.Formatter with Text or Struct,
// so that %v, %+v, %#v, %s, %q, %x and every other verb print the same
// redacted text.
package redact

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mask replaces a secret in printed values.
const Mask = "REDACTED"

// Text prints s, a description without secrets, for any verb: quoted for
// %q, goString for %#v (s when goString is ""), s as is otherwise.
func Text(f fmt.State, verb rune, goString, s string) {
	switch {
	case verb == 'v' && f.Flag('#') && goString != "":
		_, _ = io.WriteString(f, goString)
	case verb == 'q':
		_, _ = io.WriteString(f, strconv.Quote(s))
	default:
		_, _ = io.WriteString(f, s)
	}
}

// Struct prints v, a struct value whose secrets the caller has already
// replaced (typically the value receiver of its own Format method), as
// the directive of f and verb prints a struct for %v, %+v and %#v; every
// other verb prints it as %+v does, so that no verb prints the fields'
// bytes in another form. v's own methods, Format among them, are not
// called (its fields' methods are, as fmt calls them); %#v names v's type.
// A v that is not a struct, or has an unexported field, prints as
// "<type>{REDACTED}".
func Struct(f fmt.State, verb rune, v any) {
	directive := "%+v"
	if verb == 'v' {
		directive = fmt.FormatString(f, verb)
	}
	rv := reflect.ValueOf(v)
	plain, ok := methodless(rv)
	if !ok {
		_, _ = io.WriteString(f, rv.Type().String()+"{"+Mask+"}")
		return
	}
	s := fmt.Sprintf(directive, plain.Interface())
	if verb == 'v' && f.Flag('#') {
		s = rv.Type().String() + strings.TrimPrefix(s, plain.Type().String())
	}
	_, _ = io.WriteString(f, s)
}

// methodless returns a copy of the struct rv as a value of an unnamed
// struct type with the same fields, which has no methods (an embedded
// field becomes a plain field of the same name, which fmt prints the
// same way); false when rv is not a struct or has an unexported field.
func methodless(rv reflect.Value) (reflect.Value, bool) {
	t := rv.Type()
	if t.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	fields := make([]reflect.StructField, t.NumField())
	for i := range fields {
		sf := t.Field(i)
		if !sf.IsExported() {
			return reflect.Value{}, false
		}
		fields[i] = reflect.StructField{Name: sf.Name, Type: sf.Type}
	}
	plain := reflect.New(reflect.StructOf(fields)).Elem()
	for i := range fields {
		plain.Field(i).Set(rv.Field(i))
	}
	return plain, true
}

// String returns Mask for a non-empty secret and "" for an empty one, so
// that a printed value still shows whether the secret is set.
func String(secret string) string {
	if secret == "" {
		return ""
	}
	return Mask
}

// Strings is String of each element, in a new slice (nil for nil).
func Strings(secrets []string) []string {
	if secrets == nil {
		return nil
	}
	out := make([]string, len(secrets))
	for i, s := range secrets {
		out[i] = String(s)
	}
	return out
}

// secretWords are the parts of a query parameter or header name that mark
// its values as secrets (see SecretName).
var secretWords = []string{"token", "key", "secret", "passw", "auth", "cookie", "signature", "credential"}

// SecretName reports whether the values of a query parameter or header
// named name are treated as secrets: its lower-case form contains "token"
// (access_token, awps_reconnection_token), "key", "secret", "passw",
// "auth" (Authorization, Proxy-Authorization), "cookie", "signature" or
// "credential", or it is "code" or "sig" (credentials in URL queries).
func SecretName(name string) bool {
	n := strings.ToLower(name)
	if n == "code" || n == "sig" {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// Query returns a copy of q in which each value of a parameter whose name
// is a SecretName is String of it (nil for nil).
func Query(q url.Values) url.Values {
	return url.Values(values(q))
}

// Header returns a copy of h in which each value of a header whose name is
// a SecretName is String of it (nil for nil).
func Header(h http.Header) http.Header {
	return http.Header(values(h))
}

func values(m map[string][]string) map[string][]string {
	if m == nil {
		return nil
	}
	out := make(map[string][]string, len(m))
	for k, v := range m {
		if SecretName(k) {
			v = Strings(v)
		}
		out[k] = v
	}
	return out
}

// Bytes is String for a secret held as bytes: nil for nil, []byte{} for an
// empty one and []byte(Mask) otherwise.
func Bytes(secret []byte) []byte {
	switch {
	case secret == nil:
		return nil
	case len(secret) == 0:
		return []byte{}
	}
	return []byte(Mask)
}

// MaxLogField is how many bytes of a value taken from a request a log line
// carries (see Preview).
const MaxLogField = 256

// Preview returns s for a log line: valid UTF-8 (each run of invalid bytes
// becomes U+FFFD) and at most max bytes, cut at a rune boundary and
// followed by the number of bytes left out. slog's handlers escape what
// remains.
func Preview(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= max {
		return s
	}
	n := max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…(" + strconv.Itoa(len(s)-n) + " more bytes)"
}
