package names

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	tests := []struct {
		rule func(string) string
		name string
		in   string
		ok   bool
	}{
		{Hub, "hub simple", "chat", true},
		{Hub, "hub punctuation", "a_`,.[]9", true},
		{Hub, "hub empty", "", false},
		{Hub, "hub digit first", "1a", false},
		{Hub, "hub dash", "a-b", false},
		{Hub, "hub 128", "a" + strings.Repeat("b", 127), true},
		{Hub, "hub 129", "a" + strings.Repeat("b", 128), false},
		{Group, "group simple", "g", true},
		{Group, "group empty", "", false},
		{Group, "group blank", " \t", false},
		{Group, "group ideographic space", "\u3000", false},
		{Group, "group em space", "\u2003", false},
		{Group, "group line separator", "\u2028", false},
		{Group, "group NEL", "\u0085", false},
		{Group, "group invalid UTF-8", "a\xffb", false},
		{Group, "group line feed", "a\nb", false},
		{Group, "group CR ok", "a\rb", true},
		{Group, "group 1024", strings.Repeat("é", 1024), true},
		{Group, "group 1025", strings.Repeat("é", 1025), false},
		{Group, "group space inside", " a ", true},
		{Event, "event simple", "message", true},
		{Event, "event punct", "a.b-c_d9", true},
		{Event, "event empty", "", false},
		{Event, "event digit first", "9a", false},
		{Event, "event space", "a b", false},
		{Event, "event 129", "a" + strings.Repeat("b", 128), false},
		{ID, "id", "u1", true},
		{ID, "id empty", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.rule(tc.in); (got == "") != tc.ok {
				t.Fatalf("rule(%q) = %q, want ok=%v", tc.in, got, tc.ok)
			}
		})
	}
}

func FuzzNames(f *testing.F) {
	for _, s := range []string{"", "chat", "\u3000", "a\xffb", "a\nb", "a.b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if Group(s) == "" && strings.TrimSpace(s) == "" {
			t.Fatalf("blank group %q accepted", s)
		}
		if Hub(s) == "" && Event(s) == "" && strings.ContainsAny(s, "[]`,") {
			t.Fatalf("%q accepted by both hub and event rules", s)
		}
	})
}
