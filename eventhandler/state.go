package eventhandler

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// connState is the decoded connection state of one request: named raw JSON
// values in the order they were first seen, plus a flag that records whether
// a callback changed anything (only then is a response header written).
type connState struct {
	keys     []string
	vals     map[string]json.RawMessage
	modified bool
}

// errStateNotObject reports a state whose JSON is not an object.
var errStateNotObject = errors.New("the state is not a JSON object")

// decodeState decodes a ce-connectionState header value: base64 (standard
// alphabet; unpadded and URL-safe forms are tolerated, as Node's decoder
// tolerates them) of a UTF-8 JSON object. An empty value is an empty state.
// On failure it returns an empty state and the reason.
func decodeState(header string) (*connState, error) {
	s := &connState{vals: map[string]json.RawMessage{}}
	if header == "" {
		return s, nil
	}
	raw, err := decodeBase64(header)
	if err != nil {
		return s, err
	}
	keys, vals, err := parseOrderedObject(raw)
	if err != nil {
		return s, err
	}
	s.keys, s.vals = keys, vals
	return s, nil
}

func decodeBase64(v string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("the state is not valid base64")
}

// parseOrderedObject parses a JSON object and keeps its keys in the order of
// their first appearance. A repeated key keeps its first position and takes
// the last value, as JSON.parse does. Values are stored compacted.
func parseOrderedObject(data []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, fmt.Errorf("the state is not valid JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errStateNotObject
	}
	var keys []string
	vals := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("the state is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("the state is not valid JSON")
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("the state is not valid JSON")
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, fmt.Errorf("the state is not valid JSON")
		}
		if _, seen := vals[key]; !seen {
			keys = append(keys, key)
		}
		vals[key] = buf.Bytes()
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, fmt.Errorf("the state is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, fmt.Errorf("the state is not valid JSON: data after the object")
	}
	return keys, vals, nil
}

// encode returns the header value: base64 (standard, padded) of the compact
// JSON object, keys in insertion order. An empty state encodes as "e30="
// (the base64 of "{}"), never as an empty header.
func (s *connState) encode() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range s.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshalNoEscape(k))
		b.WriteByte(':')
		b.Write(s.vals[k])
	}
	b.WriteByte('}')
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// marshalNoEscape marshals v like JSON.stringify would: without escaping
// <, > and &. It is used for strings only, which cannot fail.
func marshalNoEscape(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Unreachable for strings; keep the output valid JSON regardless.
		return []byte(`""`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

func (s *connState) set(name string, raw json.RawMessage) {
	if _, ok := s.vals[name]; !ok {
		s.keys = append(s.keys, name)
	}
	s.vals[name] = raw
	s.modified = true
}

func (s *connState) delete(name string) {
	if _, ok := s.vals[name]; !ok {
		return
	}
	delete(s.vals, name)
	for i, k := range s.keys {
		if k == name {
			s.keys = append(s.keys[:i:i], s.keys[i+1:]...)
			break
		}
	}
	s.modified = true
}

func (s *connState) clear() {
	s.keys = nil
	s.vals = map[string]json.RawMessage{}
	s.modified = true
}

// stateOf returns c's state, creating an empty one for a ConnectionContext
// built by hand (for example in a unit test of a callback).
func (c *ConnectionContext) stateOf() *connState {
	if c.state == nil {
		c.state = &connState{vals: map[string]json.RawMessage{}}
	}
	return c.state
}

// States returns a copy of the connection's state: each named value as the
// raw JSON it was stored with. The map is never nil; it is empty when the
// request carried no ce-connectionState header or one that could not be
// decoded (a warning is then logged). Changes made with SetState,
// DeleteState and ClearStates are visible in later calls.
func (c *ConnectionContext) States() map[string]json.RawMessage {
	s := c.stateOf()
	out := make(map[string]json.RawMessage, len(s.vals))
	for k, v := range s.vals {
		out[k] = bytes.Clone(v)
	}
	return out
}

// State unmarshals the state value called name into v, which must be a
// non-nil pointer, as json.Unmarshal does. It reports false (and leaves v
// alone) when there is no such value. The error is a JSON decoding error
// when the stored value does not fit v.
func (c *ConnectionContext) State(name string, v any) (bool, error) {
	raw, ok := c.stateOf().vals[name]
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
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return fmt.Errorf("eventhandler: state %q: %w", name, err)
	}
	c.stateOf().set(name, bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
	return nil
}

// DeleteState removes the value called name. Deleting a name that is not
// present changes nothing (and writes no header).
func (c *ConnectionContext) DeleteState(name string) {
	c.stateOf().delete(name)
}

// ClearStates removes every value. The response then carries the encoding
// of an empty object ("e30="), which clears the state for handlers written
// with this package or with @azure/web-pubsub-express.
func (c *ConnectionContext) ClearStates() {
	c.stateOf().clear()
}

// stateHeader returns the header value to send and whether to send one.
func (c *ConnectionContext) stateHeader() (string, bool) {
	if c.state == nil || !c.state.modified {
		return "", false
	}
	return c.state.encode(), true
}
