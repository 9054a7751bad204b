// Package eventhandler receives the events that Azure Web PubSub (or the
// project's emulator) sends to an application server: the CloudEvents
// HTTP binding in binary mode ("upstream" or "event handler" protocol).
//
// A [Handler] serves one hub. It is a [net/http.Handler], so it mounts on
// a [net/http.ServeMux] or any router:
//
//	h, err := eventhandler.New("chat", &eventhandler.Options{
//		ConnectionString: os.Getenv("WEBPUBSUB_CONNECTION_STRING"),
//		Connect: func(ctx context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
//			if req.UserID == "" {
//				return nil, eventhandler.Reject(http.StatusUnauthorized, "sign in first")
//			}
//			return &eventhandler.ConnectResponse{Groups: []string{"lobby"}}, nil
//		},
//		UserEvents: map[string]eventhandler.UserEventFunc{
//			"echo": func(ctx context.Context, req *eventhandler.UserEventRequest) (*eventhandler.UserEventResponse, error) {
//				return eventhandler.Text("echo: " + string(req.Data)), nil
//			},
//		},
//	})
//	if err != nil {
//		log.Fatal(err)
//	}
//	mux := http.NewServeMux()
//	mux.Handle(eventhandler.DefaultPath("chat"), h) // "/api/webpubsub/hubs/chat/"
//
// Then point the hub's event handler URL template at it, e.g.
// "https://<your server>/api/webpubsub/hubs/chat/", with the system events
// you need (connect, connected, disconnected) and the user events (for
// example "*"). (The project's emulator also fills in a "{hub}" placeholder;
// the service fills in only "{event}".)
//
// # Events
//
//   - connect (blocking): [Options].Connect sees the token's claims, the
//     upgrade request's query and headers, the offered subprotocols and the
//     client certificates, and accepts the client with a [ConnectResponse]
//     (user id, groups, roles, subprotocol) or rejects it with a
//     [RejectError] (400, 401, 403 or 500 and a message the client sees).
//   - connected and disconnected (non-blocking): [Options].Connected and
//     [Options].Disconnected are told; their errors are only logged. By
//     default the handler answers before it runs them.
//   - group presence events (non-blocking; azure.webpubsub.gp.joined and
//     gp.left, sent when the hub's event handler asks for them): a
//     connection joined or left a group, by any route, the end of the
//     connection included. [Options].GroupJoined and [Options].GroupLeft
//     get the connection context and the group ([GroupJoinedRequest],
//     [GroupLeftRequest]); they are answered exactly as connected and
//     disconnected are, and their errors are only logged.
//   - user events (blocking): [Options].UserEvents, by event name, with
//     [Options].UserEvent as the fallback. The request has the payload and
//     its [DataType] (text, JSON or binary); the reply is [Text], [JSON],
//     [Binary] or nil for none. A client's invoke (a request and response
//     call, such as webpubsubclient's InvokeEvent) arrives as a user event
//     like any other: the reply is the invocation's answer and a
//     [RejectError] or any other error its failure, with nothing more to
//     write.
//   - a system or presence event type this version does not know (a
//     well-formed azure.webpubsub.sys.<name> or azure.webpubsub.gp.<name>)
//     is answered 200, never 400, and logged once per type, so that a
//     new service event does not break the application.
//
// Callbacks receive the request's context (for non-blocking events answered
// early, a context that outlives the request). A callback may run
// concurrently with any other callback, including for the same connection.
//
// # Security
//
// With access keys configured ([Options].AccessKeys or
// [Options].ConnectionString), every POST must carry a ce-signature header
// with an entry "sha256=<hex of HMAC-SHA256(key, connectionId)>" for one of
// the keys; otherwise it gets 401. Configure both the primary and the
// secondary key so that a key rotation never breaks delivery. Without a
// key, signatures are not checked at all and any caller that can reach the
// handler can forge events: New logs a warning. Signatures prove the sender
// knows a key; they do not prevent replays.
//
// The abuse-protection check (OPTIONS with WebHook-Request-Origin) is
// answered from [Options].AllowedOrigins; with no list, every origin is
// allowed.
//
// # Connection state
//
// Connect and user event callbacks can store small named values on the
// connection: [ConnectionContext.SetState], [ConnectionContext.DeleteState],
// [ConnectionContext.ClearStates]. The service sends them back with every
// later event of that connection, where [ConnectionContext.State] and
// [ConnectionContext.States] read them. The ce-connectionState header holds
// the base64 of a JSON object, one property per value, which is the
// encoding of @azure/web-pubsub-express: a Go and a JavaScript handler can
// share state on one hub. (The .NET SDK uses another encoding.)
//
// # MQTT
//
// For MQTT clients, [ConnectionContext].MQTT holds the physical connection
// and session ids, [ConnectRequest].MQTTProperties the CONNECT packet's
// properties and [DisconnectedRequest].MQTTProperties the DISCONNECT
// details. A rejected MQTT connect is answered with the JSON body the
// service expects ({"mqtt":{"code":...,"reason":...}}), the code mapped
// from the HTTP status as @azure/web-pubsub-express maps it.
//
// # Testing
//
// A Handler needs no service: drive it with net/http/httptest requests that
// carry the ce-* headers (see the package examples). For an end-to-end
// test, serve it with httptest.NewServer and point the emulator's event
// handler URL template at server.URL + DefaultPath(hub).
package eventhandler
