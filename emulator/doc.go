// Package emulator is a local, in-memory Azure Web PubSub service for
// development and tests: the REST data plane of api-version 2024-12-01
// (all 25 operations, including runtime permissions) and the client
// WebSocket endpoint with raw clients and the json.webpubsub.azure.v1
// subprotocol. The official Web PubSub SDKs of every language, this
// module's service client and any WebSocket client talk to it as they
// would to the service.
//
// In a Go test:
//
//	e := emulator.NewTest(t) // started on a free port, closed at the end of the test
//	client, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), "chat", nil)
//
// or, outside tests:
//
//	e, err := emulator.New(emulator.Options{Port: 8080})
//	if err != nil { ... }
//	if err := e.Start(); err != nil { ... }
//	defer e.Close()
//	fmt.Println(e.ConnectionString())
//	// Endpoint=http://localhost;Port=8080;AccessKey=ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH;Version=1.0;
//
// The command cmd/webpubsub-emulator runs the same emulator as a program.
//
// # Behaviour
//
// The emulator follows the project's specifications (emulator.md,
// client-protocol.md, rest-and-auth.md, odata-filter.md). In short:
//
//   - Authentication: REST requests need "Authorization: Bearer" with an
//     HS256 JWT signed with the UTF-8 bytes of the access key, whose aud is
//     the request URL (with or without its query, compared
//     case-insensitively); client connections need a token whose aud is
//     the hub's client endpoint in any of the schemes http, https, ws and
//     wss. exp is required and checked with five minutes of skew. Health
//     (HEAD or GET /api/health) needs no token.
//   - Hubs and groups are implicit; a group exists while it has members.
//     When a REST call returns, its effects are visible: a send has queued
//     its message for every recipient, a membership change applies to the
//     next send, a close has removed the connection.
//   - Every recipient gets messages in the order the emulator accepted the
//     sends.
//   - Each connection has an outbound queue of at most 1,000 frames and
//     16 MiB. A client that reads too slowly to stay within it is closed
//     with 1008 ("The outbound message queue is full."); it never slows
//     down a send or the other clients.
//   - Errors have the service's status codes, x-ms-error-code headers and
//     bodies; a malformed request or frame never affects other clients.
//
// Not in this version: the reliable subprotocol
// json.reliable.webpubsub.azure.v1 (a client that offers only it is
// refused with 400, and recovery attempts are closed with 1008) and
// upstream event handlers (so every user event is answered with an
// InternalServerError ack, and a raw client that sends a frame is closed
// with 1000, as the service does without a handler). Protobuf, MQTT and
// Socket.IO clients are not supported.
//
// No message the emulator logs or returns contains the access key, a
// token or a URL with an access_token.
package emulator
