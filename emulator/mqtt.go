package emulator

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/coder/websocket"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/gowebpubsub/webpubsub/emulator/internal/core"
	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
	"github.com/gowebpubsub/webpubsub/internal/names"
	"github.com/gowebpubsub/webpubsub/internal/protocol"
)

// Limits of the MQTT endpoint, as the service documents them.
const (
	// mqttMaxClientID is the longest client id; its characters are
	// 0-9, a-z and A-Z.
	mqttMaxClientID = 128
	// mqttMinKeepAlive and mqttMaxKeepAlive bound the keep-alive of an
	// MQTT 3.1.1 client, in seconds.
	mqttMinKeepAlive = 1
	mqttMaxKeepAlive = 180
	// mqttMaxWillTopic is the longest will topic, in characters.
	mqttMaxWillTopic = 1024
	// mqttMaxWillMessage is the largest will message, in bytes.
	mqttMaxWillMessage = 2000
)

// mqttConnectTimeout bounds the wait for the CONNECT packet after the
// WebSocket upgrade.
const mqttConnectTimeout = 10 * time.Second

// MQTT reason codes (5.0) and return codes (3.1.1) the endpoint sends.
const (
	mqttSuccess                 byte = 0x00
	mqttV311BadProtocol         byte = 0x01
	mqttV311IDRejected          byte = 0x02
	mqttV311Unavailable         byte = 0x03
	mqttV311NotAuthorized       byte = 0x05
	mqttV311SubscribeFailure    byte = 0x80
	mqttDisconnectWithWill      byte = 0x04
	mqttNoSubscriptionExisted   byte = 0x11
	mqttUnspecified             byte = 0x80
	mqttMalformed               byte = 0x81
	mqttProtocolError           byte = 0x82
	mqttClientIDInvalid         byte = 0x85
	mqttNotAuthorized           byte = 0x87
	mqttServerUnavailable       byte = 0x88
	mqttShuttingDown            byte = 0x8B
	mqttSessionTakenOver        byte = 0x8E
	mqttTopicFilterInvalid      byte = 0x8F
	mqttTopicNameInvalid        byte = 0x90
	mqttTopicAliasInvalid       byte = 0x94
	mqttPacketTooLarge          byte = 0x95
	mqttQuotaExceeded           byte = 0x97
	mqttAdministrativeAction    byte = 0x98
	mqttPayloadFormatInvalid    byte = 0x99
	mqttRetainNotSupported      byte = 0x9A
	mqttSharedNotSupported      byte = 0x9E
	mqttWildcardNotSupported    byte = 0xA2
	mqttBadAuthenticationMethod byte = 0x8C
	mqttKeepAliveTimeout        byte = 0x8D
)

// Close reasons of MQTT connections.
const (
	reasonMQTTDisconnected = "The MQTT client disconnected."
	reasonMQTTTakenOver    = "Another connection with the same client id connected."
	reasonMQTTMalformed    = "The MQTT packet is malformed."
	reasonMQTTTextFrame    = "MQTT packets must be sent in binary WebSocket messages."
	reasonMQTTRetain       = "Retained messages are not supported."
	reasonMQTTTopicAlias   = "Topic aliases are not supported."
	reasonMQTTSecondConn   = "A second CONNECT packet is a protocol error."
	reasonMQTTUnexpected   = "The client sent a packet only a server sends."
	reasonMQTTAuth         = "Enhanced authentication is not supported."
	reasonMQTTKeepAlive    = "The MQTT keep-alive expired."

	reasonMQTTEndedBeforeConnect = "The connection ended before a CONNECT packet arrived."
	reasonMQTTNotConnect         = "The first MQTT packet was not a CONNECT."
)

// mqttNoConnack is the code of a CONNECT refusal that sends no CONNACK.
const mqttNoConnack byte = 0xFF

// mqttSub is one subscription of an MQTT connection.
type mqttSub struct {
	qos     byte
	id      int // MQTT 5 subscription identifier; 0 for none
	noLocal bool
}

// mqttWill is the will message of a connection, published when it ends
// without a DISCONNECT.
type mqttWill struct {
	topic   string
	payload []byte
	pub     core.Published
	dt      protocol.DataType
	// delay is the MQTT 5 will delay interval: how long a persistent
	// session waits for a resume before it publishes the will.
	delay time.Duration
}

// mqttSession is what an MQTT connection keeps beyond the core
// connection: its protocol level, subscriptions, packet ids and will.
type mqttSession struct {
	version byte
	// assigned is set when the emulator chose the client id; askedExpiry
	// when an MQTT 5 client asked for a session that outlives it.
	assigned, askedExpiry bool
	// inbuf holds the start of a packet split across WebSocket messages;
	// guarded by conn.proc.
	inbuf []byte
	// qos2 holds the ids of inbound QoS 2 publishes awaiting PUBREL;
	// guarded by conn.proc.
	qos2 map[uint16]struct{}

	// keepAlive is one and a half times the CONNECT's keep-alive, the
	// silence after which the connection is closed; 0 for none.
	// lastPacket is the emulator clock's Unix nanoseconds of the last
	// packet received.
	keepAlive  time.Duration
	lastPacket atomic.Int64

	mu   sync.Mutex
	subs map[string]mqttSub
	// stopKeepAlive cancels the keep-alive timer; ended is set when the
	// connection ended, so that no timer is armed again. stopWill cancels
	// the timer of a delayed will.
	stopKeepAlive func() bool
	stopWill      func() bool
	ended         bool
	// nextID is the last outbound packet id.
	nextID uint16
	will   *mqttWill
	// byClient is set once the client sent DISCONNECT: no DISCONNECT is
	// sent back.
	byClient bool
	// code, when not 0, is the reason code of the DISCONNECT the
	// connection's close sends (MQTT 5).
	code byte
	// serverEnded is set when the emulator closed the connection;
	// disconnect is the client's DISCONNECT, nil when none came.
	serverEnded bool
	disconnect  *mqttDisconnectInfo

	// physicalID and sessionID are the ce-physicalConnectionId and
	// ce-sessionId of the upstream events; connectInfo is the "mqtt"
	// object of the connect event; connackProps are the user properties
	// a connect handler asked the CONNACK to carry. All are set before
	// registration, and changed under mu when a CONNECT resumes the
	// session (as are the will, keep-alive and the fields above).
	physicalID, sessionID string
	connectInfo           *cloudevents.MQTTConnect
	connackProps          []core.KeyValue
	// present is set when the CONNECT resumed a persistent session.
	present bool
	// expiry is the session expiry an MQTT 5 CONNECT asked for, in
	// seconds; retention is how long the emulator keeps a session.
	expiry    uint32
	retention time.Duration
	// unacked maps the packet ids of a persistent session's outbound
	// QoS 1 and 2 messages to their sequence ids; guarded by mu.
	unacked map[uint16]uint64

	// The outbound flow of QoS 1 and 2 PUBLISH packets, guarded by mu.
	// receiveMax is the MQTT 5 client's Receive Maximum and maxPacket its
	// Maximum Packet Size, 0 for none. inflight holds the packet ids
	// written and not yet acknowledged; waiting the frames held back
	// while receiveMax are in flight, in order; resend the ids that were
	// in flight when a persistent session lost its network connection,
	// whose next PUBLISH carries the DUP flag. waitingBytes is the size
	// of the frames in waiting.
	receiveMax   uint16
	maxPacket    uint32
	inflight     map[uint16]struct{}
	waiting      []core.Frame
	waitingBytes int
	resend       map[uint16]struct{}
	// released holds the ids of a persistent session's QoS 2 messages
	// that the client acknowledged with PUBREC and not yet completed with
	// PUBCOMP: a resume sends their PUBREL again. Guarded by mu.
	released map[uint16]struct{}
}

// takeUnacked returns and forgets the sequence id of packet id.
func (s *mqttSession) takeUnacked(id uint16) (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seq, ok := s.unacked[id]
	delete(s.unacked, id)
	return seq, ok
}

// releasedIDs returns the ids of released, in order.
func (s *mqttSession) releasedIDs() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	ids := slices.Collect(maps.Keys(s.released))
	slices.Sort(ids)
	return ids
}

// mqttDisconnectInfo is the client's DISCONNECT in a disconnected event.
type mqttDisconnectInfo struct {
	Code           int                            `json:"code"`
	UserProperties []cloudevents.MQTTUserProperty `json:"userProperties"`
}

// newConnectInfo is the connect event's view of a CONNECT.
func newConnectInfo(pk *packets.Packet) *cloudevents.MQTTConnect {
	in := &cloudevents.MQTTConnect{ProtocolVersion: int(pk.ProtocolVersion), CleanStart: pk.Connect.Clean, UserProperties: []cloudevents.MQTTUserProperty{}}
	if pk.Connect.UsernameFlag {
		u := string(pk.Connect.Username)
		in.Username = &u
	}
	if pk.Connect.PasswordFlag {
		p := base64.StdEncoding.EncodeToString(pk.Connect.Password)
		in.Password = &p
	}
	in.UserProperties = upstreamProperties(pk.Properties.User)
	return in
}

func upstreamProperties(in []packets.UserProperty) []cloudevents.MQTTUserProperty {
	out := make([]cloudevents.MQTTUserProperty, 0, len(in))
	for _, u := range in {
		out = append(out, cloudevents.MQTTUserProperty{Name: u.Key, Value: u.Val})
	}
	return out
}

// disconnectedJSON is the "mqtt" object of the disconnected event:
// whether the client ended the connection (by DISCONNECT or by closing
// it) and its DISCONNECT packet, if any.
func (s *mqttSession) disconnectedJSON() []byte {
	s.mu.Lock()
	v := struct {
		InitiatedByClient bool                `json:"initiatedByClient"`
		DisconnectPacket  *mqttDisconnectInfo `json:"disconnectPacket"`
	}{s.byClient || !s.serverEnded, s.disconnect}
	s.mu.Unlock()
	b, _ := json.Marshal(v) // strings and numbers always encode
	return b
}

// markServerEnded records that the emulator closed the connection.
func (s *mqttSession) markServerEnded() {
	s.mu.Lock()
	s.serverEnded = true
	s.mu.Unlock()
}

// subscription returns the subscription of topic.
func (s *mqttSession) subscription(topic string) (mqttSub, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sub, ok := s.subs[topic]
	return sub, ok
}

// nextPacketID returns the next outbound packet id, never 0.
func (s *mqttSession) nextPacketID() uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range 1 << 16 {
		s.nextID++
		if s.nextID == 0 {
			s.nextID = 1
		}
		if !s.idInUseLocked(s.nextID) {
			break
		}
	} // (with every id in use, the next one is reused)
	return s.nextID
}

// idInUseLocked reports whether an outbound exchange still holds packet
// id. mu must be held.
func (s *mqttSession) idInUseLocked(id uint16) bool {
	_, unacked := s.unacked[id]
	_, inflight := s.inflight[id]
	_, released := s.released[id]
	return unacked || inflight || released
}

// setCode records the reason code the close will send, unless one was
// recorded already.
func (s *mqttSession) setCode(code byte) {
	s.mu.Lock()
	if s.code == 0 {
		s.code = code
	}
	s.mu.Unlock()
}

// disconnectPacket returns the DISCONNECT an MQTT 5 connection is sent
// when the emulator closes it, nil for MQTT 3.1.1 (which has no server
// DISCONNECT) or after the client's own DISCONNECT. Without a recorded
// code the close status chooses it: a normal close is an administrative
// action, going away a shutdown, a policy violation a quota exceeded.
func (s *mqttSession) disconnectPacket(status websocket.StatusCode, reason string) []byte {
	s.mu.Lock()
	byClient, code := s.byClient, s.code
	s.mu.Unlock()
	if s.version != mqttV5 || byClient {
		return nil
	}
	if code == 0 {
		switch status {
		case websocket.StatusNormalClosure:
			code = mqttAdministrativeAction
		case websocket.StatusGoingAway:
			code = mqttShuttingDown
		case websocket.StatusPolicyViolation:
			code = mqttQuotaExceeded
		case websocket.StatusMessageTooBig:
			code = mqttPacketTooLarge
		case websocket.StatusProtocolError:
			code = mqttProtocolError
		default:
			code = mqttUnspecified
		}
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: mqttV5, ReasonCode: code}
	pk.Properties.ReasonString = reason
	return encodeMQTT(&pk)
}

// serveMQTT is the MQTT endpoint /clients/mqtt/hubs/{hub}: the same
// handshake checks and token as the client endpoint, the WebSocket
// subprotocol mqtt, then a CONNECT packet that names the protocol level
// and the client id, which becomes the connection id.
func (e *Emulator) serveMQTT(w http.ResponseWriter, r *http.Request, hubName string) {
	if !e.admitHandshake(w, r, OperationConnect) {
		return
	}
	defer e.wg.Done()
	hubName, ok := validHub(w, hubName)
	if !ok {
		return
	}
	offered := offeredSubprotocols(r.Header)
	if !slices.ContainsFunc(offered, func(p string) bool { return strings.EqualFold(p, protocol.SubprotocolMQTT) }) {
		plainError(w, http.StatusBadRequest, "The MQTT endpoint requires the WebSocket subprotocol 'mqtt'.")
		return
	}
	id, ok := e.authenticateClient(w, r, r.URL.Query(), hubName)
	if !ok {
		return
	}
	var tr *transport
	ws, err := acceptWebSocket(w, r, protocol.SubprotocolMQTT, &tr)
	if err != nil {
		noteReason(w, "The WebSocket upgrade failed: "+err.Error())
		return // Accept has answered
	}
	pk, rest, why := e.readConnect(ws)
	if why != "" {
		e.trace.mqttRefused(hubName, r.URL.Path, "", mqttNoConnack, why)
		return
	}
	s := &mqttSession{version: pk.ProtocolVersion, physicalID: newConnectionID(), sessionID: newConnectionID()}
	clientID, code, why := validateConnect(&pk)
	if code != mqttSuccess {
		e.trace.mqttRefused(hubName, r.URL.Path, pk.Connect.ClientIdentifier, code, why)
		refuseMQTT(ws, s.version, code)
		return
	}
	s.assigned = clientID == ""
	if s.assigned {
		clientID = newConnectionID()
	}
	s.askedExpiry = s.version == mqttV5 && pk.Properties.SessionExpiryInterval > 0
	if s.version == mqttV5 {
		s.receiveMax, s.maxPacket = pk.Properties.ReceiveMaximum, pk.Properties.MaximumPacketSize
	}
	if pk.Connect.WillFlag {
		s.will = newWill(&pk)
	}
	s.connectInfo = newConnectInfo(&pk)
	s.keepAlive = time.Duration(pk.Connect.Keepalive) * 1500 * time.Millisecond
	c := e.newEndpointConn(r, hubName, clientID, id.userID, kindMQTT, ws.Subprotocol())
	c.mqtt = s
	c.setCodec()
	if h := c.systemHandler(SystemEventConnect); h != nil {
		res, status, body := e.connectUpstream(c, h, r, id, offered)
		if status != 0 {
			c.endLife()
			code, reason := connectFailure(s.version, status, body)
			e.trace.mqttRefused(hubName, r.URL.Path, clientID, code, connectRefusalReason(status, body))
			refuseMQTTWith(ws, s.version, code, reason)
			return
		}
		res.subprotocol = "" // an MQTT connection stays one
		res.apply(c, &id, offered)
		s.connackProps = res.mqttUserProperties
	}
	c.mu.Lock()
	c.upstream = true
	c.mu.Unlock()
	s.inbuf = rest
	s.expiry, s.retention = pk.Properties.SessionExpiryInterval, sessionRetention(s.version, pk.Properties.SessionExpiryInterval, e.retention)
	persist := (s.version == mqttV311 && !pk.Connect.Clean) || (s.version == mqttV5 && s.expiry > 0)
	if !pk.Connect.Clean {
		if old := e.resumable(hubName, clientID, s.version); old != nil {
			c.endLife() // the new connection is not used
			e.resumeMQTT(old, s, id, ws, r, &tr)
			return
		}
	}
	if persist {
		c.Reliable, c.ReconnectionToken = true, core.NewReconnectionToken()
		c.SetRetention(s.retention)
	}
	tr = newTransport(c, ws, r)
	e.takeOver(hubName, clientID)
	if !e.register(c, tr, id) {
		tr.cancel()
		code := connackOfStatus(s.version, http.StatusServiceUnavailable)
		e.trace.mqttRefused(hubName, r.URL.Path, clientID, code, reasonShutdown)
		refuseMQTT(ws, s.version, code)
		c.OnEnded(reasonShutdown)
		return
	}
	s.lastPacket.Store(e.now().UnixNano())
	if s.keepAlive > 0 {
		c.armKeepAlive(s.keepAlive)
	}
	e.log.Debug("connection connected", "hub", hubName, "connectionId", c.ID, "subprotocol", "mqtt")
	e.event(ConnectionConnected, c, "")
	c.connectedUpstream()
	tr.start()
}

// sessionRetention is how long the emulator keeps the persistent session
// of a CONNECT: its retention, or the MQTT 5 session expiry interval when
// that is shorter.
func sessionRetention(version byte, expiry uint32, retention time.Duration) time.Duration {
	if version == mqttV5 && expiry > 0 {
		return min(retention, time.Duration(expiry)*time.Second)
	}
	return retention
}

// resumable returns the persistent session of hub with the client id that
// a CONNECT of protocol level version may resume, or nil.
func (e *Emulator) resumable(hubName, id string, version byte) *conn {
	h := e.core.Hub(hubName)
	if h == nil {
		return nil
	}
	h.RLock()
	cc := h.ConnLocked(id)
	h.RUnlock()
	if cc == nil {
		return nil
	}
	old := ownerOf(cc)
	if old.mqtt == nil || !old.Reliable || old.mqtt.version != version {
		return nil
	}
	// FindRecoverable ends a session whose retention ran out.
	if e.core.FindRecoverable(hubName, id, old.ReconnectionToken) == nil {
		return nil
	}
	return old
}

// resumeMQTT attaches the WebSocket of a CONNECT to the persistent
// session old: the CONNACK says the session is present, then the
// messages buffered while it was away follow (those that were in flight
// with the DUP flag), its subscriptions and identity are those of the
// session, its permissions those of the new token (id). next holds what
// the CONNECT brought: its will, keep-alive, flow limits, expiry and the
// bytes after it. A network connection of the session that is still open
// is taken over: MQTT 5 sends it DISCONNECT 0x8E first, and its will
// (without a delay) is published. *trp is set to the new transport, which
// the WebSocket's pongs reach.
func (e *Emulator) resumeMQTT(old *conn, next *mqttSession, id clientIdentity, ws *websocket.Conn, r *http.Request, trp **transport) {
	s := old.mqtt
	if prev, ok := old.Endpoint().(*transport); ok && s.version == mqttV5 && prev.ws != nil {
		prev.takenOver.Store(true) // the client may close as soon as it reads the DISCONNECT
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Disconnect}, ProtocolVersion: mqttV5, ReasonCode: mqttSessionTakenOver}
		pk.Properties.ReasonString = reasonMQTTTakenOver
		ctx, cancel := context.WithTimeout(context.Background(), closeHandshakeTimeout)
		_ = prev.ws.Write(ctx, websocket.MessageBinary, encodeMQTT(&pk)) // Attach closes it next
		cancel()
	}
	if _, open := old.Endpoint().(*transport); open {
		// The taken-over network connection ends without DISCONNECT: its
		// will goes out, unless a will delay is still running, which the
		// resume ends (MQTT 5 §3.1.3.2.2).
		s.mu.Lock()
		due := s.will != nil && s.will.delay == 0
		s.mu.Unlock()
		if due {
			old.publishWill()
		}
	}
	old.SetRoles(id.roles, e.log)
	old.SetRetention(next.retention)
	s.mu.Lock()
	if s.stopWill != nil {
		s.stopWill() // resumed within the will delay: no will
		s.stopWill = nil
	}
	s.will, s.byClient, s.code, s.serverEnded, s.disconnect, s.ended = next.will, false, 0, false, nil, false
	s.present, s.assigned, s.askedExpiry, s.expiry = true, false, next.askedExpiry, next.expiry
	s.keepAlive, s.physicalID, s.connectInfo = next.keepAlive, next.physicalID, next.connectInfo
	s.retention, s.receiveMax, s.maxPacket = next.retention, next.receiveMax, next.maxPacket
	// The Receive Maximum counts anew on each network connection; what
	// was in flight or waiting is replayed from the session's buffer.
	s.resend, s.inflight, s.waiting, s.waitingBytes = s.inflight, nil, nil, 0
	s.mu.Unlock()
	old.proc.Lock()
	s.inbuf = next.inbuf
	old.proc.Unlock()
	tr := newTransport(old, ws, r)
	*trp = tr // the WebSocket's pongs go to it
	tr.Enqueue(old.connack())
	for _, id := range s.releasedIDs() {
		// MQTT §4.4: the PUBREL of a QoS 2 exchange cut after PUBREC.
		tr.Enqueue(mqttFrame(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, ProtocolVersion: s.version, PacketID: id}))
	}
	if !old.Attach(tr) {
		tr.cancel()
		code := connackOfStatus(s.version, http.StatusServiceUnavailable)
		e.trace.mqttRefused(old.HubName(), r.URL.Path, old.ID, code, reasonShutdown)
		refuseMQTT(ws, s.version, code)
		return
	}
	s.lastPacket.Store(e.now().UnixNano())
	if s.keepAlive > 0 {
		old.armKeepAlive(s.keepAlive)
	}
	e.log.Debug("MQTT session resumed", "hub", old.HubName(), "connectionId", old.ID)
	e.event(ConnectionRecovered, old, "")
	tr.start()
}

// connack is the successful CONNACK of c. An MQTT 5 client learns which
// features the service lacks (retained messages, wildcard and shared
// subscriptions), its assigned client id, and that its session ends with
// the connection.
func (c *conn) connack() core.Frame {
	s := c.mqtt
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: s.version, SessionPresent: s.present}
	if s.version == mqttV5 {
		p := &pk.Properties
		if s.assigned {
			p.AssignedClientID = c.ID
		}
		p.RetainAvailable, p.RetainAvailableFlag = 0, true
		p.WildcardSubAvailable, p.WildcardSubAvailableFlag = 0, true
		p.SharedSubAvailable, p.SharedSubAvailableFlag = 0, true
		p.SubIDAvailable, p.SubIDAvailableFlag = 1, true
		if s.askedExpiry {
			// A session outlives its connection for the service's
			// retention at most.
			p.SessionExpiryInterval, p.SessionExpiryIntervalFlag = min(s.expiry, uint32(s.retention/time.Second)), true
		}
		p.User = packetProperties(s.connackProps)
	}
	return mqttFrame(&pk)
}

// checkUpgrade answers a request that is not a WebSocket version 13
// upgrade and reports false.
func checkUpgrade(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		plainError(w, http.StatusMethodNotAllowed, "The client endpoint accepts only GET.")
		return false
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") || !headerHasToken(r.Header, "Upgrade", "websocket") {
		plainError(w, http.StatusBadRequest, "The client endpoint accepts only WebSocket upgrade requests.")
		return false
	}
	if r.Header.Get("Sec-WebSocket-Version") != "13" {
		w.Header().Set("Sec-WebSocket-Version", "13")
		plainError(w, http.StatusUpgradeRequired, "Only WebSocket version 13 is supported.")
		return false
	}
	return true
}

// readConnect reads the first packet, which must be a CONNECT, and
// returns it with the bytes that followed it in its WebSocket message.
// On failure the WebSocket is closed (without CONNACK for a packet that
// is not a CONNECT, as the protocol asks) and why says what went wrong;
// it is "" on success.
func (e *Emulator) readConnect(ws *websocket.Conn) (pk packets.Packet, rest []byte, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), mqttConnectTimeout)
	defer cancel()
	go func() {
		select {
		case <-e.shutdown:
			cancel()
		case <-ctx.Done():
		}
	}()
	ws.SetReadLimit(protocol.MaxFrameSize)
	var buf []byte
	for {
		typ, b, err := ws.Read(ctx)
		if err != nil {
			_ = ws.CloseNow()
			select {
			case <-e.shutdown:
				return pk, nil, reasonShutdown
			default:
			}
			if ctx.Err() != nil {
				return pk, nil, fmt.Sprintf("No CONNECT packet arrived within %v of the WebSocket upgrade.", mqttConnectTimeout)
			}
			return pk, nil, reasonMQTTEndedBeforeConnect
		}
		if typ != websocket.MessageBinary {
			_ = ws.Close(websocket.StatusUnsupportedData, reasonMQTTTextFrame)
			return pk, nil, reasonMQTTTextFrame
		}
		buf = append(buf, b...)
		if len(buf) > protocol.MaxFrameSize {
			_ = ws.Close(websocket.StatusMessageTooBig, reasonTooLarge)
			return pk, nil, reasonTooLarge
		}
		var n int
		pk, n, err = decodeMQTT(buf, 0)
		if err != nil || (n > 0 && pk.FixedHeader.Type != packets.Connect) {
			_ = ws.Close(websocket.StatusProtocolError, reasonMQTTMalformed)
			if err == nil {
				return pk, nil, reasonMQTTNotConnect
			}
			return pk, nil, reasonMQTTMalformed
		}
		if n > 0 {
			return pk, bytes.Clone(buf[n:]), ""
		}
	}
}

// validateConnect checks a CONNECT against the protocol and the
// service's limits. It returns the client id ("" when an MQTT 5 client
// asked for one to be assigned) and mqttSuccess, or the code of the
// refusal and why it was refused. A refusal 3.1.1 has no return code
// for is mqttNoConnack: the connection closes without a CONNACK, as that
// protocol asks.
func validateConnect(pk *packets.Packet) (id string, code byte, why string) {
	v := pk.ProtocolVersion
	if string(pk.Connect.ProtocolName) != "MQTT" || (v != mqttV311 && v != mqttV5) {
		return "", mqttV311BadProtocol, "Only MQTT 3.1.1 (protocol level 4) and 5.0 (level 5) are supported."
	}
	if pk.ConnectValidate() != packets.CodeSuccess {
		return "", refusal(v, mqttNoConnack, mqttProtocolError), "The CONNECT packet breaks the MQTT protocol."
	}
	if v == mqttV5 && pk.Properties.AuthenticationMethod != "" {
		// Enhanced authentication (MQTT 5 §4.12) is not supported.
		return "", mqttBadAuthenticationMethod, reasonMQTTAuth
	}
	id = pk.Connect.ClientIdentifier
	if id == "" && v == mqttV5 {
		return "", mqttSuccess, ""
	}
	if !validClientID(id) {
		return "", refusal(v, mqttV311IDRejected, mqttClientIDInvalid),
			fmt.Sprintf("The client id must have 1 to %d characters of 0-9, a-z and A-Z.", mqttMaxClientID)
	}
	if v == mqttV311 && (pk.Connect.Keepalive < mqttMinKeepAlive || pk.Connect.Keepalive > mqttMaxKeepAlive) {
		return "", refusal(v, mqttNoConnack, 0),
			fmt.Sprintf("An MQTT 3.1.1 keep-alive must be %d to %d seconds.", mqttMinKeepAlive, mqttMaxKeepAlive)
	}
	if pk.Connect.WillFlag {
		t := pk.Connect.WillTopic
		switch {
		case strings.IndexFunc(t, func(r rune) bool { return !unicode.IsSpace(r) }) < 0, utf8.RuneCountInString(t) > mqttMaxWillTopic,
			strings.ContainsAny(t, "+#"), names.Group(t) != "":
			return "", refusal(v, mqttNoConnack, mqttTopicNameInvalid), "The will topic is not a valid group name."
		case len(pk.Connect.WillPayload) > mqttMaxWillMessage:
			return "", refusal(v, mqttNoConnack, mqttPacketTooLarge), fmt.Sprintf("The will message is larger than %d bytes.", mqttMaxWillMessage)
		case pk.Connect.WillRetain:
			return "", refusal(v, mqttNoConnack, mqttRetainNotSupported), reasonMQTTRetain
		}
	}
	return id, mqttSuccess, ""
}

// connectRefusalReason says why a connect event handler's answer
// (status and body) refused a CONNECT.
func connectRefusalReason(status int, body string) string {
	if body == "" {
		return fmt.Sprintf("The connect event handler answered %d.", status)
	}
	return fmt.Sprintf("The connect event handler answered %d: %s", status, body)
}

// refusal picks the code of a refusal by protocol level.
func refusal(v, v311, v5 byte) byte {
	if v == mqttV5 {
		return v5
	}
	return v311
}

// validClientID reports whether id has 1 to 128 characters of 0-9, a-z
// and A-Z.
func validClientID(id string) bool {
	if id == "" || len(id) > mqttMaxClientID {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// connackOfStatus maps the HTTP status of a failed connect event (or of a
// refused registration) to a CONNACK code: 401 and 403 are not
// authorized, 503 server unavailable, anything else unspecified (3.1.1:
// server unavailable).
func connackOfStatus(v byte, status int) byte {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return refusal(v, mqttV311NotAuthorized, mqttNotAuthorized)
	case http.StatusServiceUnavailable:
		return refusal(v, mqttV311Unavailable, mqttServerUnavailable)
	}
	return refusal(v, mqttV311Unavailable, mqttUnspecified)
}

// connectFailure is the CONNACK code and reason of a connect event that
// failed with status and body: the handler's {"mqtt":{"code","reason"}}
// when it names a refusal code of the client's protocol level (an
// invalid code is "unspecified error", 0x80, or 0x03 for 3.1.1), else
// the code of the status.
func connectFailure(v byte, status int, body string) (byte, string) {
	var answer struct {
		MQTT *struct {
			Code   *int   `json:"code"`
			Reason string `json:"reason"`
		} `json:"mqtt"`
	}
	if json.Unmarshal([]byte(body), &answer) != nil || answer.MQTT == nil || answer.MQTT.Code == nil {
		return connackOfStatus(v, status), ""
	}
	code, reason := *answer.MQTT.Code, answer.MQTT.Reason
	if v == mqttV5 {
		if code < 0x80 || code > 0x9F {
			return mqttUnspecified, reason
		}
		return byte(code), reason
	}
	if code < 1 || code > 5 {
		return mqttV311Unavailable, ""
	}
	return byte(code), ""
}

// refuseMQTT sends a CONNACK with code (none for mqttNoConnack) and closes ws.
func refuseMQTT(ws *websocket.Conn, v byte, code byte) { refuseMQTTWith(ws, v, code, "") }

// refuseMQTTWith is refuseMQTT with a reason string for MQTT 5.
func refuseMQTTWith(ws *websocket.Conn, v byte, code byte, reason string) {
	if code != mqttNoConnack {
		if v != mqttV5 {
			v = mqttV311
		}
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: v, ReasonCode: code}
		pk.Properties.ReasonString = reason
		ctx, cancel := context.WithTimeout(context.Background(), closeHandshakeTimeout)
		err := ws.Write(ctx, websocket.MessageBinary, encodeMQTT(&pk))
		cancel()
		if err != nil {
			_ = ws.CloseNow()
			return
		}
	}
	closeAfter := time.AfterFunc(closeHandshakeTimeout, func() { _ = ws.CloseNow() })
	defer closeAfter.Stop()
	_ = ws.Close(websocket.StatusNormalClosure, "")
}

// newWill keeps the will of a CONNECT.
func newWill(pk *packets.Packet) *mqttWill {
	w := &mqttWill{topic: pk.Connect.WillTopic, payload: bytes.Clone(pk.Connect.WillPayload), dt: protocol.DataTypeBinary}
	w.pub.QoS = pk.Connect.WillQos
	if pk.ProtocolVersion == mqttV5 {
		p := &pk.Connect.WillProperties
		w.dt = dataTypeOfContent(p.ContentType)
		w.pub.ContentType = p.ContentType
		w.pub.UserProperties = userProperties(p.User)
		w.pub.ResponseTopic, w.pub.CorrelationData = p.ResponseTopic, bytes.Clone(p.CorrelationData)
		w.pub.ExpirySeconds = p.MessageExpiryInterval
		w.delay = time.Duration(p.WillDelayInterval) * time.Second
	}
	return w
}

// userProperties are a packet's MQTT 5 user properties as key/value
// pairs; nil for none.
func userProperties(in []packets.UserProperty) []core.KeyValue {
	if len(in) == 0 {
		return nil
	}
	out := make([]core.KeyValue, len(in))
	for i, u := range in {
		out[i] = core.KeyValue{Key: u.Key, Value: u.Val}
	}
	return out
}

// takeOver ends the connection of hub that has the client id, as MQTT
// does when a client connects again with the same id.
func (e *Emulator) takeOver(hubName, id string) {
	h := e.core.Hub(hubName)
	if h == nil {
		return
	}
	h.Lock()
	defer h.Unlock()
	old := h.ConnLocked(id)
	if old == nil {
		return
	}
	if oc := ownerOf(old); oc.mqtt != nil {
		oc.mqtt.setCode(mqttSessionTakenOver)
	}
	old.EndLocked(core.Ending{Code: int(websocket.StatusNormalClosure), Reason: reasonMQTTTakenOver})
}

// handleMQTT handles one WebSocket message of an MQTT connection: the
// packets it completes, in order.
func (c *conn) handleMQTT(typ websocket.MessageType, b []byte) {
	s := c.mqtt
	if typ != websocket.MessageBinary {
		c.mqttFail(mqttMalformed, websocket.StatusUnsupportedData, reasonMQTTTextFrame)
		return
	}
	s.inbuf = append(s.inbuf, b...)
	for len(s.inbuf) > 0 {
		pk, n, err := decodeMQTT(s.inbuf, s.version)
		if err == errMQTTTooLarge || (err == nil && n == 0 && len(s.inbuf) > protocol.MaxFrameSize) {
			c.mqttFail(mqttPacketTooLarge, websocket.StatusMessageTooBig, reasonTooLarge)
			return
		}
		if err != nil {
			c.mqttFail(mqttMalformed, websocket.StatusProtocolError, reasonMQTTMalformed)
			return
		}
		if n == 0 {
			break
		}
		next := s.inbuf[n:]
		s.lastPacket.Store(c.e.now().UnixNano())
		if !c.mqttPacket(&pk) {
			s.inbuf = nil
			return
		}
		s.inbuf = next
	}
	if len(s.inbuf) == 0 {
		s.inbuf = nil
	} else {
		s.inbuf = bytes.Clone(s.inbuf)
	}
}

// armKeepAlive arms the keep-alive check for d on the emulator's clock,
// replacing the one armed before.
func (c *conn) armKeepAlive(d time.Duration) {
	s := c.mqtt
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopKeepAlive != nil {
		s.stopKeepAlive() // a resumed session's earlier timer; a no-op when it fired
	}
	s.stopKeepAlive = nil
	if !s.ended {
		s.stopKeepAlive = c.e.clock.AfterFunc(d, c.keepAliveTick)
	}
}

// keepAliveTick closes a connection that sent no packet for one and a
// half keep-alive periods, as MQTT asks (MQTT 5: DISCONNECT 0x8D), and
// otherwise checks again when that time would be up.
func (c *conn) keepAliveTick() {
	s := c.mqtt
	s.mu.Lock()
	keepAlive := s.keepAlive // a resumed session changes it
	s.mu.Unlock()
	silence := time.Duration(c.e.now().UnixNano() - s.lastPacket.Load())
	if silence >= keepAlive && c.Reliable {
		// A lost network connection: the session stays.
		if tr, ok := c.Endpoint().(*transport); ok {
			tr.abort()
		}
		return
	}
	if silence >= keepAlive {
		c.mqttFail(mqttKeepAliveTimeout, websocket.StatusPolicyViolation, reasonMQTTKeepAlive)
		return
	}
	c.armKeepAlive(keepAlive - silence)
}

// mqttEnded stops the keep-alive of an ended connection.
func (s *mqttSession) mqttEnded() {
	s.mu.Lock()
	s.ended = true
	if s.stopKeepAlive != nil {
		s.stopKeepAlive()
		s.stopKeepAlive = nil
	}
	s.mu.Unlock()
}

// mqttAcknowledged releases, in a persistent session, the buffered
// messages up to the one the client acknowledged with packet id (MQTT
// acknowledges in order).
func (c *conn) mqttAcknowledged(id uint16) {
	if !c.Reliable {
		return
	}
	if seq, ok := c.mqtt.takeUnacked(id); ok {
		c.Acknowledge(seq)
		c.e.changes.Signal() // ConnectionInfo.Unacknowledged changed
	}
}

// mqttFail ends the connection after a protocol error, with code as the
// reason of the DISCONNECT (MQTT 5).
func (c *conn) mqttFail(code byte, status websocket.StatusCode, reason string) {
	c.mqtt.setCode(code)
	c.terminate(status, reason, false)
}

// mqttReply queues pk, a reply to the client's own packet.
func (c *conn) mqttReply(pk *packets.Packet) {
	pk.ProtocolVersion = c.mqtt.version
	c.Reply(mqttFrame(pk))
}

// mqttPacket handles one packet after the CONNECT. It reports false when
// the connection ended.
func (c *conn) mqttPacket(pk *packets.Packet) bool {
	s := c.mqtt
	switch pk.FixedHeader.Type {
	case packets.Publish:
		return c.mqttPublish(pk)
	case packets.Puback, packets.Pubcomp:
		c.mqttAcknowledged(pk.PacketID)
		c.mqttReleased(pk.PacketID)
		s.mu.Lock()
		delete(s.released, pk.PacketID)
		s.mu.Unlock()
	case packets.Pubrec:
		c.mqttAcknowledged(pk.PacketID)
		if pk.ReasonCode >= 0x80 {
			c.mqttReleased(pk.PacketID) // a refused QoS 2 message ends here
		} else if c.Reliable {
			s.mu.Lock()
			if s.released == nil {
				s.released = map[uint16]struct{}{}
			}
			s.released[pk.PacketID] = struct{}{}
			s.mu.Unlock()
		}
		c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrel, Qos: 1}, PacketID: pk.PacketID})
	case packets.Pubrel:
		delete(s.qos2, pk.PacketID)
		c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubcomp}, PacketID: pk.PacketID})
	case packets.Subscribe:
		if pk.SubscribeValidate() != packets.CodeSuccess {
			c.mqttFail(mqttProtocolError, websocket.StatusProtocolError, reasonMQTTMalformed)
			return false
		}
		c.mqttSubscribe(pk)
	case packets.Unsubscribe:
		if pk.UnsubscribeValidate() != packets.CodeSuccess {
			c.mqttFail(mqttProtocolError, websocket.StatusProtocolError, reasonMQTTMalformed)
			return false
		}
		c.mqttUnsubscribe(pk)
	case packets.Pingreq:
		c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	case packets.Disconnect:
		s.mu.Lock()
		s.byClient = true
		if !(s.version == mqttV5 && pk.ReasonCode == mqttDisconnectWithWill) {
			s.will = nil
		}
		s.disconnect = &mqttDisconnectInfo{Code: int(pk.ReasonCode), UserProperties: upstreamProperties(pk.Properties.User)}
		s.mu.Unlock()
		endSession := pk.Properties.SessionExpiryIntervalFlag && pk.Properties.SessionExpiryInterval == 0
		if s.version == mqttV5 && pk.Properties.SessionExpiryIntervalFlag && !endSession && c.Reliable {
			// MQTT 5 §3.14.2.2.2: the DISCONNECT sets the session's
			// expiry anew (still within the retention).
			r := sessionRetention(s.version, pk.Properties.SessionExpiryInterval, c.e.retention)
			s.mu.Lock()
			s.retention = r
			s.mu.Unlock()
			c.SetRetention(r)
		}
		if ep := c.Endpoint(); c.Reliable && !endSession && ep != nil {
			// The session stays for a later CONNECT.
			c.EndpointLost(ep, reasonMQTTDisconnected)
			return false
		}
		c.terminate(websocket.StatusNormalClosure, reasonMQTTDisconnected, false)
		return false
	case packets.Connect:
		c.mqttFail(mqttProtocolError, websocket.StatusProtocolError, reasonMQTTSecondConn)
		return false
	case packets.Auth:
		c.mqttFail(mqttBadAuthenticationMethod, websocket.StatusProtocolError, reasonMQTTAuth)
		return false
	default:
		c.mqttFail(mqttProtocolError, websocket.StatusProtocolError, reasonMQTTUnexpected)
		return false
	}
	return true
}

// mqttPublish publishes a client's PUBLISH to the group of its topic and
// acknowledges it as its quality of service asks. A PUBLISH the client
// may not send (no send permission, a topic that is no group name, a
// payload that does not match its JSON or text content type) is dropped;
// MQTT 5 says why in its PUBACK or PUBREC, MQTT 3.1.1, which has no way
// to, acknowledges it as if delivered.
func (c *conn) mqttPublish(pk *packets.Packet) bool {
	s := c.mqtt
	if pk.FixedHeader.Retain {
		c.mqttFail(mqttRetainNotSupported, websocket.StatusProtocolError, reasonMQTTRetain)
		return false
	}
	if pk.Properties.TopicAlias > 0 || pk.Properties.TopicAliasFlag {
		c.mqttFail(mqttTopicAliasInvalid, websocket.StatusProtocolError, reasonMQTTTopicAlias)
		return false
	}
	if pk.PublishValidate(0) != packets.CodeSuccess {
		c.mqttFail(mqttProtocolError, websocket.StatusProtocolError, reasonMQTTMalformed)
		return false
	}
	qos, topic := pk.FixedHeader.Qos, pk.TopicName
	code := mqttSuccess
	dt := protocol.DataTypeBinary
	if s.version == mqttV5 {
		dt = dataTypeOfContent(pk.Properties.ContentType)
	}
	switch {
	case names.Group(topic) != "":
		code = mqttTopicNameInvalid
	case !c.Allowed(core.PermSendToGroup, topic):
		code = mqttNotAuthorized
	case dt == protocol.DataTypeJSON && !json.Valid(pk.Payload), dt == protocol.DataTypeText && !utf8.Valid(pk.Payload):
		code = mqttPayloadFormatInvalid
	}
	duplicate := false
	if qos == 2 {
		_, duplicate = s.qos2[pk.PacketID]
	}
	if code == mqttSuccess && !duplicate {
		pub := &core.Published{QoS: qos}
		if s.version == mqttV5 {
			p := &pk.Properties
			pub.ContentType = p.ContentType
			pub.UserProperties = userProperties(p.User)
			pub.ResponseTopic, pub.CorrelationData = p.ResponseTopic, bytes.Clone(p.CorrelationData)
			pub.ExpirySeconds = p.MessageExpiryInterval
		}
		c.publishToGroup(topic, dt, bytes.Clone(pk.Payload), pub)
		if qos == 2 {
			if s.qos2 == nil {
				s.qos2 = map[uint16]struct{}{}
			}
			s.qos2[pk.PacketID] = struct{}{}
		}
	}
	if s.version != mqttV5 {
		code = mqttSuccess
	}
	switch qos {
	case 1:
		c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ReasonCode: code})
	case 2:
		c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pubrec}, PacketID: pk.PacketID, ReasonCode: code})
	}
	return true
}

// publishToGroup fans a message of c out to the members of group. An
// MQTT subscription of c with no-local leaves c out.
func (c *conn) publishToGroup(group string, dt protocol.DataType, data []byte, pub *core.Published) {
	m := newMessage(group, c.UserID, dt, data)
	m.Published = pub
	if pub.ExpirySeconds > 0 {
		m.TTL = time.Duration(pub.ExpirySeconds) * time.Second
		pub.ExpiresAt = c.e.now().Add(m.TTL)
	}
	sub, ok := c.mqtt.subscription(group)
	c.sendToGroup(m, ok && sub.noLocal, nil)
}

// mqttSubscribe joins the groups of a SUBSCRIBE's topic filters and
// answers with a SUBACK. A filter is refused when it is a shared
// subscription, has a wildcard, is no group name, lacks the join
// permission or would exceed the limit of groups; MQTT 3.1.1 has one
// failure code for all of them.
func (c *conn) mqttSubscribe(pk *packets.Packet) {
	s := c.mqtt
	id := 0
	if len(pk.Properties.SubscriptionIdentifier) > 0 {
		id = pk.Properties.SubscriptionIdentifier[0]
	}
	codes := make([]byte, len(pk.Filters))
	h := c.Hub()
	for i, f := range pk.Filters {
		code := mqttSuccess
		switch {
		case strings.HasPrefix(f.Filter, "$share/"):
			code = mqttSharedNotSupported
		case strings.ContainsAny(f.Filter, "+#"):
			code = mqttWildcardNotSupported
		case names.Group(f.Filter) != "":
			code = mqttTopicFilterInvalid
		case !c.Allowed(core.PermJoinLeaveGroup, f.Filter):
			code = mqttNotAuthorized
		}
		if code == mqttSuccess {
			granted := min(f.Qos, 2)
			h.Lock()
			s.mu.Lock()
			old, had := s.subs[f.Filter]
			if s.subs == nil {
				s.subs = map[string]mqttSub{}
			}
			s.subs[f.Filter] = mqttSub{qos: granted, id: id, noLocal: f.NoLocal}
			s.mu.Unlock()
			if !h.JoinIfRegisteredLocked(c.Conn, f.Filter) {
				code = mqttQuotaExceeded
				s.mu.Lock()
				if had {
					s.subs[f.Filter] = old
				} else {
					delete(s.subs, f.Filter)
				}
				s.mu.Unlock()
			}
			h.Unlock()
			if code == mqttSuccess {
				code = granted
			}
		}
		if s.version != mqttV5 && code > 2 {
			code = mqttV311SubscribeFailure
		}
		codes[i] = code
	}
	c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Suback}, PacketID: pk.PacketID, ReasonCodes: codes})
}

// mqttUnsubscribe leaves the groups of an UNSUBSCRIBE's topic filters
// and answers with an UNSUBACK; leaving needs the join permission too.
func (c *conn) mqttUnsubscribe(pk *packets.Packet) {
	codes := make([]byte, len(pk.Filters))
	h := c.Hub()
	for i, f := range pk.Filters {
		if !c.Allowed(core.PermJoinLeaveGroup, f.Filter) {
			codes[i] = mqttNotAuthorized
			continue
		}
		h.Lock()
		in := slices.Contains(c.GroupsLocked(), f.Filter)
		h.LeaveLocked(c.Conn, f.Filter)
		h.Unlock()
		if !in {
			codes[i] = mqttNoSubscriptionExisted
		}
	}
	c.mqttReply(&packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Unsuback}, PacketID: pk.PacketID, ReasonCodes: codes})
}

// mqttGroup keeps the subscriptions in step with the membership: leaving
// a group, by UNSUBSCRIBE or REST, drops its subscription. It runs with
// the hub lock held.
func (c *conn) mqttGroup(group string, joined bool) {
	if joined {
		return
	}
	s := c.mqtt
	s.mu.Lock()
	delete(s.subs, group)
	s.mu.Unlock()
}

// mqttDetached handles the loss of a persistent session's network
// connection: keep-alive stops, and the will is published, at once or,
// with an MQTT 5 will delay, when the delay (at most the retention) ends
// without a resume.
func (c *conn) mqttDetached() {
	s := c.mqtt
	s.mqttEnded()
	s.mu.Lock()
	w := s.will
	if w != nil && w.delay > 0 {
		if s.stopWill != nil {
			s.stopWill()
		}
		s.stopWill = c.e.clock.AfterFunc(min(w.delay, s.retention), func() {
			s.mu.Lock()
			due := s.will == w // not replaced by a resume
			s.mu.Unlock()
			if due {
				c.publishWill()
			}
		})
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	c.publishWill()
}

// publishWill publishes the will of an MQTT connection that ended
// without DISCONNECT (or with the MQTT 5 "disconnect with will" reason),
// when the connection may send to its topic. It runs in the background:
// the caller may hold the hub lock.
func (c *conn) publishWill() {
	s := c.mqtt
	s.mu.Lock()
	w := s.will
	s.will = nil
	if s.stopWill != nil {
		s.stopWill()
		s.stopWill = nil
	}
	s.mu.Unlock()
	if w == nil || !c.Allowed(core.PermSendToGroup, w.topic) || c.Hub() == nil {
		return
	}
	if !c.e.track() {
		return
	}
	go func() {
		defer c.e.wg.Done()
		pub := w.pub
		c.publishToGroup(w.topic, w.dt, w.payload, &pub)
		c.e.log.Debug("will published", "hub", c.HubName(), "connectionId", c.ID, "topic", c.e.cut(w.topic))
	}()
}
