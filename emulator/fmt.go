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
	type plain Options
	p := plain(o)
	p.AccessKey = redact.String(p.AccessKey)
	p.SecondaryAccessKey = redact.String(p.SecondaryAccessKey)
	redact.Struct(f, verb, "emulator.Options", p)
}

// Format implements fmt.Formatter: the handler prints as a struct does
// (%v, %+v and %#v; %+v for every other verb) with the query and user
// information of URLTemplate, which may hold a credential such as
// ?code=, replaced by "REDACTED".
func (h EventHandler) Format(f fmt.State, verb rune) {
	type plain EventHandler
	p := plain(h)
	p.URLTemplate = redactTemplate(p.URLTemplate)
	redact.Struct(f, verb, "emulator.EventHandler", p)
}

// redactTemplate is redactURL that says where it removed something.
func redactTemplate(t string) string {
	r := redactURL(t)
	if r != t {
		r += "?" + redact.Mask
	}
	return r
}
