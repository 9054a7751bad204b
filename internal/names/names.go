// Package names holds the service's rules for hub, group, event and id
// names, and the names of the group permissions, once, for every package
// of the module. Each rule returns "" for a valid name, else a reason that
// completes a sentence starting with the name's role ("group must ..."),
// ready for a validation error.
package names

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The REST names of the group permissions a connection can be granted
// (the {permission} of /permissions/{permission}/connections/{id}).
const (
	PermissionJoinLeaveGroup = "joinLeaveGroup"
	PermissionSendToGroup    = "sendToGroup"
)

// MaxGroupLength is the longest group name, in Unicode code points.
const MaxGroupLength = 1024

// Reasons returned by the rules.
const (
	HubReason   = "must match ^[A-Za-z][A-Za-z0-9_`,.[\\]]{0,127}$ (a letter, then up to 127 letters, digits or _ ` , . [ ])"
	EventReason = "must match ^[A-Za-z][A-Za-z0-9_.-]{0,127}$ (a letter, then up to 127 letters, digits or _ . -)"
)

// Hub checks a hub name: ^[A-Za-z][A-Za-z0-9_`,.\[\]]{0,127}$.
func Hub(h string) string {
	if h == "" || len(h) > 128 || !isLetter(h[0]) {
		return HubReason
	}
	for i := 1; i < len(h); i++ {
		c := h[i]
		if !isLetter(c) && !isDigit(c) && !strings.ContainsRune("_`,.[]", rune(c)) {
			return HubReason
		}
	}
	return ""
}

// Group checks a group name: 1 to 1024 code points of valid UTF-8, no line
// feed, and not made only of white space (unicode.IsSpace).
func Group(g string) string {
	switch {
	case g == "":
		return "must not be empty (1..1024 characters)"
	case !utf8.ValidString(g):
		return "must be valid UTF-8"
	case strings.IndexByte(g, '\n') >= 0:
		return "must not contain a line feed"
	case utf8.RuneCountInString(g) > MaxGroupLength:
		return "must be at most 1024 characters"
	case strings.IndexFunc(g, func(r rune) bool { return !unicode.IsSpace(r) }) < 0:
		return "must not be only white space"
	}
	return ""
}

// Event checks a user event name: ^[A-Za-z][A-Za-z0-9_.\-]{0,127}$.
func Event(e string) string {
	if e == "" || len(e) > 128 || !isLetter(e[0]) {
		return EventReason
	}
	for i := 1; i < len(e); i++ {
		c := e[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && c != '.' && c != '-' {
			return EventReason
		}
	}
	return ""
}

// ID checks a user id or connection id as a client sends it in a REST
// path: it must not be empty (an empty id changes the route).
func ID(id string) string {
	if id == "" {
		return "must not be empty"
	}
	return ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
