package webpubsubclient

import (
	"fmt"
	"strconv"

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

// String describes the stream by its group and stream id; it never holds
// the client access URL or the reconnection token of the connection the
// stream is written on.
func (w *GroupStreamWriter) String() string {
	return "webpubsubclient.GroupStreamWriter{group: " + strconv.Quote(w.group) + ", streamId: " + w.id + "}"
}

// GoString is String, so %#v cannot reveal the access token or the
// reconnection token.
func (w *GroupStreamWriter) GoString() string { return w.String() }

// Format implements fmt.Formatter: every verb prints String, so that no
// verb can reveal the access token or the reconnection token.
func (w *GroupStreamWriter) Format(f fmt.State, verb rune) { redact.Text(f, verb, "", w.String()) }
