package protocol

import "github.com/gowebpubsub/webpubsub/internal/names"

// MaxGroupNameLength is the longest group name, in Unicode code points.
const MaxGroupNameLength = names.MaxGroupLength

// ValidGroupName reports whether g is a valid group name (names.Group).
func ValidGroupName(g string) bool { return names.Group(g) == "" }

// ValidEventName reports whether e is a valid user event name (names.Event).
func ValidEventName(e string) bool { return names.Event(e) == "" }

func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
