package odata

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// parseErr parses src, requires an *Error, and checks the invariants every
// error must satisfy.
func parseErr(t *testing.T, src string) *Error {
	t.Helper()
	f, err := Parse(src)
	if err == nil {
		t.Fatalf("Parse(%.100q) succeeded, want an error", src)
	}
	if f != nil {
		t.Fatalf("Parse(%.100q) returned a Filter with its error", src)
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Parse(%.100q): error %T is not *Error", src, err)
	}
	if want := "Invalid syntax for '" + e.Expr + "': " + e.Detail; e.Error() != want {
		t.Fatalf("Error() = %q, want %q", e.Error(), want)
	}
	if e.Detail == "" || e.Expr == "" && src != "" {
		t.Fatalf("Parse(%.100q): empty Detail or Expr: %#v", src, e)
	}
	if n := utf8.RuneCountInString(src); e.Pos < 0 || e.Pos > n {
		t.Fatalf("Parse(%.100q): Pos %d outside 0..%d", src, e.Pos, n)
	}
	return e
}

func TestParseErrorCategories(t *testing.T) {
	tests := []struct {
		name string
		src  string
		cat  Category
	}{
		// syntax
		{"empty", "", CategorySyntax},
		{"spaces", "   ", CategorySyntax},
		{"all whitespace kinds", " \t\r\n", CategorySyntax},
		{"two strings", "userId eq 'a' 'b'", CategorySyntax},
		{"missing right operand", "userId eq", CategorySyntax},
		{"operator first", "eq 'a'", CategorySyntax},
		{"empty parens", "()", CategorySyntax},
		{"unclosed paren", "(true", CategorySyntax},
		{"extra close", "true)", CategorySyntax},
		{"trailing comma", "userId eq 'a',", CategorySyntax},
		{"function without parens", "length userId eq 1", CategorySyntax},
		{"bare function name", "length", CategorySyntax},
		{"argument list trailing comma", "tolower(userId,) eq 'a'", CategorySyntax},
		{"argument list leading comma", "tolower(,userId) eq 'a'", CategorySyntax},
		{"unclosed argument list", "tolower(userId eq 'a'", CategorySyntax},
		{"minus before space", "length(userId) eq - 1", CategorySyntax},
		{"lone plus", "length(userId) eq +", CategorySyntax},
		{"number then letters", "1userId eq 1", CategorySyntax},
		{"long suffix", "length(userId) eq 10L", CategorySyntax},
		{"number then underscore", "length(userId) eq 1_0", CategorySyntax},
		{"exponent", "length(userId) eq 1e5", CategorySyntax},
		{"hex", "length(userId) eq 0x10", CategorySyntax},
		{"decimal", "userId eq 1.5", CategorySyntax},
		{"no-break space is not whitespace", "userId eq 'a'\u00a0", CategorySyntax},
		{"vertical tab is not whitespace", "userId\veq 'a'", CategorySyntax},
		{"invalid UTF-8 in a string", "userId eq '\xff'", CategorySyntax},
		{"invalid UTF-8 outside strings", "\xc3userId eq 'a'", CategorySyntax},
		{"double and", "userId eq 'a' and and true", CategorySyntax},
		{"lone not", "not", CategorySyntax},
		{"dangling or", "userId eq 'a' or", CategorySyntax},
		{"in without right side", "'a' in", CategorySyntax},
		{"unclosed list", "'a' in ('a'", CategorySyntax},
		{"list trailing comma", "'a' in ('a',)", CategorySyntax},
		{"list only comma", "'a' in (,)", CategorySyntax},
		{"list missing comma", "'a' in ('a' 'b')", CategorySyntax},
		{"list with identifier", "'a' in ('a', userId)", CategorySyntax},
		{"list with call", "'a' in ('a', tolower('A'))", CategorySyntax},
		{"null null", "userId eq null null", CategorySyntax},
		{"semicolon", "userId eq 'a'; true", CategorySyntax},
		{"slash", "groups/any(g: g eq 'a')", CategorySyntax},
		{"dot", "userId.length eq 1", CategorySyntax},
		{"dollar", "$filter eq 1", CategorySyntax},
		{"at", "@p eq 1", CategorySyntax},
		{"star", "*", CategorySyntax},
		{"equals sign", "userId = 'a'", CategorySyntax},
		{"less than", "1 < 2", CategorySyntax},
		{"greater than", "2 > 1", CategorySyntax},
		{"colon", "userId eq 'a:' :", CategorySyntax},
		{"brackets", "[true]", CategorySyntax},
		{"double quotes", `userId eq "a"`, CategorySyntax},
		{"unterminated string", "userId eq 'abc", CategorySyntax},
		{"unterminated after escape", "userId eq 'abc''", CategorySyntax},
		{"unescaped quote", "userId eq 'vic's'", CategorySyntax},
		{"upper-case keyword", "userId EQ 'a'", CategorySyntax},
		{"upper-case and", "true AND true", CategorySyntax},
		{"keyword glued to word", "trueand false", CategorySyntax},
		{"unary minus on a call", "-length(userId) lt 0", CategorySyntax},
		{"arithmetic", "length(userId) add 1 eq 2", CategorySyntax},
		{"syntax wins over earlier name error", "user eq 'a' and", CategorySyntax},
		{"syntax wins over earlier type error", "tolower(5) eq 'a' or", CategorySyntax},
		{"in keyword as operand", "in eq 1", CategorySyntax},

		// unknown name
		{"unknown identifier", "user eq 'a'", CategoryUnknownName},
		{"protocol is undocumented", "protocol eq 'json.webpubsub.azure.v1'", CategoryUnknownName},
		{"upper-case true", "TRUE", CategoryUnknownName},
		{"capitalised null", "userId eq Null", CategoryUnknownName},
		{"upper-case AND alone", "AND", CategoryUnknownName},
		{"identifier with suffix", "userIds eq 'a'", CategoryUnknownName},
		{"identifier glued to keyword", "userIdeq 'a'", CategorySyntax},
		{"unknown function", "matches(userId, 'a')", CategoryUnknownName},
		{"function name is case-sensitive", "ToLower(userId) eq 'a'", CategoryUnknownName},
		{"upper-case function", "LENGTH(userId) eq 1", CategoryUnknownName},
		{"identifier called", "userId() eq 'a'", CategoryUnknownName},
		{"unknown function no args", "now() gt 1", CategoryUnknownName},
		{"unknown function wins over its arguments", "foo(tolower(5), bar)", CategoryUnknownName},
		{"argument error before unknown function", "tolower(5) eq 'a' and foo(1)", CategoryType},
		{"first semantic error wins: name", "user eq 'a' and tolower(5) eq 'a'", CategoryUnknownName},

		// arity
		{"length no args", "length() eq 0", CategoryArity},
		{"length two args", "length(userId, userId) eq 0", CategoryArity},
		{"tolower no args", "tolower() eq 'a'", CategoryArity},
		{"trim two args", "trim(userId, 'a') eq 'a'", CategoryArity},
		{"substring one arg", "substring(userId) eq 'a'", CategoryArity},
		{"substring four args", "substring(userId, 1, 2, 3) eq 'a'", CategoryArity},
		{"concat one arg", "concat('a') eq 'a'", CategoryArity},
		{"concat three args", "concat('a', 'b', 'c') eq 'abc'", CategoryArity},
		{"indexof one arg", "indexof('a') eq 0", CategoryArity},
		{"endswith no args", "endswith()", CategoryArity},
		{"contains one arg", "contains('a')", CategoryArity},
		{"startswith one arg", "startswith(userId)", CategoryArity},

		// type
		{"bare string identifier", "userId", CategoryType},
		{"bare int", "5", CategoryType},
		{"bare string", "'a'", CategoryType},
		{"bare null", "null", CategoryType},
		{"bare collection", "groups", CategoryType},
		{"parenthesised collection", "(groups)", CategoryType},
		{"bare length", "length(userId)", CategoryType},
		{"bare tolower", "tolower(userId)", CategoryType},
		{"not int", "not 5", CategoryType},
		{"not string", "not userId", CategoryType},
		{"not null", "not null", CategoryType},
		{"trap: not length gt", "not length(userId) gt 5", CategoryType},
		{"trap: not userId eq", "not userId eq 'a'", CategoryType},
		{"and with int", "true and 5", CategoryType},
		{"or with int first", "5 or true", CategoryType},
		{"and with string", "userId and true", CategoryType},
		{"third and operand", "true and true and 'x'", CategoryType},
		{"string ordering", "userId gt 'a'", CategoryType},
		{"bool ordering", "true lt false", CategoryType},
		{"int vs string ordering", "length(userId) ge 'a'", CategoryType},
		{"userId gt null", "userId gt null", CategoryType},
		{"tolower gt int", "tolower(userId) gt 5", CategoryType},
		{"collection eq collection", "groups eq groups", CategoryType},
		{"int eq collection", "length(groups) eq groups", CategoryType},
		{"in right side is a string", "userId in userId", CategoryType},
		{"in right side is a literal", "'a' in 'a'", CategoryType},
		{"in right side is a bool in parens", "'a' in ('a' eq 'a')", CategoryType},
		{"in right side is an int call", "'a' in length(groups)", CategoryType},
		{"collection on the left of in", "groups in ('a')", CategoryType},
		{"collection in collection", "groups in groups", CategoryType},
		{"substring bool index", "substring(userId, true) eq 'a'", CategoryType},
		{"substring int subject", "substring(5, 1) eq 'a'", CategoryType},
		{"substring string count", "substring(userId, 1, '2') eq 'a'", CategoryType},
		{"substring null count", "substring(userId, 1, null) eq 'a'", CategoryType},
		{"substring null index", "substring(userId, null) eq 'a'", CategoryType},
		{"tolower collection", "tolower(groups) eq 'a'", CategoryType},
		{"trim bool", "trim(true) eq 'a'", CategoryType},
		{"concat int", "concat(userId, 1) eq 'a'", CategoryType},
		{"indexof collection", "indexof(groups, 'a') eq 1", CategoryType},
		{"contains collection", "contains(groups, 'a')", CategoryType},
		{"length int", "length(5) eq 1", CategoryType},
		{"length bool", "length(true) eq 1", CategoryType},
		{"bool result in gt", "startswith(userId, 'a') gt 1", CategoryType},
		{"chained ordering on bool", "userId eq 'a' gt 1", CategoryType},
		{"first semantic error wins: type", "tolower(5) eq 'a' and user eq 'a'", CategoryType},

		// range
		{"int32 max plus one", "length(userId) gt 2147483648", CategoryRange},
		{"int32 min minus one", "length(userId) gt -2147483649", CategoryRange},
		{"huge", "length(userId) eq 99999999999999999999999999999", CategoryRange},
		{"out of range in a list", "length(userId) in (1, 2147483648)", CategoryRange},
		{"out of range in arguments", "substring(userId, 4294967296) eq 'a'", CategoryRange},

		// limit
		{"too deep parens", strings.Repeat("(", 33) + "true" + strings.Repeat(")", 33), CategoryLimit},
		{"too deep not", strings.Repeat("not ", 33) + "true", CategoryLimit},
		{"too deep not with parens", strings.Repeat("not (", 16) + "not true" + strings.Repeat(")", 16), CategoryLimit},
		{"too deep calls", strings.Repeat("tolower(", 33) + "userId" + strings.Repeat(")", 33) + " eq 'a'", CategoryLimit},
		{"too deep list", strings.Repeat("(", 32) + "userId in ('a')" + strings.Repeat(")", 32), CategoryLimit},
		{"too deep parenthesised collection", strings.Repeat("(", 31) + "'a' in (groups)" + strings.Repeat(")", 31) + " or " + strings.Repeat("(", 32) + "true" + strings.Repeat(")", 32) + " and " + strings.Repeat("(", 32) + "'a' in ((groups))" + strings.Repeat(")", 32), CategoryLimit},
		{"too many or clauses", clauses(1001, " or "), CategoryLimit},
		{"too many and clauses", clauses(1001, " and "), CategoryLimit},
		{"too many clauses across parens", "(" + clauses(500, " or ") + ") and (" + clauses(501, " and ") + ")", CategoryLimit},
		{"too long", "userId eq '" + strings.Repeat("a", MaxLength-11) + "'", CategoryLimit},
		{"too long and invalid", strings.Repeat("\xff", MaxLength+1), CategoryLimit},
		{"too long multibyte", "userId eq '" + strings.Repeat("é", MaxLength/2) + "'", CategoryLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := parseErr(t, tt.src)
			if e.Category != tt.cat {
				t.Fatalf("Parse(%.100q): category %q, want %q (%v)", tt.src, e.Category, tt.cat, e)
			}
		})
	}
}

// clauses returns n comparisons joined by op.
func clauses(n int, op string) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = "userId eq 'u" + strings.Repeat("x", i%3) + "'"
	}
	return strings.Join(parts, op)
}

func TestParseErrorPositionAndExpr(t *testing.T) {
	tests := []struct {
		src  string
		pos  int // in code points
		expr string
	}{
		{"userId eq 'a' $", 14, "userId eq 'a' $"},
		{"'😀' eq $", 7, "'😀' eq $"}, // byte offset 10
		{"'😀😀' eq 'a' and user eq 'x'", 16, "user"},
		{"not length(userId) gt 5", 4, "not length(userId)"},
		{"userId gt 'a'", 0, "userId gt 'a'"},
		{"length(userId) gt 'a'", 18, "length(userId) gt 'a'"},
		{"true and tolower(5) eq 'a'", 17, "tolower(5)"},
		{"substring(userId, 1, 2, 3) eq 'a'", 0, "substring(userId, 1, 2, 3)"},
		{"ToLower(userId) eq 'a'", 0, "ToLower(userId)"},
		{"true and foo(user, 1 2)", 21, "true and foo(user, 1 2)"},
		{"true and foo(user, 1)", 9, "foo(user, 1)"},
		{"length(userId) gt 2147483648", 18, "2147483648"},
		{"length(userId)", 0, "length(userId)"},
		{"(userId eq 'a'", 14, "(userId eq 'a'"},
		{"'a' in ('a', userId)", 13, "'a' in ('a', userId)"},
		{"   ", 3, "   "},
		{strings.Repeat("(", 33) + "true" + strings.Repeat(")", 33), 32, strings.Repeat("(", 33) + "true" + strings.Repeat(")", 33)},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			e := parseErr(t, tt.src)
			if e.Pos != tt.pos || e.Expr != tt.expr {
				t.Fatalf("Parse(%q): Pos=%d Expr=%q, want Pos=%d Expr=%q (%v)", tt.src, e.Pos, e.Expr, tt.pos, tt.expr, e)
			}
		})
	}
}

func TestParseErrorMessages(t *testing.T) {
	// Texts are informative only, but the service's shapes are kept.
	tests := []struct{ src, want string }{
		{"invalid filter", "Invalid syntax for 'invalid filter': Syntax error at position 8 in 'invalid filter'."},
		{"not length(userId) gt 5", "Invalid syntax for 'not length(userId)': Type 'int', expect 'bool'."},
		{"user eq 'a'", "Invalid syntax for 'user': Unknown identifier 'user'."},
		{"matches(userId, 'a')", "Invalid syntax for 'matches(userId, 'a')': Unknown function 'matches'."},
		{"substring(userId) eq 'a'", "Invalid syntax for 'substring(userId)': Function 'substring' takes 2 or 3 arguments"},
		{"length(userId) gt 2147483648", "Invalid syntax for '2147483648': Integer literal '2147483648' is out of range."},
		{"userId EQ 'a'", "Keywords are lower-case: write 'eq'."},
	}
	for _, tt := range tests {
		e := parseErr(t, tt.src)
		if !strings.Contains(e.Error(), tt.want) {
			t.Errorf("Parse(%q).Error() = %q, want it to contain %q", tt.src, e.Error(), tt.want)
		}
	}
	// A filter that is not UTF-8 gives a message that is.
	if e := parseErr(t, "userId eq 'a\xff'"); !utf8.ValidString(e.Error()) || e.Pos != 12 {
		t.Errorf("invalid UTF-8: Pos %d, message %q", e.Pos, e.Error())
	}
	// A filter over the length limit is not echoed in full.
	long := "userId eq '" + strings.Repeat("a", MaxLength) + "'"
	if e := parseErr(t, long); len(e.Error()) > 300 {
		t.Errorf("too-long error message has %d bytes", len(e.Error()))
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		clauses int
	}{
		{"keyword glued to string", "userId eq 'a'and true", 2},
		{"no spaces around parens", "not(userId eq'a')or('a'in(groups))", 2},
		{"identifier names any case", "USERID eq 'a' or ConnectionId eq 'b' or 'g' in GrOuPs", 3},
		{"newline inside string", "userId eq 'a\nb'", 1},
		{"int bounds", "length(userId) gt -2147483648 and length(userId) le 2147483647 and length(userId) ne +2147483647", 3},
		{"leading zeros", "length(userId) eq 0000000000000000000001", 1},
		{"null ordering", "null gt null", 1},
		{"null ordering with int", "length(groups) lt null", 1},
		{"mixed eq types", "userId eq 5 or length(userId) ne '5' or true eq 1 or null ne 'a'", 4},
		{"chained eq", "length(userId) eq 1 eq 1", 1},
		{"in chain", "'a' in ('a') in groups", 1},
		{"bool in list", "true in (true, false, null, 1, 'a')", 1},
		{"parenthesised left of in", "('a') in ('a')", 1},
		{"empty list", "userId in ()", 1},
		{"signed list items", "length(userId) in (+1, -1, 0)", 1},
		{"substring with computed index", "substring(userId, length(userId)) eq '' and substring(userId, indexof(userId, 'a'), length(groups)) eq null", 2},
		{"every function", "length(userId) ge 0 and tolower(userId) eq toupper(userId) and trim(userId) eq concat(userId, null) and startswith(userId, 'a') and endswith(userId, 'a') and contains(userId, 'a') and indexof(userId, 'a') eq 0 and substring(userId, 0, 1) eq 'a'", 8},
		{"null arguments", "tolower(null) eq null and length(null) eq null and startswith(null, null) eq false and indexof(null, 'a') eq -1 and concat(null, null) eq null and substring(null, 0) eq null", 6},
		{"max depth parens", strings.Repeat("(", 32) + "true" + strings.Repeat(")", 32), 1},
		{"max depth not", strings.Repeat("not ", 32) + "true", 1},
		{"max depth calls", strings.Repeat("tolower(", 32) + "userId" + strings.Repeat(")", 32) + " eq 'a'", 1},
		{"max depth list", strings.Repeat("(", 31) + "userId in ('a')" + strings.Repeat(")", 31), 1},
		{"max depth mixed", strings.Repeat("not (", 16) + "true" + strings.Repeat(")", 16), 1},
		{"depth is not cumulative", strings.Repeat("(", 32) + "true" + strings.Repeat(")", 32) + " and " + strings.Repeat("(", 32) + "true" + strings.Repeat(")", 32), 2},
		{"max or clauses", clauses(1000, " or "), 1000},
		{"max and clauses", clauses(1000, " and "), 1000},
		{"max clauses across parens", "(" + clauses(500, " or ") + ") and (" + clauses(500, " and ") + ")", 1000},
		{"max length", "userId eq '" + strings.Repeat("a", MaxLength-12) + "'", 1},
		{"max length multibyte", "userId eq '" + strings.Repeat("😀", (MaxLength-12)/4) + "'", 1},
		{"long comparison chain", "true" + strings.Repeat(" eq true", (MaxLength-4)/8), 1},
		{"long in chain", "true" + strings.Repeat(" in (true)", (MaxLength-4)/10), 1},
		{"long literal list", "length(userId) in (" + strings.Repeat("1,", 20000) + "2)", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse(tt.src)
			if err != nil {
				t.Fatalf("Parse(%.100q): %v", tt.src, err)
			}
			if f.Clauses() != tt.clauses {
				t.Errorf("Clauses() = %d, want %d", f.Clauses(), tt.clauses)
			}
			if f.String() != tt.src {
				t.Errorf("String() differs from the source")
			}
			// Evaluating must not panic for either kind of connection.
			uid := "a"
			f.Match(Connection{})
			f.Match(Connection{ConnectionID: "c", UserID: &uid, Groups: []string{"a", "g"}})
		})
	}
	if len(clauses(1000, " or ")) > MaxLength || len("true"+strings.Repeat(" eq true", (MaxLength-4)/8)) > MaxLength {
		t.Fatal("test filters exceed MaxLength")
	}
}

func TestNilAndZeroFilter(t *testing.T) {
	var nilF *Filter
	var zero Filter
	for _, f := range []*Filter{nilF, &zero} {
		if !f.Match(Connection{}) {
			t.Error("nil/zero Filter does not match")
		}
		if f.String() != "" || f.Clauses() != 0 {
			t.Errorf("nil/zero Filter: String %q, Clauses %d", f.String(), f.Clauses())
		}
	}
}

func TestParseErrorIsNilInterfaceOnSuccess(t *testing.T) {
	f, err := Parse("true")
	if err != nil || f == nil {
		t.Fatalf("Parse(true) = %v, %v", f, err)
	}
}
