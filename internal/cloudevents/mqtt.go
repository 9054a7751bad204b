package cloudevents

// MQTTUserProperty is one MQTT 5 user property in an event body or a
// connect response (a name/value pair; names may repeat).
type MQTTUserProperty struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// MQTTConnect is the "mqtt" object of the connect event of an MQTT
// connection: the CONNECT packet's protocol level (4 for 3.1.1, 5 for
// 5.0), clean start flag, user name and password (base64; nil when the
// packet has none) and user properties.
type MQTTConnect struct {
	ProtocolVersion int                `json:"protocolVersion"`
	CleanStart      bool               `json:"cleanStart"`
	Username        *string            `json:"username"`
	Password        *string            `json:"password"`
	UserProperties  []MQTTUserProperty `json:"userProperties"`
}
