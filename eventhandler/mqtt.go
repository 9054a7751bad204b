package eventhandler

import "github.com/gowebpubsub/webpubsub/internal/cloudevents"

// MQTTContext identifies an MQTT connection. ConnectionContext.MQTT is
// non-nil only for MQTT connections.
type MQTTContext struct {
	// PhysicalConnectionID is ce-physicalConnectionId: the id of the
	// network connection, which changes when the client reconnects.
	PhysicalConnectionID string
	// SessionID is ce-sessionId: the MQTT session. The service sends it on
	// every event except connect, where it is "".
	SessionID string
}

// MQTTUserProperty is one MQTT 5 user property: a Name and a Value
// (names may repeat).
type MQTTUserProperty = cloudevents.MQTTUserProperty

// MQTTConnectProperties are the properties of an MQTT CONNECT packet, sent
// in the "mqtt" object of a connect request.
type MQTTConnectProperties struct {
	// ProtocolVersion is 4 for MQTT 3.1.1 and 5 for MQTT 5.0.
	ProtocolVersion int
	// CleanStart is the Clean Start (MQTT 5) or Clean Session (3.1.1) flag.
	CleanStart bool
	// Username is the user name of the packet; "" when absent.
	Username string
	// Password is the password of the packet, base64-decoded; nil when
	// absent.
	Password []byte
	// UserProperties are the packet's user properties (MQTT 5); nil when
	// absent.
	UserProperties []MQTTUserProperty
}

// MQTTConnectResponseProperties are the MQTT-specific fields of a connect
// response.
type MQTTConnectResponseProperties struct {
	// UserProperties are sent to the client in the CONNACK packet (MQTT 5).
	UserProperties []MQTTUserProperty `json:"userProperties,omitempty"`
}

// MQTTDisconnectedProperties are the MQTT details of a disconnected event.
type MQTTDisconnectedProperties struct {
	// InitiatedByClient reports whether the client ended the connection.
	InitiatedByClient bool
	// DisconnectPacket is the client's DISCONNECT packet; nil when there
	// was none (for example after a network failure).
	DisconnectPacket *MQTTDisconnectPacket
}

// MQTTDisconnectPacket is the content of an MQTT DISCONNECT packet.
type MQTTDisconnectPacket struct {
	// Code is the DISCONNECT reason code (MQTT 5; 0 is a normal
	// disconnection).
	Code int `json:"code"`
	// UserProperties are the packet's user properties (MQTT 5).
	UserProperties []MQTTUserProperty `json:"userProperties"`
}

// mqttConnectBody is the "mqtt" object of a connect request.
type mqttConnectBody cloudevents.MQTTConnect

func (b *mqttConnectBody) properties() (*MQTTConnectProperties, error) {
	p := &MQTTConnectProperties{
		ProtocolVersion: b.ProtocolVersion,
		CleanStart:      b.CleanStart,
		UserProperties:  b.UserProperties,
	}
	if b.Username != nil {
		p.Username = *b.Username
	}
	if b.Password != nil {
		pw, ok := decodeBase64Field(*b.Password)
		if !ok {
			return nil, badRequest("the request body's field \"mqtt.password\" is not base64")
		}
		p.Password = pw
	}
	return p, nil
}

type mqttDisconnectedProps struct {
	InitiatedByClient bool                  `json:"initiatedByClient"`
	DisconnectPacket  *MQTTDisconnectPacket `json:"disconnectPacket"`
}

func (b *mqttDisconnectedProps) properties() *MQTTDisconnectedProperties {
	return &MQTTDisconnectedProperties{InitiatedByClient: b.InitiatedByClient, DisconnectPacket: b.DisconnectPacket}
}

// mqttConnectCode maps an HTTP rejection status of a connect event to the
// MQTT CONNACK code, as @azure/web-pubsub-express does: MQTT 3.1.1 return
// codes for protocol version 3 and 4, MQTT 5 reason codes otherwise.
func mqttConnectCode(status, protocolVersion int) int {
	v5 := protocolVersion >= 5
	switch status {
	case 400: // bad user name or password / malformed
		if v5 {
			return 0x86
		}
		return 4
	case 401, 403: // not authorized
		if v5 {
			return 0x87
		}
		return 5
	default: // server unavailable / unspecified
		if v5 {
			return 0x80
		}
		return 3
	}
}
