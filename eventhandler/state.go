package eventhandler

import (
	"encoding/json"
	"fmt"

	"github.com/gowebpubsub/webpubsub/internal/cloudevents"
)

// stateOf returns c's state, creating an empty one for a ConnectionContext
// built by hand (for example in a unit test of a callback).
func (c *ConnectionContext) stateOf() *cloudevents.State {
	if c.state == nil {
		c.state = &cloudevents.State{}
	}
	return c.state
}

// States returns a copy of the connection's state: each named value as the
// raw JSON it was stored with. The map is never nil; it is empty when the
// request carried no ce-connectionState header or one that could not be
// decoded (a warning is then logged). Changes made with SetState,
// DeleteState and ClearStates are visible in later calls.
func (c *ConnectionContext) States() map[string]json.RawMessage {
	return c.stateOf().Values()
}

// State unmarshals the state value called name into v, which must be a
// non-nil pointer, as json.Unmarshal does. It reports false (and leaves v
// alone) when there is no such value. The error is a JSON decoding error
// when the stored value does not fit v.
func (c *ConnectionContext) State(name string, v any) (bool, error) {
	raw, ok := c.stateOf().Get(name)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("eventhandler: state %q: %w", name, err)
	}
	return true, nil
}

// SetState stores value, marshalled with encoding/json, under name. It
// replaces any previous value and keeps the name's position in the encoded
// object. The new state is sent back in the ce-connectionState response
// header of a connect or user event, where it replaces the connection's
// state; on connected and disconnected events the service ignores response
// headers, so a change there has no effect beyond the callback. The error
// wraps the json.Marshal error, and the state is then unchanged.
//
// The whole encoded state travels in an HTTP header on every later event of
// the connection; the service rejects states over 16 KiB.
func (c *ConnectionContext) SetState(name string, value any) error {
	if err := c.stateOf().Set(name, value); err != nil {
		return fmt.Errorf("eventhandler: state %q: %w", name, err)
	}
	return nil
}

// DeleteState removes the value called name. Deleting a name that is not
// present changes nothing (and writes no header).
func (c *ConnectionContext) DeleteState(name string) {
	c.stateOf().Delete(name)
}

// ClearStates removes every value. The response then carries the encoding
// of an empty object ("e30="), which clears the state for handlers written
// with this package or with @azure/web-pubsub-express.
func (c *ConnectionContext) ClearStates() {
	c.stateOf().Clear()
}

// stateHeader returns the header value to send and whether to send one.
func (c *ConnectionContext) stateHeader() (string, bool) {
	if c.state == nil || !c.state.Modified() {
		return "", false
	}
	return c.state.Encode(), true
}
