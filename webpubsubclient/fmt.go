package webpubsubclient

import (
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/redact"
)

// GoString is String, so %#v cannot reveal the access token or the
// reconnection token.
func (c *Client) GoString() string { return c.String() }

// Format implements fmt.Formatter: every verb prints String, so that no
// verb can reveal the access token or the reconnection token.
func (c *Client) Format(f fmt.State, verb rune) { redact.Text(f, verb, "", c.String()) }

// Format implements fmt.Formatter: every verb prints String, so that no
// verb can reveal the token in the URL's query.
func (u StaticURL) Format(f fmt.State, verb rune) { redact.Text(f, verb, "", u.String()) }
