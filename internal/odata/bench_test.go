package odata

import (
	"strings"
	"testing"
)

// benchFilter is the documentation's representative filter.
const benchFilter = "userId in ('user1', 'user2', 'user3') and 'group1' in groups"

var (
	benchUID  = "user3"
	benchConn = Connection{ConnectionID: "conn1", UserID: &benchUID, Groups: []string{"group0", "group1", "group2"}}
	sinkBool  bool
	sinkInt   int
	sinkF     *Filter
)

// BenchmarkParse compiles benchFilter.
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFilter)))
	for b.Loop() {
		f, err := Parse(benchFilter)
		if err != nil {
			b.Fatal(err)
		}
		sinkF = f
	}
}

// BenchmarkParseLarge compiles a filter close to MaxLength made of many
// membership tests whose literal-list reading fails and falls back to
// (groups); parsing stays linear in the length.
func BenchmarkParseLarge(b *testing.B) {
	src := "'g' in (groups)"
	for len(src)+len(" or 'g' in (groups)") <= MaxLength {
		src += " or 'g' in (groups)"
		if strings.Count(src, " or ") == MaxClauses-1 {
			break
		}
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		f, err := Parse(src)
		if err != nil {
			b.Fatal(err)
		}
		sinkF = f
	}
}

// BenchmarkBaselineScan is the physical limit for Parse: one pass over the
// filter's bytes, classifying each as the lexer must.
func BenchmarkBaselineScan(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchFilter)))
	for b.Loop() {
		n := 0
		for i := 0; i < len(benchFilter); i++ {
			c := benchFilter[i]
			if isLetter(c) || isDigit(c) || c == '\'' {
				n++
			}
		}
		sinkInt = n
	}
}

// BenchmarkMatch evaluates benchFilter against a connection that passes it
// (the worst case: every comparison runs).
func BenchmarkMatch(b *testing.B) {
	f, err := Parse(benchFilter)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = f.Match(benchConn)
	}
}

// BenchmarkBaselineStringCompare does what BenchmarkMatch does, written by
// hand in Go: the physical limit for evaluating benchFilter.
func BenchmarkBaselineStringCompare(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = baselineMatch(benchConn)
	}
}

//go:noinline
func baselineMatch(c Connection) bool {
	if c.UserID == nil {
		return false
	}
	u := *c.UserID
	if u != "user1" && u != "user2" && u != "user3" {
		return false
	}
	for _, g := range c.Groups {
		if g == "group1" {
			return true
		}
	}
	return false
}

// BenchmarkMatchLargeList evaluates a 100-item list, which uses a set.
func BenchmarkMatchLargeList(b *testing.B) {
	src := "userId in ("
	for i := range 100 {
		if i > 0 {
			src += ", "
		}
		src += "'user" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + "'"
	}
	src += ", 'user3')"
	f, err := Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		sinkBool = f.Match(benchConn)
	}
}
