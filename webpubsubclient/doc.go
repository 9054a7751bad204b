// Package webpubsubclient is a WebSocket client for Azure Web PubSub (and
// for this module's emulator): the Go counterpart of the Python
// azure-messaging-webpubsubclient and the JavaScript
// @azure/web-pubsub-client. A client joins and leaves groups, publishes to
// groups, sends events to the application server, and receives group and
// server messages, over the json.reliable.webpubsub.azure.v1 subprotocol
// (the default), json.webpubsub.azure.v1, or the binary protobuf
// subprotocols protobuf.reliable.webpubsub.azure.v1 and
// protobuf.webpubsub.azure.v1 (Options.Protocol).
//
// The protobuf protocols carry the same joins, leaves, sends, events,
// acks, no-echo, recovery and rejoins as the JSON ones, with binary
// payloads as raw bytes and a fourth payload kind, ProtobufMessage (a
// protobuf message packed in a google.protobuf.Any). Their schema has no
// invocations, group streams or publisher ids: InvokeEvent and
// OpenGroupStream return an *UnsupportedError, group stream fragments
// arrive as GroupMessages, and GroupMessage.FromUserID is empty. JSON
// data sent by anyone reaches a protobuf client as DataTypeText holding
// the JSON text, as the service delivers it (a JSONMessage the protobuf
// client sends still reaches JSON clients as DataTypeJSON). The
// keep-alive sends no ping there (the schema has none); the service's
// WebSocket pings count as traffic.
//
//	cred := webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
//		// Called for every new connection, so the token is always fresh.
//		tok, err := serviceClient.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{
//			UserID: "alice",
//			Roles:  []string{"webpubsub.joinLeaveGroup", "webpubsub.sendToGroup"},
//		})
//		return tok.URL, err
//	})
//	client, err := webpubsubclient.New(cred, nil)
//	if err != nil { ... }
//	client.OnGroupMessage(func(m webpubsubclient.GroupMessage) {
//		fmt.Printf("%s in %s: %s\n", m.FromUserID, m.Group, m.Data)
//	})
//	if err := client.Start(ctx); err != nil { ... }
//	defer client.Stop(context.Background())
//	if _, err := client.JoinGroup(ctx, "chat", nil); err != nil { ... }
//	if _, err := client.SendToGroup(ctx, "chat", webpubsubclient.TextMessage("hi"), nil); err != nil { ... }
//
// # Mapping from the Python client
//
//	WebPubSubClient(credential, ...)       New(credential, *Options)
//	WebPubSubClientCredential(provider)    URLFunc (or StaticURL)
//	open() / close()                       Start(ctx) / Stop(ctx)
//	subscribe("connected", h), ...         OnConnected(h), OnDisconnected, OnStopped,
//	                                       OnServerMessage, OnGroupMessage, OnRejoinGroupFailed
//	join_group / leave_group               JoinGroup / LeaveGroup
//	send_to_group(..., no_echo, fire_and_forget)  SendToGroup with SendToGroupOptions
//	send_event(...)                        SendEvent
//	WebPubSubResult(ack_id, is_duplicated) AckResult{AckID, Duplicated}
//	SendMessageError                       *AckError
//
// # Events and their order
//
// Handlers run on one goroutine per Start, one at a time, never on the
// goroutine that reads the connection: a slow handler delays the handlers
// after it (the queue between them is unbounded, so it costs memory) but
// never stalls keep-alive, acks or recovery. Events are delivered in the
// order the client observed them:
//
//   - group and server messages in the order the service sent them, each
//     exactly once on the reliable protocol, including across recoveries;
//   - RejoinGroupFailed events of a new connection, then its Connected;
//   - Disconnected when a connection ends for good, after every message it
//     delivered;
//   - Stopped last, once per Start. Events of a later Start come after it.
//
// An acknowledged call returns when its ack arrives, which may be before
// the handlers of earlier messages (even its own echo) have run.
//
// # Connections, recovery and retries
//
// With the reliable protocol the client acknowledges the messages it
// receives (sequenceAck, every SequenceAckInterval and at once when more
// than 300 are unacknowledged) and drops any message it has already seen.
// When a connection drops without a close from the service (a network
// failure, or the keep-alive timeout), the client recovers it for up to
// RecoveryWindow: the service replays what was not acknowledged, the
// connection id and groups stay, and no Connected event is raised. When
// recovery is impossible (ProtocolJSON, a 1008 close, a connection the
// service has ended), the client raises Disconnected and opens a new
// connection (a new connection id) under ReconnectRetry, calling the
// Credential again and rejoining its groups.
//
// JoinGroup, LeaveGroup, SendToGroup and SendEvent wait for their ack and
// retry after a lost connection, an ack timeout or InternalServerError,
// reusing the same ack id so that the service can answer a repeated
// request with Duplicate instead of executing it twice. Forbidden and
// other errors are not retried and come back as an *AckError.
//
// # Group streams
//
// A group stream is an ordered sequence of fragments published to a group
// by one connection, such as an answer generated token by token.
// OpenGroupStream starts one and returns a *GroupStreamWriter once the
// service has accepted it (the connection needs the send-to-group role):
//
//	w, err := client.OpenGroupStream(ctx, "answers", nil)
//	if err != nil { ... } // a *StreamError named Forbidden without the role
//	for _, token := range tokens {
//		if err := w.Write(ctx, webpubsubclient.TextMessage(token)); err != nil { ... }
//	}
//	err = w.Close(ctx) // or w.CloseWithError(ctx, "overloaded", "E42")
//
// Write numbers the fragments from 1 and keeps each one until the service
// acknowledges it; past StreamBufferFragments (or StreamBufferBytes)
// unacknowledged fragments it blocks. The writer sends again what the
// service did not accept (after a streamNack), holds its frames while a
// reliable connection recovers and then sends the unacknowledged
// fragments again (the service publishes each position once), and sends
// keepalives when the stream has been silent for half its idle timeout.
// When the connection ends for good (every drop with ProtocolJSON) the
// stream fails with ErrStreamConnectionLost; Done and Err report it.
//
// Receivers register with OnGroupStream. The handler gets each stream
// once, on a goroutine of its own, and reads it in order:
//
//	client.OnGroupStream(func(s *webpubsubclient.GroupStream) {
//		for {
//			m, err := s.Next(ctx)
//			if err == io.EOF { return }                  // the publisher closed it
//			if err != nil { log.Print(err); return }     // e.g. a *StreamError named UserError
//			fmt.Print(string(m.Data))
//		}
//	}, &webpubsubclient.OnGroupStreamOptions{FromStart: true})
//
// The reader checks positions: a gap or a duplicate ends the stream with
// a *StreamError named InvalidSequenceId. A stream silent for
// OnGroupStreamOptions.IdleTimeout (five minutes by default) ends with
// IdleTimeout. Fragments are queued without limit and never slow the
// connection down. Flow control runs between the publisher and the
// service only: a receiver that falls further behind than the service
// buffers for it (1,000 messages on the reliable protocol) loses its
// connection, as with any burst of group messages, and its streams end
// with ErrStreamConnectionLost. The same fragments reach OnGroupMessage handlers, with
// GroupMessage.Stream set; the terminal message, with EndOfStream, has an
// empty text payload.
//
// # Secrets
//
// Client access URLs carry a token, and connected messages a reconnection
// token. Neither appears in any error, log record or String output of this
// package.
package webpubsubclient
