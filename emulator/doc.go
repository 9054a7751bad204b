// Package emulator is a local, in-memory Azure Web PubSub service for
// development and tests: the REST data plane of api-version 2024-12-01
// (all 25 operations, including runtime permissions), the client
// WebSocket endpoint with raw clients, the json.webpubsub.azure.v1 and
// json.reliable.webpubsub.azure.v1 subprotocols and the
// protobuf.webpubsub.azure.v1 and protobuf.reliable.webpubsub.azure.v1
// subprotocols, and upstream event
// handlers called with the CloudEvents HTTP binding. The official Web
// PubSub SDKs of every language, this module's service client, event
// handler and WebSocket client, and any WebSocket client talk to it as
// they would to the service.
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
// The emulator behaves as the service does. In short:
//
//   - Authentication: REST requests need "Authorization: Bearer" with an
//     HS256 JWT signed with the UTF-8 bytes of the access key, whose aud is
//     the request URL (with or without its query, compared
//     case-insensitively); client connections need a token whose aud is
//     the hub's client endpoint in any of the schemes http, https, ws and
//     wss. exp is required and checked with Options.ClockSkew (five
//     minutes) of skew. A refused token gets 401 with the reason in the
//     body (malformed, wrong signature, expired and by how much, not yet
//     valid, audience or hub mismatch), never the token. Health
//     (HEAD or GET /api/health) needs no token.
//   - Hubs and groups are implicit; a group exists while it has members.
//     When a REST call returns, its effects are visible: a send has queued
//     its message for every recipient, a membership change applies to the
//     next send, a close has removed the connection.
//   - Every recipient gets messages in the order the emulator accepted the
//     sends.
//   - Each connection has an outbound queue of at most 1,000 frames and
//     16 MiB. A client that reads its messages too slowly to stay within
//     it is closed with 1008 ("The outbound message queue is full."); it
//     never slows down a send or the other clients. Replies to a client's
//     own requests (acks, pongs) apply back-pressure instead: while they
//     do not fit, the emulator stops reading that client's frames. On a reliable connection messages
//     count against the reliable buffer instead (below).
//   - Errors have the service's status codes, x-ms-error-code headers and
//     bodies; a malformed request or frame never affects other clients.
//
// # Reliable clients
//
// A client that negotiates json.reliable.webpubsub.azure.v1 gets a
// reconnectionToken in its connected message and a sequenceId (from 1, per
// connection) on every message. The emulator keeps each message until a
// cumulative sequenceAck covers it, at most 1,000 messages and 16 MiB: the
// message beyond that ends the connection with 1008 ("The reliable message
// buffer is full."), unless a sequenceAck making room arrives within 100 ms
// (the sender of that message waits meanwhile: a busy emulator can leave
// the acknowledgement of a client that reads and acknowledges unread for
// milliseconds). All reliable buffers together hold at most
// Options.MaxBufferedBytes (256 MiB; a broadcast's frame counts once
// however many buffers hold it): past it, the connections holding the
// most are closed with 1008 until the total fits. When the transport
// drops without a close frame (a TCP
// error, EOF, a keep-alive timeout) the connection is detached, not ended:
// for Options.ReliableRetention (30 s) it keeps its id, user, groups,
// permissions, connection state and ack ids, counts as existing for REST,
// and buffers what is sent to it (a message whose messageTtlSeconds or
// ttlSeconds runs out first is dropped from the buffer). A request to
// /client/hubs/{hub}?awps_connection_id=<id>&awps_reconnection_token=<token>
// then recovers it: no access token is needed, a transport still attached
// is dropped, the unacknowledged messages are replayed with their original
// ids and live delivery resumes. A recovery that cannot succeed (unknown
// id or token, another hub, a connection closed by REST, by the client's
// close frame, by an overflow or by the end of the retention) is accepted
// and closed with 1008 ("The connection could not be recovered.").
//
// # Event handlers
//
// HubOptions.EventHandlers lists a hub's upstream handlers, in priority
// order (the "*" entry of Options.Hubs serves hubs without their own):
//
//	e, err := emulator.New(emulator.Options{Hubs: map[string]emulator.HubOptions{
//		"chat": {EventHandlers: []emulator.EventHandler{{
//			URLTemplate:      "http://localhost:3000/api/webpubsub/hubs/{hub}/",
//			UserEventPattern: "*",
//			SystemEvents:     []string{"connect", "connected", "disconnected"},
//		}}},
//	}})
//
// The emulator calls them as the service does: an abuse-protection check
// (OPTIONS with WebHook-Request-Origin; the handler must answer with a
// WebHook-Allowed-Origin that allows it) before a handler's first event,
// then POSTs with every ce-* header, a ce-signature made with the access
// key or keys, and the connection state (ce-connectionState) that blocking
// events may replace. connect is blocking: its answer may set the userId,
// groups, roles and subprotocol, and a 4xx or 5xx answer is the status
// the client's upgrade gets. connected and disconnected are sent in the
// background, in order, retried after network errors, 408, 429 and 5xx;
// disconnected carries the reason and is always a connection's last
// event. A user event (an event frame, or a raw client's frame as the
// event "message") waits for the handler; a 2xx body goes back to the
// client as a server message before the ack (or as a frame to a raw
// client), and a failure is an InternalServerError ack (a raw client is
// closed with 1011). An invoke frame (target "event") makes the same
// upstream call in the background and is answered with an
// invokeResponse: success with the handler's body, or success false with
// an error (BadRequest for an invalid frame or an invocationId still in
// flight; Forbidden when the handler answers 401 or 403, the caller's
// missing permission, with the start of its body as the reason;
// InternalServerError for any other failing, slow or missing handler). A
// cancelInvocation cancels the call and nothing more is sent for it. On
// the reliable subprotocol the invokeResponse carries a sequenceId and is
// replayed after a recovery like a message. Without a matching handler,
// connect is skipped, connected and disconnected are not sent, an event
// frame gets an
// InternalServerError ack and a raw client that sends a frame is closed
// with 1000. Each call is bounded by Options.EventHandlerTimeout (100 s);
// a slow or unreachable handler delays or fails only the connection whose
// event it is.
//
// An EventHandler with GroupPresenceEvents also gets the group presence
// events azure.webpubsub.gp.joined and gp.left, non-blocking, whenever a
// connection joins or leaves a group that GroupFilters selects, by any
// route (a client request, REST by connection, user or filter, initial
// groups, the end of the connection); they follow connected and precede
// disconnected.
//
// # Group streams
//
// A PubSub client streams to a group by sending a sendToGroup with a
// stream object (streamId, and idleTimeoutMs, 300,000 by default), which
// needs the send-to-group permission for the group. The emulator answers
// streamAck with expectedSequenceId 1, or streamClosed with Forbidden or
// BadRequest (an invalid start, or a streamId already open on the
// connection, which stays open). streamData fragments numbered from 1 by
// streamSequenceId go to the group's members, in order, as group
// messages with a stream object (streamId, streamSequenceId); streamAck
// acknowledges them in batches of eight and whenever a keepalive (a
// streamData with only its streamId) arrives; a fragment already
// accepted is answered with a streamAck of the stream's position and not
// published again; one that skips ahead gets streamNack InvalidSequenceId
// with the expected position. streamEnd sends the members a terminal
// message (endOfStream, the next expected position, an empty text
// payload, and the publisher's error as UserError when it gave one) and
// the publisher a streamClosed without error. A frame for a stream that
// is not open gets streamClosed StreamNotFound. A stream closes with an
// error, for the publisher (streamClosed) and the members (the terminal
// message), when it sees no fragment or keepalive for its idle timeout
// (IdleTimeout, on Options.Clock; a duplicate or a gap is not activity),
// when a fragment is invalid (BadRequest) or the send permission was
// revoked (Forbidden), and with InternalServerError when Close begins
// ("The emulator is shutting down.", before the disconnected messages; a
// start after that is refused the same way) or when a test calls
// FailStream. Streams belong to their connection: they survive a
// reliable recovery, and end for their members with Cancelled when the
// connection ends. noEcho keeps
// the stream from the publisher; simple WebSocket clients in the group
// get each fragment's payload and nothing for the end.
//
// Options.AllowUnvalidatedEntraTokens lets REST calls authenticate with a
// Microsoft Entra ID token for https://webpubsub.azure.com, checked only
// for its audience and lifetime, so that SDK code built on
// azcore.TokenCredential runs against the emulator.
//
// Options.Trace logs the traffic, one line per REST call, delivery,
// upstream call and connection event, for finding out why a message did
// not arrive. Options.Dashboard serves a page at DashboardPath that shows
// the same traffic live, with the hubs, connections and groups, a form
// that sends a message and a test client (the standalone command turns it
// on; see Options.Dashboard for what it exposes).
//
// # Test double
//
// Beyond behaving as the service does, the emulator lets tests drive the
// failures a real service and network produce, and see its state:
//
//   - FailNext and DelayNext make the next calls of an Operation (a REST
//     operation named after the service client's method, or a client
//     handshake) fail with a status and x-ms-error-code, or wait;
//   - CutConnection resets a client's TCP connection, RefuseNextRecovery
//     refuses its next recovery, DropNextAck, DelayNextAck and
//     FailNextAck tamper with its next ack, PauseOutbound holds its
//     outbound frames, FailStream ends one of its open group streams
//     with InternalServerError;
//   - Hubs, Connections, Connection, Groups, GroupMembers and Messages
//     (a bounded log of delivered messages) inspect the state, and Wait,
//     WaitConnection and Options.OnConnectionEvent let a test wait for a
//     condition instead of sleeping;
//   - Options.Clock takes a Clock, such as a FakeClock that moves only
//     when the test advances it, and drives the service's timers with it:
//     the reliable retention, upstream timeouts and retries, keep-alive
//     (Options.PingInterval, Options.IdleTimeout) and injected delays.
//
// For example, a test of a client's retry of a throttled send:
//
//	e := emulator.NewTest(t)
//	e.FailNext(emulator.OperationSendToAll, 2, emulator.Failure{Status: 429, RetryAfter: time.Second})
//
// # Protobuf clients
//
// A client that offers protobuf.webpubsub.azure.v1 or
// protobuf.reliable.webpubsub.azure.v1 (or whose connect handler picks
// one) sends one UpstreamMessage per binary frame and receives one
// DownstreamMessage per binary frame. Its requests (join and leave group,
// send to group with no_echo, user events, sequence acks) take the same
// path as those of JSON clients: the same acks, permissions, duplicate
// ack ids, upstream events and, on the reliable subprotocol, sequence
// ids, reconnection token and recovery. Message data maps between the
// subprotocols as the service maps it:
//
//   - text_data is dataType text for JSON clients, a text frame for raw
//     clients, and text/plain upstream;
//   - json_data is dataType json, a text frame, and application/json
//     upstream; JSON data from anyone (JSON and protobuf clients, REST
//     sends of application/json, event-handler replies of
//     application/json) reaches protobuf clients as text_data holding
//     the serialized JSON, as the service sends it to a protobuf client
//     when the sender's dataType is json;
//   - binary_data is dataType binary (base64), a binary frame, and
//     application/octet-stream upstream;
//   - protobuf_data (a google.protobuf.Any) reaches JSON clients as
//     dataType protobuf with the base64 of the encoded Any, raw clients
//     as a binary frame of it, and event handlers as
//     application/x-protobuf with it as the body; an event handler may
//     reply with application/x-protobuf and an encoded Any.
//
// The protobuf schema has no ping, invoke, stream or group-state
// messages and no metadata, ttlSeconds or fromUserId fields: a frame of
// another message is refused as an unknown JSON frame is, and group
// stream fragments reach protobuf clients as ordinary group messages
// (without the terminal message). A text frame ends a protobuf
// connection with 1003 and a frame that is not a well-formed
// UpstreamMessage (or lacks the data of a send or an event, or whose
// json_data is not JSON) with 1007, each after a disconnected message,
// as the JSON subprotocols do for a binary or malformed frame.
//
// Socket.IO clients are not supported.
//
// # MQTT clients
//
// MQTT 3.1.1 and 5.0 clients connect over WebSocket to
// /clients/mqtt/hubs/{hub} with the subprotocol mqtt (any MQTT library
// with WebSocket transport offers it), the token in the access_token
// query parameter or an Authorization: Bearer header; a token for the
// MQTT endpoint or for the client endpoint of the hub is accepted. A bad
// token fails the upgrade with 401, as on the client endpoint. The
// CONNECT packet is checked as the service does: a client id of 1 to 128
// characters of 0-9, a-z and A-Z, which becomes the connection id (an
// MQTT 5 client that sends none is assigned one, returned in the
// CONNACK); a keep-alive of 1 to 180 seconds for MQTT 3.1.1; a will topic
// with a non-blank character and at most 1024 characters and a will
// message of at most 2000 bytes. A refused CONNECT gets the CONNACK
// code of its reason: 0x02 (3.1.1) or 0x85 (5.0) for the client id, 0x01
// for another protocol level, 0x90, 0x95 and 0x9A (5.0) for a will topic,
// size or retain flag; MQTT 3.1.1 has no code for the keep-alive and will
// limits, so such a connection closes without CONNACK, as that protocol
// asks. Enhanced authentication (section 4.12 of MQTT 5) is not supported, as the
// service lists no such feature: a CONNECT with an authentication method
// is refused with 0x8C (bad authentication method), and an AUTH packet
// ends the connection with DISCONNECT 0x8C; clients authenticate with
// the token (and a connect event handler may check the username and
// password). A second connection with the same client id takes over: the
// first one ends (MQTT 5: DISCONNECT 0x8E). A connection that sends no packet
// for one and a half times its keep-alive is closed (MQTT 5: DISCONNECT
// 0x8D), timed on Options.Clock.
//
// A topic is a group. SUBSCRIBE joins the group and needs the join
// permission for it (webpubsub.joinLeaveGroup, .{group} or a wildcard
// group role); UNSUBSCRIBE leaves it; the REST group operations add and
// remove the same memberships. Wildcard topic filters (0xA2), shared
// subscriptions (0x9E), filters that are no group name (0x8F), a missing
// permission (0x87) and the limit of groups (0x97) are refused in the
// SUBACK; MQTT 3.1.1 has the one failure code 0x80 for all of them.
// PUBLISH sends to the group and needs the send permission; MQTT 5 is
// told why a PUBLISH was dropped in its PUBACK or PUBREC (0x87 not
// authorized, 0x90 no group name, 0x99 a payload that does not match its
// JSON or text content type), MQTT 3.1.1, which has no such code, is
// acknowledged as if it had been delivered. QoS 0, 1 and 2 are accepted;
// a retained PUBLISH (0x9A) or a topic alias (0x94) ends the connection,
// and the MQTT 5 CONNACK says that retained messages and wildcard and
// shared subscriptions are unavailable.
//
// Messages cross protocols as the service defines: a group message
// reaches MQTT subscribers as a PUBLISH on the group's topic, and a
// message to all, a user or a connection arrives on the topic
// $webpubsub/server/messages. Messages not published by an MQTT client go
// out with QoS 1, MQTT publishes with their own QoS, lowered to the
// subscription's. The MQTT 5 content type maps to the data type and
// back: application/json is JSON, text/plain text, anything else or
// none (and every MQTT 3.1.1 payload) binary; an MQTT 5 subscriber is
// told the content type of what it gets, with the user properties,
// response topic, correlation data and message expiry of an MQTT 5
// publisher, and with the subscription identifier of its SUBSCRIBE; a
// no-local subscription keeps a client's own publishes from it.
// JSON-subprotocol clients in a group get what MQTT clients publish to
// its topic, and the other way round.
//
// The flow control of MQTT 5 is honoured: no more QoS 1 and 2 PUBLISH
// packets than the CONNECT's Receive Maximum are unacknowledged at a time
// (the others wait, in order, while QoS 0 ones pass; a connection without
// a persistent session that has 1,000 waiting, or 16 MiB, is disconnected
// with 0x97, as one whose outbound queue is full; a persistent session's
// wait in its buffer, which has the same bounds), and a PUBLISH larger
// than its Maximum Packet Size is not sent to it and counts as delivered
// (as section 3.1.2.11.4 of MQTT 5 asks). A message with an expiry
// interval that waits (for room in the Receive Maximum, or for a
// persistent session to be resumed) goes out with the interval it has
// left, counted on Options.Clock, and is dropped once that ran out.
//
// The upstream connect, connected and disconnected events of an MQTT
// connection carry ce-subprotocol mqtt and a ce-physicalConnectionId (and,
// after connect, a ce-sessionId). The connect event's body has an "mqtt"
// object with the CONNECT's protocolVersion, cleanStart, username,
// password (base64) and userProperties; the disconnected event's says
// whether the client ended the connection (initiatedByClient) and holds
// its DISCONNECT packet's code and user properties (disconnectPacket, null
// when none came). A connect handler's success may add CONNACK user
// properties ({"mqtt":{"userProperties":[{"name","value"}]}}) and apply
// userId, roles and groups as for other clients; its failure
// ({"mqtt":{"code","reason"}} with a 4xx or 5xx status) refuses the
// CONNECT with that code and, for MQTT 5, that reason string: a code that
// is no refusal of the client's level becomes 0x80 (MQTT 3.1.1: 0x03), and
// a failure without that body is mapped from its status (401 and 403: not
// authorized, else unspecified or, for 3.1.1, server unavailable).
//
// CloseConnection and the other closes end an MQTT connection (MQTT 5:
// DISCONNECT 0x98, administrative action, with the close reason; 0x8B
// at shutdown); a connection that ends without DISCONNECT publishes its
// will, if it may send to the will's topic.
//
// A persistent session (MQTT 3.1.1 without Clean Session, MQTT 5 with a
// session expiry interval) outlives a lost network connection, a
// keep-alive timeout and a DISCONNECT for Options.ReliableRetention (30
// seconds by default, the service's guarantee), or for the MQTT 5
// session expiry interval when that is shorter (the CONNACK says which;
// an interval of 0 ends the session with the network connection, and the
// interval of an MQTT 5 DISCONNECT replaces the CONNECT's): the
// connection stays in its groups, the will is published when the network
// connection ends (with an MQTT 5 will delay, when the delay ends
// without a resume), and what arrives meanwhile is kept. A CONNECT with
// the same client id and protocol level that does not start clean
// resumes it: the CONNACK says the session is present, the kept messages
// follow, QoS 1 and 2 ones again until acknowledged (with the DUP flag
// when they had been sent before; a QoS 2 exchange cut after the
// client's PUBREC gets its PUBREL again), and the session keeps its
// identity and subscriptions; its permissions are those of the new
// token's roles (or of the connect handler's), permission grants made by
// REST during the earlier connection are gone. When the session's
// earlier network connection is still open, it is taken over (MQTT 5:
// DISCONNECT 0x8E first) and its will, unless it has a will delay, is
// published. A clean CONNECT, a CloseConnection, a protocol error or the
// end of the retention ends the session. Outbound QoS 1 and 2 messages
// of a session that is not persistent are not sent again.
//
// # Layout
//
// The emulator is built as a core with adapters around it. The core (an
// internal package) holds the service model and knows no wire format:
// hubs, connections, users, groups, permissions, the fan-out of
// messages, the reliable buffers with their sequence ids, detach and
// recovery, and the clock. Each adapter translates one outside protocol
// to it, and the core never depends on one:
//
//   - REST: the data plane at /api (the rest* files);
//   - the client endpoint: the WebSocket handshake, the transports, raw
//     clients and the JSON and protobuf subprotocols with their acks
//     (clientendpoint, transport, conn, codec, requests, recovery);
//   - upstream: the CloudEvents calls to event handlers (upstream,
//     events, handlers);
//   - operations: the test double's inspection and fault injection
//     (inspect, faults, newtest, clock), the trace and the dashboard
//     (trace, dashboard).
//
// An adapter gives each connection a codec (how a message becomes its
// frame) and an endpoint (where frames go) and hears the connection's end
// and detach; that small interface is where the protobuf clients and a
// traffic trace join, and the MQTT endpoint (mqtt, mqttcodec) is one such
// adapter: its codec encodes messages as PUBLISH packets, its connections
// use the client endpoint's transports.
//
// No message the emulator logs or returns contains the access key, a
// token, a reconnection token, a URL with an access_token, or an event
// handler URL's query (a ?code= secret).
package emulator
