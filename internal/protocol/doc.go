// Package protocol holds the frames of the Web PubSub JSON subprotocols
// (json.webpubsub.azure.v1 and json.reliable.webpubsub.azure.v1) in both
// directions, with a strict parser for what clients send, a tolerant parser
// for what the service sends, and encoders that write compact JSON in the
// field order the service uses.
//
// The emulator parses [ClientFrame]s and encodes [ServiceFrame]s; the Go
// WebSocket client does the opposite. Both sides share one definition of
// every field, including the reliable-protocol fields (sequenceId,
// sequenceAck, reconnectionToken).
//
// # Parsing client frames
//
// [ParseClientFrame] implements the structural rules of the client protocol:
// one JSON object per text frame, type matched
// case-insensitively, unknown fields ignored, null treated as absent, the
// last of duplicate keys winning, ackId and sequenceId unsigned 64-bit
// integers. A structural failure is an [*Error] of class [ClassStructural];
// the connection must then be closed with 1007. Semantic checks (group and
// event names, ttlSeconds, metadata, dataType protobuf) are separate, in
// [ClientFrame.Validate], because the service runs the duplicate-ackId check
// between the two and answers semantic failures with a BadRequest ack while
// keeping the connection open.
//
//	f, err := protocol.ParseClientFrame([]byte(`{"type":"joinGroup","group":"room1","ackId":1}`))
//	// f.Type == protocol.TypeJoinGroup, f.Group == "room1", f.AckID == 1, f.HasAckID
//
// # Encoding service frames
//
// [ServiceFrame.AppendJSON] appends one frame to a byte slice without
// intermediate allocations:
//
//	b := (&protocol.ServiceFrame{Type: protocol.TypeAck, AckID: 1, Success: true}).AppendJSON(nil)
//	// {"type":"ack","ackId":1,"success":true}
//
// # Protobuf subprotocols
//
// protobuf.webpubsub.azure.v1 and protobuf.reliable.webpubsub.azure.v1
// carry one message of the schema in package pb per binary frame.
// [ParseProtobufClientFrame] and [ParseProtobufServiceFrame] decode them
// into the same ClientFrame and ServiceFrame values the JSON frames give,
// and the AppendProtobuf methods encode them, so that both sides handle
// requests one way whatever the subprotocol. Frames the schema has no
// message for (ping, invoke, streams, group state) have no protobuf form.
// Upstream, JSON data is json_data; downstream it is text_data, which is
// how the service sends JSON to protobuf clients.
//
// Nothing in this package keeps state; every function is safe for
// concurrent use.
package protocol
