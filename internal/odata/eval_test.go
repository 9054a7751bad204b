package odata

import (
	"strings"
	"sync"
	"testing"
)

func ptr(s string) *string { return &s }

var (
	named = Connection{ConnectionID: "conn1", UserID: ptr("user1"), Groups: []string{"group1", "group2"}}
	anon  = Connection{ConnectionID: "anon1"}
	emoji = Connection{ConnectionID: "e1", UserID: ptr("😀x"), Groups: []string{"😀"}}
	// bad holds invalid UTF-8, which JSON decoding never produces but a Go
	// caller might; each invalid byte counts as one U+FFFD.
	bad = Connection{ConnectionID: "\xffa", UserID: ptr("a\xff\xfeb")}
)

func TestMatch(t *testing.T) {
	tests := []struct {
		name   string
		filter string
		conn   Connection
		want   bool
	}{
		// null semantics
		{"userId eq null anonymous", "userId eq null", anon, true},
		{"userId ne null anonymous", "userId ne null", anon, false},
		{"null eq null", "null eq null", named, true},
		{"null ne null", "null ne null", named, false},
		{"null gt null", "null gt null", named, false},
		{"null le null", "null le null", named, false},
		{"null in list with null", "null in ('a', null)", named, true},
		{"null in list without null", "null in ('a', 1, true)", named, false},
		{"null in groups", "null in groups", named, false},
		{"anonymous in groups", "userId in groups", Connection{Groups: []string{""}}, false},
		{"null user not in list of empty string", "userId in ('')", anon, false},
		{"null user ne empty string", "userId ne ''", anon, true},
		{"length of null is null", "length(userId) eq null", anon, true},
		{"length of null is not 0", "length(userId) eq 0", anon, false},
		{"ordering on null length", "length(userId) ge 0", anon, false},
		{"not of null ordering", "not (length(userId) lt 0)", anon, true},
		{"tolower null", "tolower(userId) eq null", anon, true},
		{"toupper null", "toupper(userId) eq null", anon, true},
		{"trim null", "trim(userId) eq null", anon, true},
		{"substring of null", "substring(userId, 0) eq null", anon, true},
		{"substring null index at run time", "substring(connectionId, length(userId)) eq null", anon, true},
		{"substring null count at run time", "substring(connectionId, 0, length(userId)) eq null", anon, true},
		{"startswith null", "startswith(userId, '')", anon, false},
		{"endswith null needle", "endswith(connectionId, userId)", anon, false},
		{"contains null", "contains(userId, '')", anon, false},
		{"indexof null haystack", "indexof(userId, '') eq -1", anon, true},
		{"indexof null needle", "indexof(connectionId, userId) eq -1", anon, true},
		{"concat both null", "concat(userId, null) eq null", anon, true},
		{"concat right null", "concat('x', userId) eq 'x'", anon, true},
		{"concat of null is not empty", "concat(userId, userId) eq ''", anon, false},

		// cross-type equality
		{"string eq int", "userId eq 5", Connection{UserID: ptr("5")}, false},
		{"int ne string", "length(userId) ne '5'", named, true},
		{"bool eq int", "true eq 1", named, false},
		{"int in string list", "5 in ('5')", named, false},
		{"int in int list", "5 in (4, 5)", named, true},
		{"bool in list", "true in (false, true)", named, true},
		{"int in groups", "5 in groups", Connection{Groups: []string{"5"}}, false},
		{"bool in groups", "true in groups", Connection{Groups: []string{"true"}}, false},

		// ordinal comparison
		{"value case matters", "userId eq 'USER1'", named, false},
		{"tolower for case-insensitive", "tolower(userId) eq 'user1'", Connection{UserID: ptr("UsEr1")}, true},
		{"combining mark not normalised", "userId eq 'e\u0301'", Connection{UserID: ptr("\u00e9")}, false},

		// precedence and associativity
		{"and before or", "true or false and false", named, true},
		{"and before or reversed", "false and false or true", named, true},
		{"not before and", "not false and false", named, false},
		{"in before not", "not 'group1' in groups", named, false},
		{"in before eq", "'a' in ('a') eq true", named, true},
		{"eq chain", "userId eq 'user1' eq true", named, true},
		{"eq chain false", "userId eq 'x' eq true", named, false},
		{"ordering then eq", "1 lt 2 eq true", named, true},
		{"int chain", "length(userId) eq 5 eq true ne false", named, true},
		{"parens override", "(true or false) and false", named, false},
		{"double not", "not not false", named, false},
		{"long and chain stops on false", clauses(50, " and "), Connection{UserID: ptr("u")}, false},
		{"long or chain", clauses(50, " or "), Connection{UserID: ptr("uxx")}, true},

		// in disambiguation
		{"one-item list", "userId in ('user1')", named, true},
		{"parenthesised collection", "'group2' in (groups)", named, true},
		{"doubly parenthesised collection", "'group2' in ((groups))", named, true},
		{"collection miss", "'group3' in (groups)", named, false},
		{"empty list", "userId in ()", named, false},
		{"empty list null", "userId in ()", anon, false},
		{"in chain bool", "userId in ('x', 'user1') in (true)", named, true},
		{"in chain groups", "'a' in ('a') in groups", Connection{Groups: []string{"true"}}, false},
		{"parenthesised left", "(userId) in ('user1')", named, true},
		{"large list hit", "userId in ('a','b','c','d','e','f','g','h','user1')", named, true},
		{"large list miss", "userId in ('a','b','c','d','e','f','g','h','i')", named, false},
		{"large list null item", "userId in ('a','b','c','d','e','f','g','h',null)", anon, true},
		{"large list null miss", "userId in ('a','b','c','d','e','f','g','h','i')", anon, false},
		{"large int list", "length(userId) in (1,2,3,4,6,7,8,9,5)", named, true},
		{"large mixed list", "length(userId) in ('5','a','b','c','d','e','f','g',5)", named, true},
		{"large list string vs int", "userId in (1,2,3,4,5,6,7,8,'user1')", named, true},

		// functions
		{"length groups", "length(groups) eq 2", named, true},
		{"length groups nil", "length(groups) eq 0", anon, true},
		{"tolower unicode", "tolower(userId) eq 'ärger'", Connection{UserID: ptr("ÄRGER")}, true},
		{"toupper unicode", "toupper(userId) eq 'ÄRGER'", Connection{UserID: ptr("ärger")}, true},
		{"trim unicode spaces", "trim(userId) eq 'a b'", Connection{UserID: ptr("\u00a0\t a b\n\u2003")}, true},
		{"substring whole", "substring(userId, 0) eq 'user1'", named, true},
		{"substring empty at end with count", "substring(userId, 5, 0) eq ''", named, true},
		{"substring count past end", "substring(userId, 4, 2) eq null", named, true},
		{"substring negative count", "substring(userId, 0, -1) eq null", named, true},
		{"substring exact end", "substring(userId, 3, 2) eq 'r1'", named, true},
		{"substring int32 extremes", "substring(userId, 2147483647, 2147483647) eq null", named, true},
		{"substring negative extreme", "substring(userId, -2147483648) eq null", named, true},
		{"startswith empty", "startswith(userId, '')", named, true},
		{"endswith empty", "endswith(userId, '')", named, true},
		{"contains empty", "contains(userId, '')", named, true},
		{"contains whole", "contains(userId, 'user1')", named, true},
		{"contains longer", "contains(userId, 'user12')", named, false},
		{"endswith miss", "endswith(userId, 'user')", named, false},
		{"indexof first occurrence", "indexof('abab', 'b') eq 1", named, true},
		{"indexof empty in empty", "indexof('', '') eq 0", named, true},
		{"concat strings", "concat(concat(userId, '/'), connectionId) eq 'user1/conn1'", named, true},
		{"escaped quote", "userId eq 'it''s'", Connection{UserID: ptr("it's")}, true},
		{"only quotes", "userId eq ''''''", Connection{UserID: ptr("''")}, true},
		{"empty string literal", "userId eq ''", Connection{UserID: ptr("")}, true},

		// UTF-16 code units
		{"emoji length", "length(userId) eq 3", emoji, true},
		{"emoji literal length", "length('😀') eq 2", named, true},
		{"two-byte char length", "length('é') eq 1", named, true},
		{"combining sequence length", "length('e\u0301') eq 2", named, true},
		{"emoji indexof", "indexof(userId, 'x') eq 2", emoji, true},
		{"indexof after emoji and BMP", "indexof('a😀é😀c', 'c') eq 6", named, true},
		{"indexof of emoji", "indexof('ab😀', '😀') eq 2", named, true},
		{"emoji substring", "substring(userId, 2) eq 'x'", emoji, true},
		{"substring keeps pair", "substring(userId, 0, 2) eq '😀'", emoji, true},
		{"substring splits pair at start", "substring(userId, 1) eq '\ufffdx'", emoji, true},
		{"substring splits pair at end", "substring(userId, 0, 1) eq '\ufffd'", emoji, true},
		{"substring inside pair", "substring(userId, 1, 1) eq '\ufffd'", emoji, true},
		{"substring between pairs", "substring('😀😀', 1, 2) eq '\ufffd\ufffd'", named, true},
		{"substring BMP", "substring('héllo', 1, 3) eq 'éll'", named, true},
		{"substring past emoji end", "substring(userId, 4) eq null", emoji, true},
		{"startswith emoji", "startswith(userId, '😀')", emoji, true},
		{"emoji group", "'😀' in groups", emoji, true},

		// invalid UTF-8 in connection values
		{"invalid length", "length(userId) eq 4", bad, true},
		{"invalid indexof", "indexof(userId, 'b') eq 3", bad, true},
		{"invalid substring", "substring(userId, 1, 2) eq '\ufffd\ufffd'", bad, true},
		{"invalid substring tail", "substring(connectionId, 1) eq 'a'", bad, true},
		{"invalid startswith", "startswith(connectionId, '\ufffd')", bad, true},
		{"invalid contains", "contains(userId, '\ufffd\ufffdb')", bad, true},
		{"invalid eq is bytewise", "connectionId eq '\ufffda'", bad, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.filter)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.filter, err)
			}
			if got := f.Match(tt.conn); got != tt.want {
				t.Fatalf("Match(%q) = %v, want %v", tt.filter, got, tt.want)
			}
		})
	}
}

func TestMatchDoesNotModifyConnection(t *testing.T) {
	f, err := Parse("tolower(userId) eq 'a' or 'g' in groups or length(groups) eq 1")
	if err != nil {
		t.Fatal(err)
	}
	uid := "A"
	groups := []string{"x", "y"}
	c := Connection{ConnectionID: "c", UserID: &uid, Groups: groups}
	f.Match(c)
	if uid != "A" || c.ConnectionID != "c" || strings.Join(groups, ",") != "x,y" {
		t.Fatal("Match modified its input")
	}
}

func TestMatchConcurrent(t *testing.T) {
	f, err := Parse("userId in ('user1', 'user2', 'user3', 'a', 'b', 'c', 'd', 'e') and 'group1' in groups and substring(userId, 1) eq 'ser1'")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				c, want := named, true
				if (g+i)%2 == 1 {
					c, want = anon, false
				}
				if f.Match(c) != want {
					errs <- "wrong result under concurrency"
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func TestMatchAllocations(t *testing.T) {
	// Filters whose evaluation builds no new strings must not allocate.
	filters := []string{
		"userId in ('user1', 'user2', 'user3') and 'group1' in groups",
		"userId eq 'user1' and connectionId ne '123'",
		"userId eq 'user1' and (not ('group1' in groups))",
		"userId in ('a','b','c','d','e','f','g','h','user1')",
		"length(userId) gt 4 and startswith(userId, 'us') and indexof(userId, 'r') eq 2",
		"substring(userId, 1, 3) eq 'ser' and endswith(connectionId, '1')",
		"userId eq 'u' eq false ne true",
		"tolower(userId) eq 'user1'", // already lower-case: no copy
	}
	for _, src := range filters {
		f, err := Parse(src)
		if err != nil {
			t.Fatalf("Parse(%q): %v", src, err)
		}
		if n := testing.AllocsPerRun(100, func() { f.Match(named) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", src, n)
		}
	}
}
