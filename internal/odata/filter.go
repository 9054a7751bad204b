package odata

// Limits enforced by [Parse]. Exceeding any of them
// yields an [*Error] of [CategoryLimit].
const (
	// MaxLength is the maximum length of a filter in bytes of UTF-8.
	MaxLength = 65536
	// MaxDepth is the maximum nesting depth. Each parenthesised expression,
	// function argument list, literal list after "in", and operand of "not"
	// adds one level while its contents are parsed: "((true))" has depth 2.
	MaxDepth = 32
	// MaxClauses is the maximum number of clauses, that is one more than the
	// number of "and" and "or" operators in the whole filter.
	MaxClauses = 1000
	// WarnClauses is the clause count above which a filter may fail against
	// the real service, whose documentation warns about filters with over
	// 100 clauses. Such filters are accepted; callers may log a warning when
	// [Filter.Clauses] exceeds it.
	WarnClauses = 100
)

// Connection is the view of a client connection that a filter evaluates
// against. The zero value is an anonymous connection with an empty id and no
// groups.
//
// Strings are expected to be valid UTF-8, as they are after JSON decoding.
// Values are compared byte for byte (ordinally); the functions that measure,
// search or slice strings (length, indexof, substring, startswith, endswith,
// contains) work on UTF-16 code units and treat each invalid UTF-8 byte as
// one U+FFFD code point.
type Connection struct {
	// ConnectionID is the connection id, the filter's connectionId.
	ConnectionID string
	// UserID is the user id, the filter's userId; nil for an anonymous
	// connection, which the filter sees as null.
	UserID *string
	// Groups are the groups the connection is in right now, the filter's
	// groups. Order is irrelevant; nil and empty both mean no groups. The
	// slice is only read.
	Groups []string
}

// Filter is a compiled, type-checked filter. It is immutable, so one Filter
// may be used by any number of goroutines at once. Create it with [Parse].
// A nil *Filter, like the zero Filter, means "no filtering": it matches every
// connection and its String is "".
type Filter struct {
	src     string
	root    node
	clauses int
}

// Parse compiles and statically type-checks src, a filter as the REST API
// receives it after URL decoding.
//
// The empty string is rejected like any other syntax error: callers treat an
// absent or empty filter as "no filtering" before calling Parse. A filter
// made only of whitespace, text that is not valid UTF-8, and any text
// breaking the grammar, the typing rules or the limits ([MaxLength],
// [MaxDepth], [MaxClauses]) are rejected too.
//
// On failure the error is always a non-nil [*Error] and the *Filter is nil.
// When a filter has several problems, the first lexical, syntax, range or
// limit error in source order wins over name, arity and type errors (see
// [Error]).
// Parse never panics, runs in time roughly linear in len(src), and is safe
// for concurrent use.
func Parse(src string) (*Filter, error) {
	f, err := parse(src)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// Match reports whether the filter selects connection c, following the
// evaluation rules of the spec: two-valued logic, null semantics,
// ordinal comparisons, UTF-16 string measure. It never fails or panics, does
// not modify or retain c, and allocates only when a string function must
// build a new string (tolower, toupper, concat, substring across a
// surrogate pair). It is safe for concurrent use. A nil *Filter matches
// every connection.
func (f *Filter) Match(c Connection) bool {
	if f == nil || f.root == nil {
		return true
	}
	return f.root.eval(c).b
}

// String returns the filter's source text exactly as given to [Parse], or ""
// for a nil or zero Filter.
func (f *Filter) String() string {
	if f == nil {
		return ""
	}
	return f.src
}

// Clauses returns the number of clauses in the filter: one more than the
// number of "and" and "or" operators, so between 1 and [MaxClauses] for a
// parsed filter. Compare it with [WarnClauses] to warn about filters the
// real service may reject. A nil or zero Filter has 0 clauses.
func (f *Filter) Clauses() int {
	if f == nil {
		return 0
	}
	return f.clauses
}
