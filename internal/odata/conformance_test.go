package odata

import (
	"encoding/json"
	"errors"
	"os"
	"testing"
)

// vector is one entry of testdata/odata-filters.json (a copy of the
// project's conformance/odata-filters.json).
type vector struct {
	Name       string `json:"name"`
	Filter     string `json:"filter"`
	Connection *struct {
		UserID       *string  `json:"userId"`
		ConnectionID string   `json:"connectionId"`
		Groups       []string `json:"groups"`
	} `json:"connection"`
	Expect      *bool  `json:"expect"`
	ExpectError bool   `json:"expectError"`
	Note        string `json:"note"`
}

func loadVectors(tb testing.TB) []vector {
	tb.Helper()
	data, err := os.ReadFile("testdata/odata-filters.json")
	if err != nil {
		tb.Fatal(err)
	}
	var file struct {
		Vectors []vector `json:"vectors"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		tb.Fatal(err)
	}
	if len(file.Vectors) == 0 {
		tb.Fatal("no vectors")
	}
	return file.Vectors
}

func TestConformance(t *testing.T) {
	vectors := loadVectors(t)
	var valid, invalid int
	for _, v := range vectors {
		t.Run(v.Name, func(t *testing.T) {
			f, err := Parse(v.Filter)
			if v.ExpectError {
				invalid++
				if err == nil {
					t.Fatalf("Parse(%.80q) succeeded, want an error (%s)", v.Filter, v.Note)
				}
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("error %T is not *Error", err)
				}
				if e.Error() == "" || e.Category == "" {
					t.Fatalf("empty error or category: %#v", e)
				}
				if f != nil {
					t.Fatal("non-nil Filter with an error")
				}
				return
			}
			valid++
			if err != nil {
				t.Fatalf("Parse(%q): %v", v.Filter, err)
			}
			if v.Connection == nil || v.Expect == nil {
				t.Fatal("malformed vector: no connection or expect")
			}
			c := Connection{ConnectionID: v.Connection.ConnectionID, UserID: v.Connection.UserID, Groups: v.Connection.Groups}
			if got := f.Match(c); got != *v.Expect {
				t.Fatalf("Match(%q) = %v, want %v (%s)", v.Filter, got, *v.Expect, v.Note)
			}
			if f.String() != v.Filter {
				t.Fatalf("String() = %q, want the source", f.String())
			}
		})
	}
	// The spec announces 139 vectors, 42 of them errors.
	if valid+invalid != 139 || invalid != 42 {
		t.Errorf("ran %d valid and %d error vectors, want 97 and 42", valid, invalid)
	}
}
