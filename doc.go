// Package webpubsub is a Go SDK for Azure Web PubSub: a hub-bound
// ServiceClient that sends messages to WebSocket clients (to all, to a user,
// to a group, to one connection), manages groups, connections and
// permissions, and hands clients a signed WebSocket URL.
//
// The same code runs against the Azure service and against the local
// emulator in package emulator: only the connection string changes.
//
//	client, err := webpubsub.NewServiceClientFromConnectionString(os.Getenv("AZURE_WEBPUBSUB_CONNECTION_STRING"), "chat", nil)
//	if err != nil { ... }
//	tok, err := client.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{UserID: "alice", Groups: []string{"room1"}})
//	// give tok.URL to the browser; it connects with new WebSocket(url, "json.webpubsub.azure.v1")
//	_, err = client.SendToGroup(ctx, "room1", webpubsub.TextMessage("hello"), nil)
//
// # Authentication
//
// NewServiceClientFromConnectionString and NewServiceClientWithKey sign
// every request with a short-lived HS256 token made from the access key
// (5 minutes; a token is sent again to the same URL for at most a minute).
// NewServiceClient uses Microsoft Entra ID through any
// azcore.TokenCredential (for example azidentity.NewDefaultAzureCredential).
//
// # Errors
//
// Invalid arguments are rejected before any request with a
// *ValidationError, connection strings with a *ConnectionStringError; both
// match errors.Is(err, ErrInvalidArgument). ValidationError and
// ErrInvalidArgument are the same in the webpubsubclient, eventhandler and
// emulator packages. Service failures are *azcore.ResponseError, with
// ErrorCode from the x-ms-error-code header or the body. No error text
// ever contains the access key or a token.
//
// # Retries
//
// The azcore retry policy (ClientOptions.Retry) applies to every operation.
// A send is special: a failure after the service accepted a message (a 500,
// a timeout, a reset connection) cannot tell whether the message went out,
// so by default sends are retried only on 429 and on failures to connect,
// and never delivered twice by the client's own doing. Set
// ClientOptions.RetryAmbiguousSends, or the RetryAmbiguousSends field of one call's options,
// to retry them too and accept possible duplicates.
//
// # Filters
//
// SendToAll, SendToUser, SendToGroup and the batch group operations take an
// OData filter over userId, connectionId and groups. Build it with
// FormatFilter, FilterValue and FilterIn so that values are quoted
// correctly, and check it offline with ValidateFilter.
package webpubsub
