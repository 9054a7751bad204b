package cloudevents

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
)

// State is a decoded HeaderConnectionState value in the encoding of
// @azure/web-pubsub-express: the base64 of a JSON object whose properties
// are the connection's named values. It keeps the names in the order they
// were first seen, so that a value set again keeps its place, and records
// whether it was modified (a receiver writes a response header only then).
//
// The zero State is empty and ready to use. A State is not safe for
// concurrent use.
type State struct {
	names    []string
	values   map[string]json.RawMessage
	modified bool
}

// Errors of DecodeState. Their text never holds the header value.
var (
	errStateBase64    = errors.New("the state is not valid base64")
	errStateJSON      = errors.New("the state is not valid JSON")
	errStateTrailing  = errors.New("the state is not valid JSON: data after the object")
	errStateNotObject = errors.New("the state is not a JSON object")
)

// DecodeState decodes a HeaderConnectionState value: base64 (the standard
// alphabet; unpadded and URL-safe forms are tolerated, as Node's decoder
// tolerates them) of a UTF-8 JSON object. A repeated property keeps its
// first position and takes the last value, as JSON.parse does; values are
// stored compacted. An empty header is an empty state.
//
// It never returns a nil State: on failure the state is empty and the error
// says why, without quoting the input.
func DecodeState(header string) (*State, error) {
	s := &State{}
	if header == "" {
		return s, nil
	}
	raw, err := decodeBase64(header)
	if err != nil {
		return s, err
	}
	names, values, err := parseOrderedObject(raw)
	if err != nil {
		return s, err
	}
	s.names, s.values = names, values
	return s, nil
}

func decodeBase64(v string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(v); err == nil {
			return b, nil
		}
	}
	return nil, errStateBase64
}

// parseOrderedObject parses a JSON object and keeps its keys in the order of
// their first appearance.
func parseOrderedObject(data []byte) ([]string, map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, errStateJSON
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, errStateNotObject
	}
	var names []string
	values := map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, errStateJSON
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, errStateJSON
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, errStateJSON
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, raw); err != nil {
			return nil, nil, errStateJSON
		}
		if _, seen := values[name]; !seen {
			names = append(names, name)
		}
		values[name] = buf.Bytes()
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return nil, nil, errStateJSON
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, nil, errStateTrailing
	}
	return names, values, nil
}

// Encode returns the header value: the standard, padded base64 of the
// compact JSON object, names in order, without HTML escaping (as
// JSON.stringify writes it). An empty state encodes as "e30=", the base64
// of "{}", never as "".
func (s *State) Encode() string {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, name := range s.names {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshalNoEscape(name))
		b.WriteByte(':')
		b.Write(s.values[name])
	}
	b.WriteByte('}')
	return base64.StdEncoding.EncodeToString(b.Bytes())
}

// marshalNoEscape marshals a string as JSON.stringify would: without
// escaping <, > and &.
func marshalNoEscape(v string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Unreachable for strings; keep the output valid JSON regardless.
		return []byte(`""`)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// Len returns the number of values.
func (s *State) Len() int { return len(s.names) }

// Names returns the names of the values, in order, as a new slice.
func (s *State) Names() []string { return append([]string(nil), s.names...) }

// Get returns the raw JSON of the value called name, and whether there is
// one. The caller must not modify the returned bytes.
func (s *State) Get(name string) (json.RawMessage, bool) {
	v, ok := s.values[name]
	return v, ok
}

// Values returns a copy of the values. The map is never nil.
func (s *State) Values() map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(s.values))
	for k, v := range s.values {
		out[k] = bytes.Clone(v)
	}
	return out
}

// Set stores value, marshalled with encoding/json without HTML escaping,
// under name. It replaces any previous value and keeps the name's
// position; a new name goes last. The error is the marshalling error, and
// the state is then unchanged.
func (s *State) Set(name string, value any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return err
	}
	if s.values == nil {
		s.values = map[string]json.RawMessage{}
	}
	if _, ok := s.values[name]; !ok {
		s.names = append(s.names, name)
	}
	s.values[name] = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	s.modified = true
	return nil
}

// Delete removes the value called name. Removing a name that is not
// present changes nothing, and does not count as a modification.
func (s *State) Delete(name string) {
	if _, ok := s.values[name]; !ok {
		return
	}
	delete(s.values, name)
	for i, n := range s.names {
		if n == name {
			s.names = append(s.names[:i:i], s.names[i+1:]...)
			break
		}
	}
	s.modified = true
}

// Clear removes every value. It always counts as a modification, so that a
// receiver answers with "e30=" and the service's copy is cleared too.
func (s *State) Clear() {
	s.names = nil
	s.values = nil
	s.modified = true
}

// Modified reports whether Set, Delete or Clear changed the state since it
// was decoded or created.
func (s *State) Modified() bool { return s.modified }
