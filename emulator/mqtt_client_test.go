package emulator_test

// Tests of the MQTT endpoint with real MQTT client libraries: Eclipse
// Paho's github.com/eclipse/paho.mqtt.golang for MQTT 3.1.1 and
// github.com/eclipse/paho.golang for MQTT 5.0, each over a WebSocket
// opened with coder/websocket and a token from the ServiceClient. The
// byte-level details that no client lets a test express (a malformed
// packet, a second CONNECT, a topic alias the client would not send) are
// tested by the hand-driven packets of mqtt_test.go.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	pahopackets "github.com/eclipse/paho.golang/packets"
	"github.com/eclipse/paho.golang/paho"
	"github.com/eclipse/paho.golang/paho/log"
	mqtt311 "github.com/eclipse/paho.mqtt.golang"

	"github.com/gowebpubsub/webpubsub"
	"github.com/gowebpubsub/webpubsub/emulator"
	"github.com/gowebpubsub/webpubsub/eventhandler"
	"github.com/gowebpubsub/webpubsub/webpubsubclient"
)

const (
	mqttHub     = "chat"
	mqttTimeout = 10 * time.Second
	// serverTopic is the topic of messages sent to all, a user or a
	// connection.
	serverTopic = "$webpubsub/server/messages"
)

// Roles of the tests' connections.
var (
	roleJoin = "webpubsub.joinLeaveGroup"
	roleSend = "webpubsub.sendToGroup"
)

// mqttEnv is an emulator with a service client of its hub.
type mqttEnv struct {
	t   *testing.T
	e   *emulator.Emulator
	svc *webpubsub.ServiceClient
}

func newMQTTEnv(t *testing.T, opts ...emulator.Option) *mqttEnv {
	t.Helper()
	e := emulator.NewTest(t, opts...)
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), mqttHub, nil)
	if err != nil {
		t.Fatal(err)
	}
	return &mqttEnv{t: t, e: e, svc: svc}
}

// with returns env for the subtest t.
func (env *mqttEnv) with(t *testing.T) *mqttEnv {
	c := *env
	c.t = t
	return &c
}

// ctx is a context for one step of a test.
func (env *mqttEnv) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
	env.t.Cleanup(cancel)
	return ctx
}

// mqttURL is an MQTT client access URL from the service client, for a
// connection with roles.
func (env *mqttEnv) mqttURL(roles ...string) string {
	env.t.Helper()
	tok, err := env.svc.GetClientAccessToken(env.ctx(), &webpubsub.GetClientAccessTokenOptions{ClientProtocol: webpubsub.ClientProtocolMQTT, Roles: roles})
	if err != nil {
		env.t.Fatalf("GetClientAccessToken: %v", err)
	}
	return tok.URL
}

// dialMQTT opens the WebSocket of an MQTT client URL with the subprotocol
// mqtt, as a net.Conn of binary messages, closed when the test ends.
func dialMQTT(t testing.TB, u string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err != nil {
		return nil, errors.New("dialing the MQTT endpoint failed") // err would repeat the URL and its token
	}
	ws.SetReadLimit(-1)
	nc := websocket.NetConn(context.Background(), ws, websocket.MessageBinary)
	t.Cleanup(func() { _ = nc.Close() })
	return nc, nil
}

// waitState waits until the connection id is attached (detached false)
// or detached.
func (env *mqttEnv) waitState(id string, detached bool) {
	env.t.Helper()
	_, err := env.e.WaitConnection(env.ctx(), mqttHub, func(c emulator.ConnectionInfo) bool { return c.ID == id && c.Detached == detached })
	if err != nil {
		env.t.Fatalf("waiting for %s (detached %v): %v", id, detached, err)
	}
}

// waitGone waits until the connection id has ended.
func (env *mqttEnv) waitGone(id string) {
	env.t.Helper()
	err := env.e.Wait(env.ctx(), func() bool {
		_, err := env.e.Connection(mqttHub, id)
		return errors.Is(err, emulator.ErrConnectionNotFound)
	})
	if err != nil {
		env.t.Fatalf("waiting for %s to end: %v", id, err)
	}
}

// mqttOpts are the choices of a test's CONNECT.
type mqttOpts struct {
	roles []string
	// persistent asks for a session that outlives the connection (MQTT
	// 3.1.1: Clean Session 0; MQTT 5: Clean Start 0 and expiry, 60 s
	// unless set).
	persistent bool
	expiry     *uint32
	will       *mqttWillOpts
	// manualAck leaves QoS 1 and 2 messages unacknowledged until their
	// ack is called.
	manualAck bool
	// receiveMax and maxPacket are the MQTT 5 Receive Maximum and
	// Maximum Packet Size; 0 for none.
	receiveMax uint16
	maxPacket  uint32
	// keepAlive in seconds; 0 means 60.
	keepAlive uint16
	// noPing keeps the MQTT 5 client from pinging: Paho's default pinger
	// may send a PINGREQ right after the CONNACK (it runs at once, before
	// it has seen a packet received), which a test on the emulator's
	// fake clock cannot order.
	noPing bool
	// username and password, sent when username is not "".
	username, password string
}

type mqttWillOpts struct {
	topic, payload string
	qos            byte
}

// received is a PUBLISH a test client got.
type received struct {
	topic, payload, contentType string
	qos                         byte
	dup                         bool
	// expiry is the MQTT 5 message expiry interval, nil for none.
	expiry *uint32
	ack    func()
}

// mqttTestClient is what the tests do with an MQTT client of either
// protocol level.
type mqttTestClient interface {
	// subscribe subscribes to topic and returns the SUBACK code.
	subscribe(topic string, qos byte) byte
	// publish publishes and returns the PUBACK or PUBREC code (always 0
	// for MQTT 3.1.1 and for QoS 0).
	publish(topic string, qos byte, payload string) byte
	// next returns the next PUBLISH received.
	next() received
	// closed is done when the network connection ended.
	closed() <-chan struct{}
	// disconnect sends DISCONNECT.
	disconnect()
}

// mqttLevels are the protocol levels the tests run with.
var mqttLevels = []struct {
	name    string
	version byte
}{{"3.1.1", 4}, {"5.0", 5}}

// connect connects a client of protocol level version with the client
// id and returns it with the CONNACK code; the client is nil when the
// CONNECT was refused (code 0xFF: closed without CONNACK).
func (env *mqttEnv) connect(version byte, id string, o mqttOpts) (mqttTestClient, byte) {
	env.t.Helper()
	if version == 5 {
		c, ca := env.connect5(id, o)
		if c == nil {
			if ca == nil {
				return nil, 0xFF
			}
			return nil, ca.ReasonCode
		}
		return c, 0
	}
	return env.connect311(version, id, o)
}

// mustConnect connects a client that must be accepted and waits until it
// is attached.
func (env *mqttEnv) mustConnect(version byte, id string, o mqttOpts) mqttTestClient {
	env.t.Helper()
	c, code := env.connect(version, id, o)
	if c == nil {
		env.t.Fatalf("CONNECT %s refused with %#x", id, code)
	}
	env.waitState(id, false)
	return c
}

// client311 is a Paho MQTT 3.1.1 client.
type client311 struct {
	t        testing.TB
	c        mqtt311.Client
	msgs     chan received
	lost     chan struct{}
	lostOnce sync.Once
}

func (env *mqttEnv) connect311(version byte, id string, o mqttOpts) (*client311, byte) {
	env.t.Helper()
	u := env.mqttURL(o.roles...)
	c := &client311{t: env.t, msgs: make(chan received, 100), lost: make(chan struct{})}
	keepAlive := time.Duration(cmp(o.keepAlive, 60)) * time.Second
	opts := mqtt311.NewClientOptions().AddBroker(env.e.URL()).SetClientID(id).SetProtocolVersion(uint(version)).
		SetCleanSession(!o.persistent).SetAutoReconnect(false).SetConnectRetry(false).SetResumeSubs(false).
		SetKeepAlive(keepAlive).SetConnectTimeout(mqttTimeout).SetAutoAckDisabled(o.manualAck).
		SetCustomOpenConnectionFn(func(*url.URL, mqtt311.ClientOptions) (net.Conn, error) { return dialMQTT(env.t, u) }).
		SetConnectionLostHandler(func(mqtt311.Client, error) { c.markLost() }).
		SetDefaultPublishHandler(func(_ mqtt311.Client, m mqtt311.Message) {
			c.msgs <- received{topic: m.Topic(), payload: string(m.Payload()), qos: m.Qos(), dup: m.Duplicate(), ack: m.Ack}
		})
	if o.will != nil {
		opts.SetWill(o.will.topic, o.will.payload, o.will.qos, false)
	}
	if o.username != "" {
		opts.SetUsername(o.username).SetPassword(o.password)
	}
	c.c = mqtt311.NewClient(opts)
	tok := c.c.Connect()
	if !tok.WaitTimeout(mqttTimeout) {
		env.t.Fatal("CONNECT timed out")
	}
	if tok.Error() != nil {
		code := tok.(*mqtt311.ConnectToken).ReturnCode()
		if code == 0 || code == 0xFE { // no CONNACK: the network connection closed
			code = 0xFF
		}
		return nil, code
	}
	env.t.Cleanup(func() { c.c.Disconnect(0) })
	return c, 0
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }

// cmp returns v, or def when v is zero.
func cmp[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

func (c *client311) wait(tok mqtt311.Token) {
	c.t.Helper()
	if !tok.WaitTimeout(mqttTimeout) {
		c.t.Fatal("no answer from the emulator")
	}
}

func (c *client311) subscribe(topic string, qos byte) byte {
	c.t.Helper()
	tok := c.c.Subscribe(topic, qos, nil)
	c.wait(tok)
	for _, code := range tok.(*mqtt311.SubscribeToken).Result() {
		return code // one filter: one code (keyed by the filter without a $share prefix)
	}
	c.t.Fatal("SUBACK without a code")
	return 0
}

func (c *client311) publish(topic string, qos byte, payload string) byte {
	c.t.Helper()
	tok := c.c.Publish(topic, qos, false, payload)
	c.wait(tok)
	if err := tok.Error(); err != nil {
		c.t.Fatalf("PUBLISH: %v", err)
	}
	return 0
}

func (c *client311) next() received { return nextMessage(c.t, c.msgs) }

func (c *client311) closed() <-chan struct{} { return c.lost }

// disconnect sends DISCONNECT; Paho waits up to a second for it to be
// written (it returns as soon as it was), then closes the connection.
func (c *client311) disconnect() {
	c.c.Disconnect(1000)
	c.markLost() // Paho calls no handler for a connection it closed
}

func (c *client311) markLost() { c.lostOnce.Do(func() { close(c.lost) }) }

// client5 is a Paho MQTT 5 client.
type client5 struct {
	t     testing.TB
	c     *paho.Client
	msgs  chan received
	disc  chan *paho.Disconnect
	conn  net.Conn
	props *paho.ConnackProperties
}

// silentPinger is a paho.Pinger that never pings.
type silentPinger struct{}

func (silentPinger) Run(ctx context.Context, _ net.Conn, _ uint16) error {
	<-ctx.Done()
	return nil
}
func (silentPinger) PacketSent()         {}
func (silentPinger) PacketReceived()     {}
func (silentPinger) PingResp()           {}
func (silentPinger) SetDebug(log.Logger) {}

// pingerFor is the MQTT 5 client's pinger for o: nil (Paho's default)
// unless o.noPing.
func pingerFor(o mqttOpts) paho.Pinger {
	if o.noPing {
		return silentPinger{}
	}
	return nil
}

func (env *mqttEnv) connect5(id string, o mqttOpts) (*client5, *paho.Connack) {
	env.t.Helper()
	conn, err := dialMQTT(env.t, env.mqttURL(o.roles...))
	if err != nil {
		env.t.Fatal(err)
	}
	c := &client5{t: env.t, msgs: make(chan received, 100), disc: make(chan *paho.Disconnect, 1), conn: conn}
	c.c = paho.NewClient(paho.ClientConfig{
		Conn:                       pahopackets.NewThreadSafeConn(conn),
		EnableManualAcknowledgment: o.manualAck,
		OnServerDisconnect:         func(d *paho.Disconnect) { c.disc <- d },
		PingHandler:                pingerFor(o),
		OnPublishReceived: []func(paho.PublishReceived) (bool, error){func(pr paho.PublishReceived) (bool, error) {
			p := pr.Packet
			r := received{topic: p.Topic, payload: string(p.Payload), qos: p.QoS, dup: p.Duplicate()}
			if p.Properties != nil {
				r.contentType, r.expiry = p.Properties.ContentType, p.Properties.MessageExpiry
			}
			if o.manualAck {
				r.ack = func() { _ = pr.Client.Ack(p) }
			}
			c.msgs <- r
			return true, nil
		}},
	})
	cp := &paho.Connect{ClientID: id, KeepAlive: cmp(o.keepAlive, 60), CleanStart: !o.persistent, Properties: &paho.ConnectProperties{}}
	if o.persistent {
		exp := uint32(60)
		cp.Properties.SessionExpiryInterval = &exp
	}
	if o.expiry != nil {
		cp.Properties.SessionExpiryInterval = o.expiry
	}
	if o.receiveMax > 0 {
		cp.Properties.ReceiveMaximum = &o.receiveMax
	}
	if o.maxPacket > 0 {
		cp.Properties.MaximumPacketSize = &o.maxPacket
	}
	if o.will != nil {
		cp.WillMessage = &paho.WillMessage{Topic: o.will.topic, Payload: []byte(o.will.payload), QoS: o.will.qos}
	}
	if o.username != "" {
		cp.Username, cp.UsernameFlag = o.username, true
		cp.Password, cp.PasswordFlag = []byte(o.password), true
	}
	ca, err := c.c.Connect(env.ctx(), cp)
	if err != nil {
		return nil, ca
	}
	c.props = ca.Properties
	env.t.Cleanup(func() { _ = c.c.Disconnect(&paho.Disconnect{}) })
	return c, ca
}

func (c *client5) subscribe(topic string, qos byte) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
	defer cancel()
	sa, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: topic, QoS: qos}}})
	if sa == nil {
		c.t.Fatalf("SUBSCRIBE %q: %v", topic, err)
	}
	return sa.Reasons[0]
}

func (c *client5) publish(topic string, qos byte, payload string) byte {
	c.t.Helper()
	return c.publishWith(&paho.Publish{Topic: topic, QoS: qos, Payload: []byte(payload)})
}

func (c *client5) publishWith(p *paho.Publish) byte {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
	defer cancel()
	r, err := c.c.Publish(ctx, p)
	if r == nil {
		c.t.Fatalf("PUBLISH: %v", err)
	}
	return r.ReasonCode
}

func (c *client5) next() received { return nextMessage(c.t, c.msgs) }

func (c *client5) closed() <-chan struct{} { return c.c.Done() }

func (c *client5) disconnect() { _ = c.c.Disconnect(&paho.Disconnect{}) }

// serverDisconnect waits for the DISCONNECT the emulator sends.
func (c *client5) serverDisconnect() *paho.Disconnect {
	c.t.Helper()
	return receive(c.t, c.disc, "DISCONNECT from the emulator")
}

// nextMessage returns the next message of msgs.
func nextMessage(t testing.TB, msgs chan received) received {
	t.Helper()
	return receive(t, msgs, "PUBLISH")
}

// receive returns the next value of ch, failing the test when none comes
// in time; what names it in the failure.
func receive[T any](t testing.TB, ch chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(mqttTimeout):
		t.Fatalf("no %s arrived", what)
		var zero T
		return zero
	}
}

// expectPayloads reads messages until it got each of want once (in any
// order), failing on any other.
func expectPayloads(t testing.TB, c mqttTestClient, want ...string) {
	t.Helper()
	left := slices.Clone(want)
	for len(left) > 0 {
		m := c.next()
		i := slices.Index(left, m.payload)
		if i < 0 {
			t.Fatalf("got %q; want one of %q", m.payload, left)
		}
		left = slices.Delete(left, i, i+1)
	}
}

// expectClosed waits until c's network connection ended.
func expectClosed(t testing.TB, c mqttTestClient) {
	t.Helper()
	select {
	case <-c.closed():
	case <-time.After(mqttTimeout):
		t.Fatal("the connection is still open")
	}
}

// sendToGroup sends text to group with the service client.
func (env *mqttEnv) sendToGroup(group string, msg webpubsub.Message) {
	env.t.Helper()
	if _, err := env.svc.SendToGroup(env.ctx(), group, msg, nil); err != nil {
		env.t.Fatalf("SendToGroup: %v", err)
	}
}

// jsonMember is a webpubsubclient JSON-subprotocol client in groups.
type jsonMember struct {
	t    testing.TB
	c    *webpubsubclient.Client
	msgs chan webpubsubclient.GroupMessage
}

func (env *mqttEnv) jsonMember(groups ...string) *jsonMember {
	env.t.Helper()
	m := &jsonMember{t: env.t, msgs: make(chan webpubsubclient.GroupMessage, 100)}
	c, err := webpubsubclient.New(webpubsubclient.URLFunc(func(ctx context.Context) (string, error) {
		tok, err := env.svc.GetClientAccessToken(ctx, &webpubsub.GetClientAccessTokenOptions{Groups: groups, Roles: []string{roleSend}})
		return tok.URL, err
	}), &webpubsubclient.Options{Protocol: webpubsubclient.ProtocolJSON, DisableAutoReconnect: true})
	if err != nil {
		env.t.Fatal(err)
	}
	c.OnGroupMessage(func(g webpubsubclient.GroupMessage) { m.msgs <- g })
	if err := c.Start(env.ctx()); err != nil {
		env.t.Fatalf("Start: %v", err)
	}
	env.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
		defer cancel()
		_ = c.Stop(ctx)
	})
	m.c = c
	return m
}

func (m *jsonMember) next() webpubsubclient.GroupMessage {
	m.t.Helper()
	return receive(m.t, m.msgs, "group message")
}

// idOf makes a client id of the test's name and the protocol level.
func idOf(prefix, level string) string { return prefix + strings.ReplaceAll(level, ".", "") }

func TestMQTTClientConnect(t *testing.T) {
	env := newMQTTEnv(t)
	const closed = 0xFF // closed without CONNACK
	tests := []struct {
		name     string
		id       string
		o        mqttOpts
		version  byte // another protocol level than the client's
		v311, v5 byte
	}{
		{name: "accepted", id: "device1"},
		{name: "longest client id", id: strings.Repeat("d", 128)},
		{name: "client id too long", id: strings.Repeat("d", 129), v311: 0x02, v5: 0x85},
		{name: "client id with a dash", id: "dev-1", v311: 0x02, v5: 0x85},
		{name: "keep-alive 180", id: "ka180", o: mqttOpts{keepAlive: 180}},
		{name: "keep-alive 181", id: "ka181", o: mqttOpts{keepAlive: 181}, v311: closed},
		{name: "will", id: "will1", o: mqttOpts{will: &mqttWillOpts{topic: "status", payload: "gone"}}},
		{name: "will message of 2000 bytes", id: "will2", o: mqttOpts{will: &mqttWillOpts{topic: "status", payload: strings.Repeat("w", 2000)}}},
		{name: "will message too large", id: "will3", o: mqttOpts{will: &mqttWillOpts{topic: "status", payload: strings.Repeat("w", 2001)}}, v311: closed, v5: 0x95},
		{name: "will topic too long", id: "will4", o: mqttOpts{will: &mqttWillOpts{topic: strings.Repeat("t", 1025), payload: "gone"}}, v311: closed, v5: 0x90},
		{name: "blank will topic", id: "will5", o: mqttOpts{will: &mqttWillOpts{topic: "  ", payload: "gone"}}, v311: closed, v5: 0x90},
		{name: "MQTT 3.1", id: "old", version: 3, v311: 0x01},
	}
	for _, l := range mqttLevels {
		for _, tc := range tests {
			if tc.version != 0 && l.version == 5 {
				continue // paho.golang speaks only 5.0
			}
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				env := env.with(t)
				want := tc.v311
				if l.version == 5 {
					want = tc.v5
				}
				c, code := env.connect(cmp(tc.version, l.version), tc.id, tc.o)
				if code != want {
					t.Fatalf("CONNACK code %#x; want %#x", code, want)
				}
				if want != 0 {
					if _, err := env.e.Connection(mqttHub, tc.id); !errors.Is(err, emulator.ErrConnectionNotFound) {
						t.Fatalf("a refused CONNECT left the connection %s: %v", tc.id, err)
					}
					return
				}
				// The client id is the connection id.
				ok, err := env.svc.ConnectionExists(env.ctx(), tc.id, nil)
				if err != nil || !ok {
					t.Fatalf("ConnectionExists(%s): %v, %v", tc.id, ok, err)
				}
				c.disconnect()
				env.waitGone(tc.id)
			})
		}
	}

	t.Run("5.0/assigned client id", func(t *testing.T) {
		env := env.with(t)
		c, ca := env.connect5("", mqttOpts{})
		if c == nil {
			t.Fatalf("CONNECT without a client id refused: %+v", ca)
		}
		id := ca.Properties.AssignedClientID
		if ok, err := env.svc.ConnectionExists(env.ctx(), id, nil); id == "" || err != nil || !ok {
			t.Fatalf("assigned client id %q is no connection: %v, %v", id, ok, err)
		}
		p := ca.Properties
		if p.RetainAvailable || p.WildcardSubAvailable || p.SharedSubAvailable || !p.SubIDAvailable {
			t.Errorf("CONNACK features %+v; want no retain, wildcard or shared subscriptions, subscription ids", p)
		}
	})
	t.Run("3.1.1/empty client id", func(t *testing.T) {
		env := env.with(t)
		if _, code := env.connect(4, "", mqttOpts{}); code != 0x02 {
			t.Fatalf("CONNACK code %#x; want 0x02", code)
		}
	})
}

func TestMQTTClientSubscribe(t *testing.T) {
	env := newMQTTEnv(t)
	roles := []string{"webpubsub.joinLeaveGroup.g1", "webpubsub.joinLeaveGroups.team-*"}
	tests := []struct {
		name     string
		filter   string
		qos      byte
		v311, v5 byte
	}{
		{name: "QoS 0", filter: "g1", qos: 0, v311: 0, v5: 0},
		{name: "QoS 1", filter: "g1", qos: 1, v311: 1, v5: 1},
		{name: "QoS 2", filter: "g1", qos: 2, v311: 2, v5: 2},
		{name: "wildcard group role", filter: "team-red", qos: 1, v311: 1, v5: 1},
		{name: "no join permission", filter: "g2", qos: 1, v311: 0x80, v5: 0x87},
		{name: "blank filter", filter: " ", qos: 1, v311: 0x80, v5: 0x8F},
		// paho.golang does not send the next two: the CONNACK said the
		// features are unavailable (TestMQTTClientFeaturesRefusedByClient).
		{name: "wildcard filter", filter: "g1/+", qos: 1, v311: 0x80},
		{name: "multi-level wildcard", filter: "#", qos: 1, v311: 0x80},
		{name: "shared subscription", filter: "$share/s/g1", qos: 1, v311: 0x80},
	}
	for _, l := range mqttLevels {
		t.Run(l.name, func(t *testing.T) {
			env := env.with(t)
			id := idOf("sub", l.name)
			c := env.mustConnect(l.version, id, mqttOpts{roles: roles})
			for _, tc := range tests {
				if l.version == 5 && tc.v5 == 0 && tc.v311 != 0 {
					continue
				}
				want := tc.v311
				if l.version == 5 {
					want = tc.v5
				}
				if got := c.subscribe(tc.filter, tc.qos); got != want {
					t.Errorf("%s: SUBACK %#x; want %#x", tc.name, got, want)
				}
			}
			// The accepted subscriptions are group memberships.
			for g, want := range map[string]bool{"g1": true, "team-red": true, "g2": false} {
				if got := slices.Contains(env.e.GroupMembers(mqttHub, g), id); got != want {
					t.Errorf("member of %s: %v; want %v", g, got, want)
				}
			}
		})
	}
}

// TestMQTTClientFeaturesRefusedByClient: the MQTT 5 CONNACK says that
// wildcard and shared subscriptions and retained messages are
// unavailable, and paho.golang refuses to send them.
func TestMQTTClientFeaturesRefusedByClient(t *testing.T) {
	env := newMQTTEnv(t)
	c, _ := env.connect5("features", mqttOpts{roles: []string{roleJoin, roleSend}})
	if c == nil {
		t.Fatal("CONNECT refused")
	}
	ctx := env.ctx()
	for _, f := range []string{"g/+", "#", "$share/s/g"} {
		if _, err := c.c.Subscribe(ctx, &paho.Subscribe{Subscriptions: []paho.SubscribeOptions{{Topic: f, QoS: 1}}}); !errors.Is(err, paho.ErrInvalidArguments) {
			t.Errorf("SUBSCRIBE %q: %v; want the client's refusal", f, err)
		}
	}
	if _, err := c.c.Publish(ctx, &paho.Publish{Topic: "g", Retain: true, Payload: []byte("r")}); !errors.Is(err, paho.ErrInvalidArguments) {
		t.Errorf("retained PUBLISH: %v; want the client's refusal", err)
	}
}

func TestMQTTClientPublish(t *testing.T) {
	env := newMQTTEnv(t)
	tests := []struct {
		name     string
		roles    []string
		topic    string
		qos      byte
		v5       byte // PUBACK or PUBREC code; MQTT 3.1.1 has none
		received bool
	}{
		{name: "QoS 0", roles: []string{roleSend}, topic: "room", qos: 0, received: true},
		{name: "QoS 1", roles: []string{roleSend}, topic: "room", qos: 1, received: true},
		{name: "QoS 2", roles: []string{roleSend}, topic: "room", qos: 2, received: true},
		{name: "group send role", roles: []string{"webpubsub.sendToGroup.room"}, topic: "room", qos: 1, received: true},
		{name: "no send permission", topic: "room", qos: 1, v5: 0x87},
		{name: "send permission for another group", roles: []string{"webpubsub.sendToGroup.other"}, topic: "room", qos: 1, v5: 0x87},
		{name: "no group name", roles: []string{roleSend}, topic: " ", qos: 1, v5: 0x90},
	}
	listener := env.mustConnect(5, "listener", mqttOpts{roles: []string{roleJoin}})
	if code := listener.subscribe("room", 2); code != 2 {
		t.Fatalf("SUBACK %#x", code)
	}
	for _, l := range mqttLevels {
		for i, tc := range tests {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				env := env.with(t)
				id := idOf(fmt.Sprintf("pub%d", i), l.name)
				c := env.mustConnect(l.version, id, mqttOpts{roles: tc.roles})
				want := tc.v5
				if l.version == 4 {
					want = 0
				}
				payload := id + " says hi"
				if code := c.publish(tc.topic, tc.qos, payload); code != want {
					t.Fatalf("PUBACK %#x; want %#x", code, want)
				}
				if tc.received {
					m := listener.next()
					if m.payload != payload || m.topic != "room" || m.qos != tc.qos {
						t.Fatalf("listener got %q on %q QoS %d; want %q on room QoS %d", m.payload, m.topic, m.qos, payload, tc.qos)
					}
				}
				// A REST send after an acknowledged publish is a barrier:
				// the listener would get the publish first.
				env.sendToGroup("room", webpubsub.TextMessage("barrier"))
				if m := listener.next(); m.payload != "barrier" {
					t.Fatalf("listener got %q; want only the barrier", m.payload)
				}
			})
		}
	}
}

// TestMQTTClientCrossProtocol: REST sends reach MQTT subscribers, MQTT
// publishes reach JSON-subprotocol group members and the other way
// round, with QoS and content types as the service maps them.
func TestMQTTClientCrossProtocol(t *testing.T) {
	env := newMQTTEnv(t)
	roles := []string{roleJoin, roleSend}
	clients := map[string]mqttTestClient{}
	for _, l := range mqttLevels {
		id := idOf("x", l.name)
		c := env.mustConnect(l.version, id, mqttOpts{roles: roles})
		if code := c.subscribe("room", 1); code != 1 {
			t.Fatalf("SUBACK %#x", code)
		}
		clients[l.name] = c
	}
	member := env.jsonMember("room")
	// contentType is what an MQTT 5 subscriber is told; 3.1.1 has none.
	expect := func(t *testing.T, topic, payload string, qos byte, contentType string) {
		t.Helper()
		for _, l := range mqttLevels {
			m := clients[l.name].next()
			want := ""
			if l.version == 5 {
				want = contentType
			}
			if m.topic != topic || m.payload != payload || m.qos != qos || m.contentType != want {
				t.Errorf("%s got %q on %q QoS %d (%q); want %q on %q QoS %d (%q)", l.name, m.payload, m.topic, m.qos, m.contentType, payload, topic, qos, want)
			}
		}
	}
	t.Run("REST SendToGroup", func(t *testing.T) {
		env := env.with(t)
		env.sendToGroup("room", webpubsub.TextMessage("to the group"))
		expect(t, "room", "to the group", 1, "text/plain")
		if g := member.next(); string(g.Data) != "to the group" || g.DataType != webpubsubclient.DataTypeText {
			t.Errorf("member got %q (%s)", g.Data, g.DataType)
		}
	})
	t.Run("REST SendToAll", func(t *testing.T) {
		env := env.with(t)
		if _, err := env.svc.SendToAll(env.ctx(), webpubsub.JSONMessage(map[string]int{"a": 1}), nil); err != nil {
			t.Fatal(err)
		}
		expect(t, serverTopic, `{"a":1}`, 1, "application/json")
	})
	t.Run("REST SendToConnection", func(t *testing.T) {
		env := env.with(t)
		for _, l := range mqttLevels {
			if _, err := env.svc.SendToConnection(env.ctx(), idOf("x", l.name), webpubsub.BinaryMessage([]byte{1, 2}), nil); err != nil {
				t.Fatal(err)
			}
			m := clients[l.name].next()
			if m.topic != serverTopic || m.payload != "\x01\x02" {
				t.Errorf("%s got %q on %q", l.name, m.payload, m.topic)
			}
		}
	})
	t.Run("MQTT publish to a JSON member", func(t *testing.T) {
		for _, l := range mqttLevels {
			clients[l.name].publish("room", 1, "from "+l.name)
			expect(t, "room", "from "+l.name, 1, "")
			// MQTT 3.1.1 and MQTT 5 without a content type are binary.
			if g := member.next(); string(g.Data) != "from "+l.name || g.DataType != webpubsubclient.DataTypeBinary || g.Group != "room" {
				t.Errorf("member got %q (%s) in %q", g.Data, g.DataType, g.Group)
			}
		}
		c5 := clients["5.0"].(*client5)
		c5.publishWith(&paho.Publish{Topic: "room", QoS: 0, Payload: []byte(`{"t":21}`), Properties: &paho.PublishProperties{ContentType: "application/json"}})
		expect(t, "room", `{"t":21}`, 0, "application/json")
		if g := member.next(); string(g.Data) != `{"t":21}` || g.DataType != webpubsubclient.DataTypeJSON {
			t.Errorf("member got %q (%s); want the JSON", g.Data, g.DataType)
		}
	})
	t.Run("JSON member to MQTT", func(t *testing.T) {
		env := env.with(t)
		if _, err := member.c.SendToGroup(env.ctx(), "room", webpubsubclient.TextMessage("from JSON"), nil); err != nil {
			t.Fatal(err)
		}
		expect(t, "room", "from JSON", 1, "text/plain")
	})
	t.Run("REST membership and CloseConnection", func(t *testing.T) {
		env := env.with(t)
		for _, l := range mqttLevels {
			id := idOf("x", l.name)
			if _, err := env.svc.AddConnectionToGroup(env.ctx(), "extra", id, nil); err != nil {
				t.Fatal(err)
			}
		}
		env.sendToGroup("extra", webpubsub.TextMessage("added"))
		expect(t, "extra", "added", 1, "text/plain")
		for _, l := range mqttLevels {
			id := idOf("x", l.name)
			if _, err := env.svc.CloseConnection(env.ctx(), id, &webpubsub.CloseConnectionOptions{Reason: "maintenance"}); err != nil {
				t.Fatal(err)
			}
			if l.version == 5 {
				d := clients[l.name].(*client5).serverDisconnect()
				if d.ReasonCode != 0x98 || d.Properties == nil || d.Properties.ReasonString != "maintenance" {
					t.Errorf("DISCONNECT %#x %+v; want 0x98 (administrative action) with the reason", d.ReasonCode, d.Properties)
				}
			}
			expectClosed(t, clients[l.name])
			if ok, err := env.svc.ConnectionExists(env.ctx(), id, nil); err != nil || ok {
				t.Errorf("ConnectionExists after CloseConnection: %v, %v", ok, err)
			}
		}
	})
}

// TestMQTTClientQoS: QoS 0, 1 and 2 end to end, lowered to the
// subscription's.
func TestMQTTClientQoS(t *testing.T) {
	env := newMQTTEnv(t)
	tests := []struct {
		pub, sub, got byte
	}{
		{0, 2, 0}, {1, 2, 1}, {2, 2, 2}, {2, 1, 1}, {2, 0, 0}, {1, 0, 0},
	}
	for _, l := range mqttLevels {
		for _, tc := range tests {
			t.Run(fmt.Sprintf("%s/publish %d subscribe %d", l.name, tc.pub, tc.sub), func(t *testing.T) {
				env := env.with(t)
				topic := fmt.Sprintf("q%d%d%s", tc.pub, tc.sub, strings.ReplaceAll(l.name, ".", ""))
				sub := env.mustConnect(l.version, "s"+topic, mqttOpts{roles: []string{roleJoin}})
				pub := env.mustConnect(l.version, "p"+topic, mqttOpts{roles: []string{roleSend}})
				if code := sub.subscribe(topic, tc.sub); code != tc.sub {
					t.Fatalf("SUBACK %#x", code)
				}
				pub.publish(topic, tc.pub, "q")
				if m := sub.next(); m.qos != tc.got {
					t.Fatalf("QoS %d; want %d", m.qos, tc.got)
				}
			})
		}
	}
}

// TestMQTTClientWill: a will is published after a cut of the network
// connection, not after a DISCONNECT, and not when the connection may not
// send to its topic.
func TestMQTTClientWill(t *testing.T) {
	env := newMQTTEnv(t)
	watcher := env.mustConnect(5, "watcher", mqttOpts{roles: []string{roleJoin}})
	watcher.subscribe("status", 1)
	tests := []struct {
		name      string
		roles     []string
		cut       bool
		published bool
	}{
		{name: "cut", roles: []string{"webpubsub.sendToGroup.status"}, cut: true, published: true},
		{name: "DISCONNECT", roles: []string{"webpubsub.sendToGroup.status"}},
		{name: "cut without send permission", cut: true},
	}
	for _, l := range mqttLevels {
		for i, tc := range tests {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				env := env.with(t)
				id := idOf(fmt.Sprintf("will%d", i), l.name)
				c := env.mustConnect(l.version, id, mqttOpts{roles: tc.roles, will: &mqttWillOpts{topic: "status", payload: id + " gone", qos: 1}})
				if tc.cut {
					if err := env.e.CutConnection(mqttHub, id); err != nil {
						t.Fatal(err)
					}
				} else {
					c.disconnect()
				}
				expectClosed(t, c)
				env.waitGone(id)
				// The will is published in the background after the end,
				// so it may come before or after a REST send.
				env.sendToGroup("status", webpubsub.TextMessage("barrier"))
				want := []string{"barrier"}
				if tc.published {
					want = append(want, id+" gone")
				}
				expectPayloads(t, watcher, want...)
			})
		}
	}
	// Nothing else came: the next message is a new barrier.
	env.sendToGroup("status", webpubsub.TextMessage("end"))
	if m := watcher.next(); m.payload != "end" {
		t.Fatalf("watcher got %q; want no more wills", m.payload)
	}
}

// TestMQTTClientPersistentSession: a persistent session survives a cut;
// what arrived meanwhile is delivered after the resume, and unacknowledged
// QoS 1 and 2 messages come again, marked as duplicates.
func TestMQTTClientPersistentSession(t *testing.T) {
	env := newMQTTEnv(t)
	publisher := env.mustConnect(5, "newsdesk", mqttOpts{roles: []string{roleSend}})
	for _, l := range mqttLevels {
		for _, qos := range []byte{1, 2} {
			t.Run(fmt.Sprintf("%s/QoS %d", l.name, qos), func(t *testing.T) {
				env := env.with(t)
				id := idOf(fmt.Sprintf("session%d", qos), l.name)
				group := "news" + id
				c := env.mustConnect(l.version, id, mqttOpts{roles: []string{roleJoin}, persistent: true, manualAck: true})
				if code := c.subscribe(group, qos); code != qos {
					t.Fatalf("SUBACK %#x", code)
				}
				publisher.publish(group, qos, "unacked")
				if m := c.next(); m.payload != "unacked" || m.dup || m.qos != qos {
					t.Fatalf("got %q dup %v QoS %d", m.payload, m.dup, m.qos)
				}
				if err := env.e.CutConnection(mqttHub, id); err != nil {
					t.Fatal(err)
				}
				expectClosed(t, c)
				env.waitState(id, true)
				publisher.publish(group, qos, "while away")

				c, code := env.connect(l.version, id, mqttOpts{persistent: true})
				if c == nil {
					t.Fatalf("resuming CONNECT refused: %#x", code)
				}
				m := c.next()
				if m.payload != "unacked" || !m.dup || m.qos != qos {
					t.Errorf("first after the resume: %q dup %v QoS %d; want the unacknowledged message again, DUP set", m.payload, m.dup, m.qos)
				}
				if m := c.next(); m.payload != "while away" || m.dup {
					t.Errorf("then %q dup %v; want the message sent while away", m.payload, m.dup)
				}
				env.sendToGroup(group, webpubsub.TextMessage("back"))
				if m := c.next(); m.payload != "back" {
					t.Errorf("got %q; want the subscription kept", m.payload)
				}
			})
		}
	}
}

// TestMQTTClientTakeOver: a CONNECT with the client id of an open
// connection takes over; MQTT 5 tells the old one with DISCONNECT 0x8E,
// for a new session and for a resumed one, and the old one's will is
// published.
func TestMQTTClientTakeOver(t *testing.T) {
	env := newMQTTEnv(t)
	watcher := env.mustConnect(5, "overseer", mqttOpts{roles: []string{roleJoin}})
	watcher.subscribe("status", 1)
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent %v", persistent), func(t *testing.T) {
			env := env.with(t)
			id := fmt.Sprintf("same%v", persistent)
			first, _ := env.connect5(id, mqttOpts{persistent: persistent, roles: []string{roleSend},
				will: &mqttWillOpts{topic: "status", payload: id + " taken over", qos: 1}})
			if first == nil {
				t.Fatal("CONNECT refused")
			}
			env.waitState(id, false)
			second := env.mustConnect(5, id, mqttOpts{persistent: persistent})
			if d := first.serverDisconnect(); d.ReasonCode != 0x8E {
				t.Errorf("DISCONNECT %#x; want 0x8E (session taken over)", d.ReasonCode)
			}
			expectClosed(t, first)
			if m := watcher.next(); m.payload != id+" taken over" {
				t.Errorf("watcher got %q; want the will of the taken-over connection", m.payload)
			}
			second.publish("nowhere", 0, "still open")
			if ok, err := env.svc.ConnectionExists(env.ctx(), id, nil); err != nil || !ok {
				t.Errorf("ConnectionExists: %v, %v", ok, err)
			}
		})
	}
}

// TestMQTTClientShutdown: closing the emulator sends MQTT 5 clients
// DISCONNECT 0x8B (server shutting down).
func TestMQTTClientShutdown(t *testing.T) {
	e, err := emulator.New(emulator.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(); err != nil {
		t.Fatal(err)
	}
	svc, err := webpubsub.NewServiceClientFromConnectionString(e.ConnectionString(), mqttHub, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := &mqttEnv{t: t, e: e, svc: svc}
	c, _ := env.connect5("leaving", mqttOpts{})
	if c == nil {
		t.Fatal("CONNECT refused")
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := e.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	if d := c.serverDisconnect(); d.ReasonCode != 0x8B {
		t.Errorf("DISCONNECT %#x; want 0x8B (server shutting down)", d.ReasonCode)
	}
	expectClosed(t, c)
	wg.Wait()
}

// TestMQTTClientReceiveMaximum: no more QoS 1 and 2 PUBLISH packets than
// an MQTT 5 client's Receive Maximum are in flight; the others wait for
// its acknowledgements, in order, while QoS 0 ones pass.
func TestMQTTClientReceiveMaximum(t *testing.T) {
	env := newMQTTEnv(t)
	c := env.mustConnect(5, "slow", mqttOpts{roles: []string{roleJoin}, receiveMax: 2, manualAck: true})
	c.subscribe("flow", 1)
	c.subscribe("flow0", 0)
	for i := 1; i <= 4; i++ {
		env.sendToGroup("flow", webpubsub.TextMessage(fmt.Sprintf("m%d", i)))
	}
	env.sendToGroup("flow0", webpubsub.TextMessage("qos0"))
	var got []received
	for range 3 {
		got = append(got, c.next())
	}
	if got[0].payload != "m1" || got[1].payload != "m2" || got[2].payload != "qos0" {
		t.Fatalf("got %q, %q, %q; want m1, m2 and then the QoS 0 message (m3 and m4 wait)", got[0].payload, got[1].payload, got[2].payload)
	}
	got[0].ack()
	if m := c.next(); m.payload != "m3" {
		t.Fatalf("after one ack got %q; want m3", m.payload)
	}
	env.sendToGroup("flow0", webpubsub.TextMessage("qos0 again"))
	if m := c.next(); m.payload != "qos0 again" {
		t.Fatalf("got %q; want the QoS 0 message (m4 still waits)", m.payload)
	}
	got[1].ack()
	if m := c.next(); m.payload != "m4" {
		t.Fatalf("after two acks got %q; want m4", m.payload)
	}
}

// TestMQTTClientReceiveMaximumBound: a client that never acknowledges
// its in-flight PUBLISH does not make the emulator hold ever more
// messages for it. Past the outbound queue's limit (1,000 messages) of
// messages waiting for room in its Receive Maximum, it is disconnected
// with DISCONNECT 0x97 (quota exceeded), as a client that does not read
// is.
func TestMQTTClientReceiveMaximumBound(t *testing.T) {
	env := newMQTTEnv(t)
	c := env.mustConnect(5, "stuck", mqttOpts{roles: []string{roleJoin}, receiveMax: 1, manualAck: true}).(*client5)
	c.subscribe("flood", 1)
	const limit = 1000
	for i := 1; i <= 1+limit+1; i++ { // one in flight, limit waiting, one more
		env.sendToGroup("flood", webpubsub.TextMessage(fmt.Sprintf("m%d", i)))
	}
	if m := c.next(); m.payload != "m1" {
		t.Fatalf("got %q; want m1, the only message in flight", m.payload)
	}
	if d := c.serverDisconnect(); d.ReasonCode != 0x97 {
		t.Fatalf("DISCONNECT %#x; want 0x97 (quota exceeded)", d.ReasonCode)
	}
	expectClosed(t, c)
	env.waitGone("stuck")
}

// TestMQTTClientMaximumPacketSize: a PUBLISH larger than an MQTT 5
// client's Maximum Packet Size is not sent to it (MQTT 5 §3.1.2.11.4),
// and the messages after it still are.
func TestMQTTClientMaximumPacketSize(t *testing.T) {
	env := newMQTTEnv(t)
	for _, persistent := range []bool{false, true} {
		t.Run(fmt.Sprintf("persistent %v", persistent), func(t *testing.T) {
			env := env.with(t)
			id := fmt.Sprintf("small%v", persistent)
			c := env.mustConnect(5, id, mqttOpts{roles: []string{roleJoin}, maxPacket: 200, persistent: persistent})
			c.subscribe("big", 1)
			env.sendToGroup("big", webpubsub.TextMessage(strings.Repeat("x", 300)))
			env.sendToGroup("big", webpubsub.TextMessage("fits"))
			if m := c.next(); m.payload != "fits" {
				t.Fatalf("got %d bytes; want only the message that fits", len(m.payload))
			}
			if persistent {
				// Discarded as if delivered: it does not wait in the
				// session's buffer.
				info, err := env.e.Connection(mqttHub, id)
				if err != nil {
					t.Fatal(err)
				}
				if err := env.e.Wait(env.ctx(), func() bool {
					info, _ = env.e.Connection(mqttHub, id)
					return info.Unacknowledged == 0
				}); err != nil {
					t.Fatalf("%d messages unacknowledged; want none", info.Unacknowledged)
				}
			}
		})
	}
}

// TestMQTTClientMessageExpiry: a message kept for a persistent session,
// or waiting for room in the Receive Maximum, goes out with the expiry
// interval it has left, and not at all once it ran out.
func TestMQTTClientMessageExpiry(t *testing.T) {
	clock := emulator.NewFakeClock(time.Unix(1_700_000_000, 0))
	env := newMQTTEnv(t, emulator.WithClock(clock))
	pub := env.mustConnect(5, "publisher", mqttOpts{roles: []string{roleSend}}).(*client5)
	publish := func(payload string, expiry uint32) {
		t.Helper()
		p := &paho.Publish{Topic: "exp", QoS: 1, Payload: []byte(payload)}
		if expiry > 0 {
			p.Properties = &paho.PublishProperties{MessageExpiry: &expiry}
		}
		if code := pub.publishWith(p); code != 0 {
			t.Fatalf("PUBACK %#x", code)
		}
	}
	expiry := func(m received) uint32 {
		if m.expiry == nil {
			return 0
		}
		return *m.expiry
	}

	t.Run("persistent session", func(t *testing.T) {
		env := env.with(t)
		c := env.mustConnect(5, "away", mqttOpts{roles: []string{roleJoin}, persistent: true})
		c.subscribe("exp", 1)
		if err := env.e.CutConnection(mqttHub, "away"); err != nil {
			t.Fatal(err)
		}
		expectClosed(t, c)
		env.waitState("away", true)
		publish("long", 60)
		publish("short", 10)
		publish("forever", 0)
		clock.Advance(20 * time.Second)
		c, code := env.connect(5, "away", mqttOpts{persistent: true})
		if c == nil {
			t.Fatalf("resume refused: %#x", code)
		}
		if m := c.next(); m.payload != "long" || expiry(m) != 40 {
			t.Fatalf("got %q with expiry %d; want long with 40 s left", m.payload, expiry(m))
		}
		if m := c.next(); m.payload != "forever" || m.expiry != nil {
			t.Fatalf("got %q with expiry %v; want forever without one (short expired)", m.payload, m.expiry)
		}
	})
	t.Run("waiting in flight", func(t *testing.T) {
		env := env.with(t)
		c := env.mustConnect(5, "busy", mqttOpts{roles: []string{roleJoin}, receiveMax: 1, manualAck: true})
		c.subscribe("exp", 1)
		publish("first", 0)
		publish("waits", 30)
		publish("expires", 10)
		first := c.next()
		clock.Advance(12 * time.Second)
		first.ack()
		m := c.next()
		if m.payload != "waits" || expiry(m) != 18 {
			t.Fatalf("got %q with expiry %d; want waits with 18 s left", m.payload, expiry(m))
		}
		m.ack()
		publish("last", 0)
		if m := c.next(); m.payload != "last" {
			t.Fatalf("got %q; want last (expires ran out while it waited)", m.payload)
		}
	})
}

// TestMQTTClientSessionExpiry: an MQTT 5 session expiry interval below
// the emulator's retention ends the session when it runs out; 0 ends it
// with the network connection.
func TestMQTTClientSessionExpiry(t *testing.T) {
	clock := emulator.NewFakeClock(time.Unix(1_700_000_000, 0))
	env := newMQTTEnv(t, emulator.WithClock(clock))
	tests := []struct {
		name   string
		expiry uint32
		// disconnect, when not nil, is the expiry of a DISCONNECT that
		// ends the connection instead of a cut.
		disconnect *uint32
		acked      uint32 // in the CONNACK; 0 for none
		kept       time.Duration
	}{
		{name: "5 s", expiry: 5, acked: 5, kept: 5 * time.Second},
		{name: "above the retention", expiry: 3600, acked: 30, kept: emulator.DefaultReliableRetention},
		{name: "0", expiry: 0},
		{name: "set by DISCONNECT", expiry: 60, disconnect: ptr(uint32(7)), acked: 30, kept: 7 * time.Second},
		{name: "DISCONNECT above the retention", expiry: 10, disconnect: ptr(uint32(600)), acked: 10, kept: emulator.DefaultReliableRetention},
		{name: "ended by DISCONNECT", expiry: 60, disconnect: ptr(uint32(0)), acked: 30},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := env.with(t)
			id := fmt.Sprintf("expiry%d", i)
			exp := tc.expiry
			c, ca := env.connect5(id, mqttOpts{persistent: true, expiry: &exp})
			if c == nil {
				t.Fatalf("CONNECT refused: %+v", ca)
			}
			if got := ca.Properties.SessionExpiryInterval; (got == nil) != (tc.acked == 0) || (got != nil && *got != tc.acked) {
				t.Errorf("CONNACK session expiry %v; want %d", got, tc.acked)
			}
			env.waitState(id, false)
			if tc.disconnect != nil {
				if err := c.c.Disconnect(&paho.Disconnect{Properties: &paho.DisconnectProperties{SessionExpiryInterval: tc.disconnect}}); err != nil {
					t.Fatal(err)
				}
			} else if err := env.e.CutConnection(mqttHub, id); err != nil {
				t.Fatal(err)
			}
			if tc.kept == 0 {
				env.waitGone(id)
				return
			}
			env.waitState(id, true)
			if err := clock.WaitTimers(env.ctx(), tc.kept, 1); err != nil {
				t.Fatalf("no timer of %v: %v (pending %v)", tc.kept, err, clock.Pending())
			}
			clock.Advance(tc.kept - time.Second)
			if _, err := env.e.Connection(mqttHub, id); err != nil {
				t.Fatalf("the session ended early: %v", err)
			}
			clock.Advance(time.Second)
			env.waitGone(id)
		})
	}
}

// TestMQTTClientResumeRoles: a resumed session has the roles of the new
// token, and keeps its subscriptions.
func TestMQTTClientResumeRoles(t *testing.T) {
	env := newMQTTEnv(t)
	for _, l := range mqttLevels {
		t.Run(l.name, func(t *testing.T) {
			env := env.with(t)
			id := idOf("roles", l.name)
			c := env.mustConnect(l.version, id, mqttOpts{roles: []string{roleJoin, roleSend}, persistent: true})
			c.subscribe("kept", 1)
			if err := env.e.CutConnection(mqttHub, id); err != nil {
				t.Fatal(err)
			}
			expectClosed(t, c)
			env.waitState(id, true)
			c, code := env.connect(l.version, id, mqttOpts{persistent: true}) // no roles
			if c == nil {
				t.Fatalf("resume refused: %#x", code)
			}
			if got, want := c.subscribe("other", 1), map[byte]byte{4: 0x80, 5: 0x87}[l.version]; got != want {
				t.Errorf("SUBSCRIBE with the new token's roles: %#x; want %#x", got, want)
			}
			if l.version == 5 {
				if got := c.publish("kept", 1, "no"); got != 0x87 {
					t.Errorf("PUBLISH with the new token's roles: %#x; want 0x87", got)
				}
			}
			env.sendToGroup("kept", webpubsub.TextMessage("still subscribed"))
			if m := c.next(); m.payload != "still subscribed" {
				t.Errorf("got %q", m.payload)
			}
		})
	}
}

// TestMQTTClientGroupLimit: a SUBSCRIBE beyond the groups a connection
// may be in is refused with 0x97 (quota exceeded; 3.1.1: 0x80).
func TestMQTTClientGroupLimit(t *testing.T) {
	env := newMQTTEnv(t, emulator.WithOptions(emulator.Options{MaxGroupsPerConnection: 1}))
	for _, l := range mqttLevels {
		t.Run(l.name, func(t *testing.T) {
			env := env.with(t)
			c := env.mustConnect(l.version, idOf("many", l.name), mqttOpts{roles: []string{roleJoin}})
			if got := c.subscribe("one", 1); got != 1 {
				t.Fatalf("first SUBSCRIBE %#x", got)
			}
			if got, want := c.subscribe("two", 1), map[byte]byte{4: 0x80, 5: 0x97}[l.version]; got != want {
				t.Errorf("SUBSCRIBE beyond the limit: %#x; want %#x", got, want)
			}
			if got := c.subscribe("one", 0); got != 0 {
				t.Errorf("SUBSCRIBE again to a group it is in: %#x; want granted", got)
			}
		})
	}
}

// TestMQTTClientTopicAlias: a PUBLISH with a topic alias ends the
// connection with DISCONNECT 0x94 (topic alias invalid).
func TestMQTTClientTopicAlias(t *testing.T) {
	env := newMQTTEnv(t)
	c := env.mustConnect(5, "alias", mqttOpts{roles: []string{roleSend}}).(*client5)
	alias := uint16(1)
	go func() { // no PUBACK comes
		ctx, cancel := context.WithTimeout(context.Background(), mqttTimeout)
		defer cancel()
		_, _ = c.c.Publish(ctx, &paho.Publish{Topic: "t", QoS: 1, Payload: []byte("x"), Properties: &paho.PublishProperties{TopicAlias: &alias}})
	}()
	if d := c.serverDisconnect(); d.ReasonCode != 0x94 {
		t.Fatalf("DISCONNECT %#x; want 0x94", d.ReasonCode)
	}
	expectClosed(t, c)
	env.waitGone("alias")
}

// TestMQTTClientConnectHandler: with a connect event handler (an
// eventhandler.Handler), the CONNECT's user name and password reach it,
// its rejection reaches the client as the CONNACK code of its level (with
// the reason for MQTT 5), and the roles it grants apply.
func TestMQTTClientConnectHandler(t *testing.T) {
	h, err := eventhandler.New(mqttHub, &eventhandler.Options{
		AccessKeys: []string{emulator.DefaultAccessKey},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Connect: func(_ context.Context, req *eventhandler.ConnectRequest) (*eventhandler.ConnectResponse, error) {
			if p := req.MQTTProperties; p == nil || p.Username != "alice" || string(p.Password) != "secret" {
				return nil, eventhandler.Reject(401, "wrong password")
			}
			return &eventhandler.ConnectResponse{Roles: []string{roleJoin}}, nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(eventhandler.DefaultPath(mqttHub), h)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close) // after the emulator's Close
	env := newMQTTEnv(t, emulator.WithHub(mqttHub, emulator.HubOptions{EventHandlers: []emulator.EventHandler{{
		URLTemplate: srv.URL + "/api/webpubsub/hubs/{hub}/", SystemEvents: []string{"connect"}, SkipValidation: true,
	}}}))
	tests := []struct {
		name     string
		password string
		v311, v5 byte
	}{
		{name: "accepted", password: "secret"},
		{name: "rejected", password: "guess", v311: 0x05, v5: 0x87},
	}
	for _, l := range mqttLevels {
		for _, tc := range tests {
			t.Run(l.name+"/"+tc.name, func(t *testing.T) {
				env := env.with(t)
				id := idOf("h"+tc.name, l.name)
				o := mqttOpts{username: "alice", password: tc.password}
				want := map[byte]byte{4: tc.v311, 5: tc.v5}[l.version]
				if l.version == 5 && want != 0 {
					c, ca := env.connect5(id, o)
					if c != nil || ca == nil || ca.ReasonCode != want || ca.Properties == nil || ca.Properties.ReasonString != "wrong password" {
						t.Fatalf("CONNACK %+v; want %#x with the handler's reason", ca, want)
					}
					return
				}
				c, code := env.connect(l.version, id, o)
				if code != want {
					t.Fatalf("CONNACK %#x; want %#x", code, want)
				}
				if want != 0 {
					return
				}
				// The handler's role, not the token's (none), applies.
				if got := c.subscribe("room", 1); got != 1 {
					t.Errorf("SUBSCRIBE with the handler's role: %#x", got)
				}
			})
		}
	}
}

// TestMQTTClientKeepAlive: a connection silent for one and a half times
// its keep-alive, on the emulator's clock, is closed (MQTT 5: DISCONNECT
// 0x8D, keep alive timeout). The keep-alive is 180 s, and Paho, which
// pings on the real clock, sends nothing in the test's time.
func TestMQTTClientKeepAlive(t *testing.T) {
	for _, l := range mqttLevels {
		t.Run(l.name, func(t *testing.T) {
			clock := emulator.NewFakeClock(time.Unix(1_700_000_000, 0))
			// WebSocket pings and their idle timeout stay out of the
			// fake clock's way.
			env := newMQTTEnv(t, emulator.WithClock(clock), emulator.WithKeepAlive(time.Hour, 2*time.Hour))
			id := idOf("quiet", l.name)
			// No PINGREQ may restart the emulator's timer behind the fake
			// clock's back: the 3.1.1 client pings only after a keep-alive
			// of real time without a packet (the longest 3.1.1 allows), the
			// 5.0 client not at all.
			c := env.mustConnect(l.version, id, mqttOpts{keepAlive: 180, noPing: true})
			if err := clock.WaitTimers(env.ctx(), 270*time.Second, 1); err != nil {
				t.Fatalf("no keep-alive timer of 270 s: %v", err)
			}
			clock.Advance(269 * time.Second)
			if _, err := env.e.Connection(mqttHub, id); err != nil {
				t.Fatalf("closed before 1.5 × the keep-alive: %v", err)
			}
			clock.Advance(time.Second)
			if l.version == 5 {
				if d := c.(*client5).serverDisconnect(); d.ReasonCode != 0x8D {
					t.Errorf("DISCONNECT %#x; want 0x8D", d.ReasonCode)
				}
			}
			expectClosed(t, c)
			env.waitGone(id)
		})
	}
}
