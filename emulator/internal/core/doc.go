// Package core is the emulator's service model, with no wire format: hubs,
// logical connections, their users, groups and permissions, the fan-out
// of messages, the reliable buffers with sequence ids, detach and
// recovery, and the clock that drives them.
//
// Adapters sit around it: the REST data plane, the client WebSocket
// endpoint with its JSON subprotocols and raw clients, the upstream
// CloudEvents calls, and later protobuf, MQTT and operations tools. An
// adapter gives each connection a Codec (how a Message becomes one of its
// frames) and an Endpoint (where frames go: its transport), and receives
// the connection's life-cycle through Owner. The core never imports an
// adapter or a wire-format package; a test of the emulator checks that.
//
// Lock order: Service.mu, then a hub's send lock, then Hub.mu, then Conn.mu, then whatever lock
// an Endpoint takes in Enqueue, Close and Drop. Endpoint and Owner methods
// must not call back into the core with a lock of the core held, except
// where a method says so.
package core
