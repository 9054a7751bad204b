package eventhandler

import (
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// Format implements fmt.Formatter: every verb prints String, so that no
// verb can reveal an access key.
func (h *Handler) Format(f fmt.State, verb rune) { redact.Text(f, verb, "", h.String()) }

// Format implements fmt.Formatter: the options print as a struct does
// (%v, %+v and %#v; %+v for every other verb) with each access key and
// the connection string replaced by "REDACTED".
func (o Options) Format(f fmt.State, verb rune) {
	o.AccessKeys, o.ConnectionString = redact.Strings(o.AccessKeys), redact.String(o.ConnectionString)
	redact.Struct(f, verb, o)
}

// Format implements fmt.Formatter: the request prints as a struct does
// (%v, %+v and %#v; %+v for every other verb) with the values of every
// query parameter and header that can carry a credential replaced by
// "REDACTED": access_token, Authorization, Cookie and any other name that
// contains "token", "key", "secret", "passw", "auth", "cookie",
// "signature" or "credential" (case-insensitive), and "code" and "sig".
// MQTTProperties prints with its password redacted.
func (r ConnectRequest) Format(f fmt.State, verb rune) {
	r.Query, r.Headers = redact.Query(r.Query), redact.Header(r.Headers)
	redact.Struct(f, verb, r)
}

// GoString is what %#v prints: the request as a Go struct literal with its
// credentials redacted, as Format prints them.
func (r ConnectRequest) GoString() string { return fmt.Sprintf("%#v", r) }

// Format implements fmt.Formatter: the properties print as a struct does
// (%v, %+v and %#v; %+v for every other verb) with Password replaced by
// "REDACTED" (nil when absent, empty when empty).
func (p MQTTConnectProperties) Format(f fmt.State, verb rune) {
	p.Password = redact.Bytes(p.Password)
	redact.Struct(f, verb, p)
}

// GoString is what %#v prints: the properties as a Go struct literal with
// Password redacted, as Format prints them.
func (p MQTTConnectProperties) GoString() string { return fmt.Sprintf("%#v", p) }
