package odata

import (
	"errors"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, v := range loadVectors(f) {
		f.Add(v.Filter)
	}
	f.Add("")
	f.Add("'a' in ((groups)) in ('x', null, -1, +2, true)")
	f.Add("substring(userId, indexof(userId, '😀'), length(groups)) eq concat(trim(connectionId), null)")
	uid, emptyUID := "u😀1", ""
	conns := []Connection{
		{},
		{ConnectionID: "c", UserID: &uid, Groups: []string{"g1", "u😀1"}},
		{ConnectionID: "\xff", UserID: &emptyUID, Groups: []string{}},
		{ConnectionID: "conn1", UserID: nil, Groups: nil},
	}
	f.Fuzz(func(t *testing.T, src string) {
		flt, err := Parse(src)
		flt2, err2 := Parse(src)
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Parse(%q) is not deterministic", src)
		}
		if err != nil {
			if flt != nil {
				t.Fatal("Filter returned with an error")
			}
			var e, e2 *Error
			if !errors.As(err, &e) || !errors.As(err2, &e2) {
				t.Fatalf("error %T is not *Error", err)
			}
			if *e != *e2 {
				t.Fatalf("Parse(%q) errors differ: %#v vs %#v", src, e, e2)
			}
			if e.Error() == "" || e.Detail == "" || e.Category == "" {
				t.Fatalf("Parse(%q): incomplete error %#v", src, e)
			}
			return
		}
		if flt.String() != src || flt.Clauses() < 1 || flt.Clauses() > MaxClauses {
			t.Fatalf("Parse(%q): String %q, Clauses %d", src, flt.String(), flt.Clauses())
		}
		for _, c := range conns {
			if flt.Match(c) != flt2.Match(c) {
				t.Fatalf("Match(%q) is not deterministic", src)
			}
		}
	})
}
