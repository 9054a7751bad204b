package exported

import (
	"errors"
	"strings"
	"testing"
)

func TestValidationError(t *testing.T) {
	tests := []struct {
		name string
		err  ValidationError
		want string
	}{
		{"no value", ValidationError{Name: "cred", Reason: "must not be nil"}, "invalid cred: must not be nil"},
		{"value", ValidationError{Name: "group", Value: "a b", Reason: "r"}, `invalid group "a b": r`},
		{"quotes and control characters escaped", ValidationError{Name: "hub", Value: "a\"b\n\x00", Reason: "r"}, `invalid hub "a\"b\n\u0000": r`},
		{"HTML escaped", ValidationError{Name: "hub", Value: "<a&b>", Reason: "r"}, `invalid hub "\u003ca\u0026b\u003e": r`},
		{"invalid UTF-8 replaced", ValidationError{Name: "group", Value: "a\xffb", Reason: "r"}, `invalid group "a\ufffdb": r`},
		{"80 bytes kept whole", ValidationError{Name: "group", Value: strings.Repeat("x", 80), Reason: "r"}, `invalid group "` + strings.Repeat("x", 80) + `": r`},
		{"81 bytes shortened", ValidationError{Name: "group", Value: strings.Repeat("x", 81), Reason: "r"}, `invalid group "` + strings.Repeat("x", 80) + `...": r`},
		{"shortened inside a rune", ValidationError{Name: "group", Value: strings.Repeat("x", 79) + "éé", Reason: "r"}, `invalid group "` + strings.Repeat("x", 79) + `\ufffd...": r`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := &tt.err
			if got := err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
			if !errors.Is(err, ErrInvalidArgument) {
				t.Error("does not wrap ErrInvalidArgument")
			}
			var ve *ValidationError
			if !errors.As(error(err), &ve) || ve != err {
				t.Error("errors.As does not find the *ValidationError")
			}
		})
	}
}
