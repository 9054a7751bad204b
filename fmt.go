package webpubsub

import (
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// Format implements fmt.Formatter: every verb prints String (GoString for
// %#v), so that no verb can reveal the key.
func (c *ServiceClient) Format(f fmt.State, verb rune) {
	redact.Text(f, verb, c.GoString(), c.String())
}

// Format implements fmt.Formatter: every verb prints String (GoString for
// %#v), so that no verb can reveal the token or the URL that holds it.
func (t GetClientAccessTokenResponse) Format(f fmt.State, verb rune) {
	redact.Text(f, verb, t.GoString(), t.String())
}
