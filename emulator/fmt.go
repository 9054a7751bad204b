package emulator

import (
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// GoString is String, so %#v cannot reveal the access keys.
func (e *Emulator) GoString() string { return e.String() }

// Format implements fmt.Formatter: every verb prints String, so that no
// verb can reveal the access keys.
func (e *Emulator) Format(f fmt.State, verb rune) { redact.Text(f, verb, "", e.String()) }

// Format implements fmt.Formatter: the options print as a struct does
// (%v, %+v and %#v; %+v for every other verb) with AccessKey and
// SecondaryAccessKey replaced by "REDACTED".
func (o Options) Format(f fmt.State, verb rune) {
	o.AccessKey, o.SecondaryAccessKey = redact.String(o.AccessKey), redact.String(o.SecondaryAccessKey)
	redact.Struct(f, verb, o)
}

// Format implements fmt.Formatter: the handler prints as a struct does
// (%v, %+v and %#v; %+v for every other verb) with the query and user
// information of URLTemplate, which may hold a credential such as
// ?code=, replaced by "REDACTED".
func (h EventHandler) Format(f fmt.State, verb rune) {
	h.URLTemplate = redactTemplate(h.URLTemplate)
	redact.Struct(f, verb, h)
}

// redactTemplate is redactURL that says where it removed something.
func redactTemplate(t string) string {
	r := redactURL(t)
	if r != t {
		r += "?" + redact.Mask
	}
	return r
}
