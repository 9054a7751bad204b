package webpubsub

import (
	"errors"
	"strings"
	"testing"
)

// TestValidateGroupFollowsServiceRule checks that the root client refuses
// the names the emulator and webpubsubclient refuse.
func TestValidateGroupFollowsServiceRule(t *testing.T) {
	tests := []struct {
		group string
		ok    bool
	}{
		{"g", true}, {" a ", true}, {strings.Repeat("x", 1024), true},
		{"", false}, {" ", false}, {"\u3000", false}, {"\u2003", false}, {"\u2028", false},
		{"a\xffb", false}, {"a\nb", false}, {strings.Repeat("x", 1025), false},
	}
	for _, tc := range tests {
		err := validateGroup("group", tc.group)
		if (err == nil) != tc.ok {
			t.Errorf("validateGroup(%q) = %v, want ok=%v", tc.group, err, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("validateGroup(%q) error does not wrap ErrInvalidArgument", tc.group)
		}
	}
}
