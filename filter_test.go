package webpubsub

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gowebpubsub/webpubsub/internal/odata"
)

func TestFilterValue(t *testing.T) {
	type myString string
	tests := []struct {
		in      any
		want    string
		wantErr bool
	}{
		{"vic's", "'vic''s'", false},
		{"", "''", false},
		{"''", "''''''", false},
		{"ü&=", "'ü&='", false},
		{nil, "null", false},
		{true, "true", false},
		{false, "false", false},
		{3, "3", false},
		{int8(-8), "-8", false},
		{int64(2147483647), "2147483647", false},
		{int64(-2147483648), "-2147483648", false},
		{int64(2147483648), "", true},
		{uint32(7), "7", false},
		{uint64(1 << 40), "", true},
		{myString("a'b"), "'a''b'", false},
		{1.5, "", true},
		{float32(1), "", true},
		{[]string{"a"}, "", true},
		{struct{}{}, "", true},
		{map[string]int{}, "", true},
	}
	for _, tt := range tests {
		got, err := FilterValue(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("FilterValue(%#v) = %q, %v; want %q (error %v)", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("FilterValue(%#v): error is not a ValidationError", tt.in)
		}
	}
}

func TestFormatFilter(t *testing.T) {
	tests := []struct {
		format  string
		args    []any
		want    string
		wantErr string
	}{
		{"userId eq {}", []any{"vic's"}, "userId eq 'vic''s'", ""},
		{"{} in groups", []any{"g1"}, "'g1' in groups", ""},
		{"userId ne {}", []any{nil}, "userId ne null", ""},
		{"length(userId) gt {}", []any{3}, "length(userId) gt 3", ""},
		{"{}", []any{true}, "true", ""},
		{"userId in ({})", []any{[]string{"a", "b'c"}}, "userId in ('a','b''c')", ""},
		{"userId in ({}) and {} in groups", []any{[]any{"a", nil}, "g"}, "userId in ('a',null) and 'g' in groups", ""},
		{"length(userId) in ({})", []any{[3]int{1, 2, 3}}, "length(userId) in (1,2,3)", ""},
		{"userId in ({})", []any{[]string{}}, "", "empty list"},
		{"userId eq {}", nil, "", "more {} placeholders"},
		{"userId eq 'a'", []any{"x"}, "", "0 {} placeholders for 1"},
		{"userId eq {}", []any{2.5}, "", "float64"},
		{"userId in ({})", []any{[]float64{1}}, "", "float64"},
	}
	for _, tt := range tests {
		got, err := FormatFilter(tt.format, tt.args...)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("FormatFilter(%q) error %v, want %q", tt.format, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("FormatFilter(%q) = %q, %v; want %q", tt.format, got, err, tt.want)
		}
		if err := ValidateFilter(got); err != nil {
			t.Errorf("%q does not validate: %v", got, err)
		}
	}
}

func TestFilterIn(t *testing.T) {
	tests := []struct {
		id     string
		values any
		want   string
		err    bool
	}{
		{"userId", []string{"a", "b"}, "userId in ('a','b')", false},
		{"connectionId", []string{"c'1"}, "connectionId in ('c''1')", false},
		{"userId", []string{}, "false", false},
		{"userId", nil, "false", false},
		{"userId", "a", "", true},
		{"", []string{"a"}, "", true},
		{"user id", []string{"a"}, "", true},
	}
	for _, tt := range tests {
		got, err := FilterIn(tt.id, tt.values)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("FilterIn(%q, %v) = %q, %v", tt.id, tt.values, got, err)
		}
		if err == nil {
			if err := ValidateFilter(got); err != nil {
				t.Errorf("%q does not validate: %v", got, err)
			}
		}
	}
}

func TestValidateFilter(t *testing.T) {
	for _, ok := range []string{"", "userId eq 'a'", "'g' in groups and not (userId eq null)"} {
		if err := ValidateFilter(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"invalid filter", " ", "userId eq", "not length(userId) gt 5", "user eq 'a'"} {
		if err := ValidateFilter(bad); !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), "Invalid syntax") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// FuzzFilter checks that any string, quoted by the helpers, is one literal:
// the filter parses, and it matches exactly the connection whose user id is
// that string.
func FuzzFilter(f *testing.F) {
	for _, s := range []string{"", "vic's", "''", "a&b=c+d#e%f/g ü", "it''s", "😀x", "\x00", "' or true or '", ")", "userId"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		if !utf8.ValidString(s) {
			// The service decodes filters as UTF-8; such strings cannot be ids.
			return
		}
		expr, err := FormatFilter("userId eq {} or connectionId in ({})", s, []any{s, n})
		if n < -2147483648 || n > 2147483647 {
			if err == nil {
				t.Fatalf("out-of-range integer accepted")
			}
			return
		}
		if err != nil {
			t.Fatalf("FormatFilter: %v", err)
		}
		flt, err := odata.Parse(expr)
		if err != nil {
			if len(expr) > 65536 {
				return // over the documented length limit
			}
			t.Fatalf("%q does not parse: %v", expr, err)
		}
		other := s + "x"
		if !flt.Match(odata.Connection{ConnectionID: s + "y", UserID: &s}) {
			t.Fatalf("%q does not match user %q", expr, s)
		}
		if flt.Match(odata.Connection{ConnectionID: s + "y", UserID: &other}) {
			t.Fatalf("%q matches user %q", expr, other)
		}
		if !flt.Match(odata.Connection{ConnectionID: s, UserID: nil}) {
			t.Fatalf("%q does not match connection %q", expr, s)
		}
		in, err := FilterIn("userId", []string{s, other})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := odata.Parse(in); err != nil || !g.Match(odata.Connection{UserID: &other}) {
			t.Fatalf("%q: %v", in, err)
		}
	})
}
