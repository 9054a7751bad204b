package core

import "errors"

// GroupPattern is a compiled wildcard group pattern of a
// webpubsub.joinLeaveGroups.<pattern> or webpubsub.sendToGroups.<pattern>
// role.
//
//	?   exactly one character that is not '.'
//	*   zero or more characters, none of them '.'
//	**  zero or more characters of any kind
//	\*  \?  \\   the literal character
//
// Matching is anchored and case-sensitive; "character" means code point.
type GroupPattern []patternToken

type patternKind uint8

const (
	tokLiteral  patternKind = iota
	tokOne                  // ?
	tokStar                 // *
	tokStarStar             // **
)

type patternToken struct {
	kind patternKind
	r    rune
}

// Pattern limits, as in the official emulator.
const (
	maxPatternStars  = 5
	maxPatternLength = 1024
	MaxPatternRoles  = 10 // per permission
)

var errInvalidPattern = errors.New("invalid wildcard group pattern")

// CompilePattern parses p. It fails for an empty pattern, more than five
// '*' in total, a '\' not followed by '*', '?' or '\', or a pattern longer
// than 1024 characters.
func CompilePattern(p string) (GroupPattern, error) {
	rs := []rune(p)
	if len(rs) == 0 || len(rs) > maxPatternLength {
		return nil, errInvalidPattern
	}
	var toks GroupPattern
	stars := 0
	for i := 0; i < len(rs); i++ {
		switch rs[i] {
		case '\\':
			if i+1 >= len(rs) || (rs[i+1] != '*' && rs[i+1] != '?' && rs[i+1] != '\\') {
				return nil, errInvalidPattern
			}
			i++
			toks = append(toks, patternToken{kind: tokLiteral, r: rs[i]})
		case '?':
			toks = append(toks, patternToken{kind: tokOne})
		case '*':
			// A run of stars is read greedily left to right as "**" pairs,
			// with a single "*" for an odd remainder.
			stars++
			if i+1 < len(rs) && rs[i+1] == '*' {
				stars++
				i++
				toks = append(toks, patternToken{kind: tokStarStar})
			} else {
				toks = append(toks, patternToken{kind: tokStar})
			}
		default:
			toks = append(toks, patternToken{kind: tokLiteral, r: rs[i]})
		}
	}
	if stars > maxPatternStars {
		return nil, errInvalidPattern
	}
	return toks, nil
}

// Match reports whether the whole of name matches the pattern. It runs in
// O(len(pattern) × len(name)) time by tracking the set of name positions
// reachable after each token.
func (p GroupPattern) Match(name string) bool {
	rs := []rune(name)
	n := len(rs)
	cur := make([]bool, n+1)
	next := make([]bool, n+1)
	cur[0] = true
	for _, t := range p {
		clear(next)
		alive := false
		switch t.kind {
		case tokLiteral, tokOne:
			for i := 0; i < n; i++ {
				if cur[i] && (t.kind == tokLiteral && rs[i] == t.r || t.kind == tokOne && rs[i] != '.') {
					next[i+1] = true
					alive = true
				}
			}
		case tokStar:
			for i := 0; i <= n; i++ {
				if cur[i] || (i > 0 && next[i-1] && rs[i-1] != '.') {
					next[i] = true
					alive = true
				}
			}
		case tokStarStar:
			reach := false
			for i := 0; i <= n; i++ {
				reach = reach || cur[i]
				next[i] = reach
				alive = alive || reach
			}
		}
		if !alive {
			return false
		}
		cur, next = next, cur
	}
	return cur[n]
}

// MatchAny reports whether name matches one of ps.
func MatchAny(ps []GroupPattern, name string) bool {
	for _, p := range ps {
		if p.Match(name) {
			return true
		}
	}
	return false
}
