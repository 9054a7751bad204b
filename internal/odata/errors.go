package odata

// Category classifies why [Parse] rejected a filter. The values are stable
// strings, suitable for logs and for tests; the message texts in [Error] are
// informative only and may change.
type Category string

// The error categories of the filter language.
const (
	// CategorySyntax: invalid character, invalid UTF-8, unterminated string,
	// unexpected token or end of input, unbalanced parentheses, a number run
	// into a letter, "_" or ".", or a filter made only of whitespace.
	CategorySyntax Category = "syntax"
	// CategoryUnknownName: an identifier other than userId, connectionId and
	// groups (compared case-insensitively), or a call of a function that does
	// not exist (function names are case-sensitive).
	CategoryUnknownName Category = "unknown name"
	// CategoryArity: a known function called with the wrong number of
	// arguments.
	CategoryArity Category = "arity"
	// CategoryType: a violation of the static typing rules, including a
	// filter whose top-level expression is not boolean.
	CategoryType Category = "type"
	// CategoryRange: an integer literal outside the signed 32-bit range.
	CategoryRange Category = "range"
	// CategoryLimit: the filter exceeds [MaxLength], [MaxDepth] or
	// [MaxClauses].
	CategoryLimit Category = "limit"
)

// Error is the only error type returned by [Parse]. It describes the first
// problem found: the first lexical, syntax, range or limit error in source
// order takes precedence over name, arity and type errors; of those, the
// first found by a left-to-right check that finishes each sub-expression
// before the operator around it is reported, except that a call of an
// unknown function is reported before any error in its arguments.
//
// Error values are created by Parse and not modified afterwards; they are
// safe to share between goroutines.
type Error struct {
	// Category says which rule the filter broke.
	Category Category
	// Pos is the 0-based position, counted in Unicode code points (not bytes),
	// of the offending token or operand in the filter text.
	Pos int
	// Expr is the offending sub-expression when one is known (for example
	// "not length(userId)"), otherwise the whole filter. For a filter longer
	// than MaxLength it is only a prefix of the filter followed by "...", so
	// that the message stays small.
	Expr string
	// Detail explains the problem in the service's style, for example
	// "Syntax error at position 14 in 'invalid filter'." or
	// "Type 'int', expect 'bool'.". The text is informative only: compare
	// Category, not Detail.
	Detail string
}

// Error returns "Invalid syntax for '<Expr>': <Detail>", the service's message
// without the " (Parameter 'filter')" suffix, which the REST layer adds.
func (e *Error) Error() string {
	return "Invalid syntax for '" + e.Expr + "': " + e.Detail
}
