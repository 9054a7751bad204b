package odata

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokLParen
	tokRParen
	tokComma
	tokString // text holds the decoded value
	tokInt    // num holds the value
	tokIdent  // text holds the word as written
	tokFunc   // fn identifies the function
	tokAnd
	tokOr
	tokNot
	tokEq
	tokNe
	tokGt
	tokGe
	tokLt
	tokLe
	tokIn
	tokTrue
	tokFalse
	tokNull
)

// keywords maps the reserved words to their token kinds. They are matched
// case-sensitively.
var keywords = map[string]tokKind{
	"and": tokAnd, "or": tokOr, "not": tokNot,
	"eq": tokEq, "ne": tokNe, "gt": tokGt, "ge": tokGe, "lt": tokLt, "le": tokLe,
	"in": tokIn, "true": tokTrue, "false": tokFalse, "null": tokNull,
}

// token is one lexical token; start and end are byte offsets into the source.
type token struct {
	kind       tokKind
	fn         funcID
	start, end int
	text       string
	num        int64
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isSpace(c byte) bool  { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// lex reads the token that starts at or after byte offset p.off, skipping
// whitespace, and advances p.off past it. The source is known to be valid
// UTF-8 and at most MaxLength bytes.
func (p *parser) lex() (token, *Error) {
	s := p.src
	i := p.off
	for i < len(s) && isSpace(s[i]) {
		i++
	}
	if i == len(s) {
		p.off = i
		return token{kind: tokEOF, start: i, end: i}, nil
	}
	start := i
	c := s[i]
	switch {
	case c == '(' || c == ')' || c == ',':
		p.off = i + 1
		k := tokLParen
		if c == ')' {
			k = tokRParen
		} else if c == ',' {
			k = tokComma
		}
		return token{kind: k, start: start, end: i + 1}, nil
	case c == '\'':
		return p.lexString(start)
	case isDigit(c) || (c == '+' || c == '-') && i+1 < len(s) && isDigit(s[i+1]):
		return p.lexInt(start)
	case isLetter(c):
		i++
		for i < len(s) && (isLetter(s[i]) || isDigit(s[i])) {
			i++
		}
		p.off = i
		w := s[start:i]
		if k, ok := keywords[w]; ok {
			return token{kind: k, start: start, end: i, text: w}, nil
		}
		if fn, ok := funcByName[w]; ok {
			return token{kind: tokFunc, fn: fn, start: start, end: i, text: w}, nil
		}
		return token{kind: tokIdent, start: start, end: i, text: w}, nil
	default:
		r, _ := utf8.DecodeRuneInString(s[start:])
		return token{}, p.syntaxErr(start, "Invalid character "+strconv.QuoteRune(r)+".")
	}
}

// lexString reads a string literal whose opening quote is at start.
func (p *parser) lexString(start int) (token, *Error) {
	s := p.src
	var b strings.Builder
	seg := start + 1 // start of the pending unescaped segment
	for i := start + 1; i < len(s); i++ {
		if s[i] != '\'' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '\'' {
			b.WriteString(s[seg : i+1]) // keep one apostrophe
			i++
			seg = i + 1
			continue
		}
		var text string
		if b.Len() == 0 {
			text = s[seg:i]
		} else {
			b.WriteString(s[seg:i])
			text = b.String()
		}
		p.off = i + 1
		return token{kind: tokString, start: start, end: i + 1, text: text}, nil
	}
	return token{}, p.syntaxErr(start, "Unterminated string literal.")
}

// lexInt reads an integer literal, with an optional sign, starting at start.
func (p *parser) lexInt(start int) (token, *Error) {
	s := p.src
	i := start + 1 // a sign or the first digit
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	if i < len(s) && (isLetter(s[i]) || s[i] == '.') {
		return token{}, p.syntaxErr(i, "A number must not be followed by "+strconv.QuoteRune(rune(s[i]))+".")
	}
	lit := s[start:i]
	n, err := strconv.ParseInt(lit, 10, 32)
	if err != nil {
		// Only a range error is possible: the text is [+-]?[0-9]+.
		return token{}, p.newErr(CategoryRange, start, clip(lit), "Integer literal '"+clip(lit)+"' is out of range.")
	}
	p.off = i
	return token{kind: tokInt, start: start, end: i, num: n}, nil
}
