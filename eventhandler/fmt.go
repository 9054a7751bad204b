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
	type plain Options
	p := plain(o)
	p.AccessKeys = redact.Strings(p.AccessKeys)
	p.ConnectionString = redact.String(p.ConnectionString)
	redact.Struct(f, verb, "eventhandler.Options", p)
}
