package odata

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// expr is a parsed and typed expression: its evaluation node, static type and
// byte span in the source. A collection-typed expr is always the groups
// identifier and has a nil node. After a name, arity or type error the node
// may be nil; the parser then only continues to look for syntax errors.
type expr struct {
	n          node
	t          typ
	start, end int
}

// parser is a recursive-descent parser that type-checks and builds the
// evaluation tree as it goes. Lexical, syntax and limit errors abort the
// parse; the first name, arity or type error is kept in semErr and reported
// only if the whole filter is syntactically valid.
type parser struct {
	src    string
	off    int   // byte offset where the next token is lexed
	tok    token // current token
	depth  int   // current nesting depth
	ops    int   // number of and/or operators so far
	semErr *Error
}

// state is what the parser saves to backtrack after a failed literal list.
type state struct {
	off, depth, ops int
	tok             token
	semErr          *Error
}

func (p *parser) save() state { return state{p.off, p.depth, p.ops, p.tok, p.semErr} }
func (p *parser) restore(s state) {
	p.off, p.depth, p.ops, p.tok, p.semErr = s.off, s.depth, s.ops, s.tok, s.semErr
}

func parse(src string) (*Filter, *Error) {
	if len(src) > MaxLength {
		prefix := src[:64]
		for !utf8.ValidString(prefix) && len(prefix) > 0 { // do not cut a code point
			prefix = prefix[:len(prefix)-1]
		}
		return nil, &Error{
			Category: CategoryLimit,
			Pos:      utf8.RuneCountInString(src[:MaxLength]),
			Expr:     prefix + "...",
			Detail:   "The filter is too long: " + strconv.Itoa(len(src)) + " bytes, the limit is " + strconv.Itoa(MaxLength) + ".",
		}
	}
	p := &parser{src: src}
	if !utf8.ValidString(src) {
		i := 0
		for i < len(src) {
			r, size := utf8.DecodeRuneInString(src[i:])
			if r == utf8.RuneError && size == 1 {
				break
			}
			i += size
		}
		// Do not echo the invalid bytes: the message may end up in JSON.
		e := p.syntaxErr(i, "The filter is not valid UTF-8.")
		clean := strings.ToValidUTF8(src, "\uFFFD")
		e.Expr = clean
		e.Detail = strings.Replace(e.Detail, src, clean, 1)
		return nil, e
	}
	if err := p.next(); err != nil {
		return nil, err
	}
	if p.tok.kind == tokEOF {
		return nil, p.syntaxErr(p.tok.start, "The filter is empty.")
	}
	e, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if p.tok.kind != tokEOF {
		if p.tok.kind == tokRParen {
			return nil, p.syntaxErr(p.tok.start, "Unbalanced ')'.")
		}
		return nil, p.syntaxErr(p.tok.start, "Expected end of input, found "+p.describe(p.tok)+"."+p.hint(p.tok))
	}
	if p.semErr != nil {
		return nil, p.semErr
	}
	if e.t != tBool {
		return nil, p.newErr(CategoryType, e.start, src, "Type '"+e.t.String()+"', expect 'bool'.")
	}
	return &Filter{src: src, root: e.n, clauses: p.ops + 1}, nil
}

// next advances to the next token.
func (p *parser) next() *Error {
	t, err := p.lex()
	if err != nil {
		return err
	}
	p.tok = t
	return nil
}

// newErr builds an error at byte offset off.
func (p *parser) newErr(c Category, off int, exprText, detail string) *Error {
	return &Error{Category: c, Pos: utf8.RuneCountInString(p.src[:off]), Expr: exprText, Detail: detail}
}

// syntaxErr builds a syntax error at byte offset off, in the service's words
// followed by a reason.
func (p *parser) syntaxErr(off int, reason string) *Error {
	e := p.newErr(CategorySyntax, off, p.src, "")
	e.Detail = "Syntax error at position " + strconv.Itoa(e.Pos) + " in '" + p.src + "'. " + reason
	return e
}

// sem records a name, arity or type error unless an earlier one was found.
func (p *parser) sem(c Category, off int, exprText, detail string) {
	if p.semErr == nil {
		p.semErr = p.newErr(c, off, exprText, detail)
	}
}

// want records a type error unless e's type is in allowed. The enclosing
// construct spans from ctxStart to ctxEnd.
func (p *parser) want(e expr, allowed typeSet, ctxStart, ctxEnd int) {
	if e.t == tInvalid || allowed.has(e.t) {
		return
	}
	p.sem(CategoryType, e.start, p.src[ctxStart:ctxEnd], "Type '"+e.t.String()+"', expect "+allowed.String()+".")
}

// enter opens one nesting level for the construct whose first token
// starts at off, and moves past that token.
func (p *parser) enter(off int) *Error {
	if p.depth >= MaxDepth {
		return p.newErr(CategoryLimit, off, p.src, "The filter is nested too deeply: the limit is "+strconv.Itoa(MaxDepth)+" levels.")
	}
	p.depth++
	return p.next()
}

// describe names a token for an error message.
func (p *parser) describe(t token) string {
	if t.kind == tokEOF {
		return "end of input"
	}
	return "'" + clip(p.src[t.start:t.end]) + "'"
}

// hint explains a common mistake behind an unexpected token: a keyword
// written with upper-case letters.
func (p *parser) hint(t token) string {
	if t.kind == tokIdent {
		if _, ok := keywords[strings.ToLower(t.text)]; ok {
			return " Keywords are lower-case: write '" + strings.ToLower(t.text) + "'."
		}
	}
	return ""
}

// clip shortens s to at most 40 code points for use in a message.
func clip(s string) string {
	n := 0
	for i := range s {
		if n == 40 {
			return s[:i] + "..."
		}
		n++
	}
	return s
}

// parseOr parses or-expr = and-expr { "or" and-expr }.
func (p *parser) parseOr() (expr, *Error) {
	x, err := p.parseAnd()
	if err != nil || p.tok.kind != tokOr {
		return x, err
	}
	return p.parseLogical(x, tokOr, p.parseAnd)
}

// parseAnd parses and-expr = cmp-expr { "and" cmp-expr }.
func (p *parser) parseAnd() (expr, *Error) {
	x, err := p.parseCmp()
	if err != nil || p.tok.kind != tokAnd {
		return x, err
	}
	return p.parseLogical(x, tokAnd, p.parseCmp)
}

// parseLogical parses the rest of a chain of the operator op whose first
// operand is x, and builds one n-ary node so that long chains do not make a
// deep tree.
func (p *parser) parseLogical(x expr, op tokKind, operand func() (expr, *Error)) (expr, *Error) {
	xs := []node{x.n}
	end := x.end
	for p.tok.kind == op {
		if p.ops+1 >= MaxClauses {
			return expr{}, p.newErr(CategoryLimit, p.tok.start, p.src, "The filter has too many clauses: the limit is "+strconv.Itoa(MaxClauses)+".")
		}
		p.ops++
		if err := p.next(); err != nil {
			return expr{}, err
		}
		y, err := operand()
		if err != nil {
			return expr{}, err
		}
		if len(xs) == 1 {
			p.want(x, boolOnly, x.start, y.end)
		}
		p.want(y, boolOnly, x.start, y.end)
		xs = append(xs, y.n)
		end = y.end
	}
	var n node
	if op == tokAnd {
		n = andNode(xs)
	} else {
		n = orNode(xs)
	}
	return expr{n: n, t: tBool, start: x.start, end: end}, nil
}

// cmpOps maps comparison tokens to operators.
func cmpOpOf(k tokKind) (cmpOp, bool) {
	switch k {
	case tokEq:
		return opEq, true
	case tokNe:
		return opNe, true
	case tokGt:
		return opGt, true
	case tokGe:
		return opGe, true
	case tokLt:
		return opLt, true
	case tokLe:
		return opLe, true
	}
	return 0, false
}

// parseCmp parses cmp-expr = unary { cmp-op unary }, left-associative.
func (p *parser) parseCmp() (expr, *Error) {
	x, err := p.parseUnary()
	if err != nil {
		return x, err
	}
	op, ok := cmpOpOf(p.tok.kind)
	if !ok {
		return x, nil
	}
	var ops []cmpOp
	var rest []node
	left := x
	for ok {
		if err := p.next(); err != nil {
			return expr{}, err
		}
		y, err := p.parseUnary()
		if err != nil {
			return expr{}, err
		}
		allowed := scalars
		if op != opEq && op != opNe {
			allowed = orderables
		}
		p.want(left, allowed, x.start, y.end)
		p.want(y, allowed, x.start, y.end)
		ops = append(ops, op)
		rest = append(rest, y.n)
		left = expr{t: tBool, start: x.start, end: y.end}
		op, ok = cmpOpOf(p.tok.kind)
	}
	var n node
	if len(ops) == 1 {
		n = newCmpNode(ops[0], x.n, rest[0])
	} else {
		n = &cmpChainNode{first: x.n, ops: ops, rest: rest}
	}
	return expr{n: n, t: tBool, start: x.start, end: left.end}, nil
}

// parseUnary parses unary = "not" unary | member.
func (p *parser) parseUnary() (expr, *Error) {
	if p.tok.kind != tokNot {
		return p.parseMember()
	}
	start := p.tok.start
	if err := p.enter(start); err != nil {
		return expr{}, err
	}
	x, err := p.parseUnary()
	if err != nil {
		return expr{}, err
	}
	p.depth--
	p.want(x, boolOnly, start, x.end)
	return expr{n: notNode{x.n}, t: tBool, start: start, end: x.end}, nil
}

// parseMember parses member = primary { "in" in-rhs }, left-associative.
func (p *parser) parseMember() (expr, *Error) {
	x, err := p.parsePrimary()
	if err != nil || p.tok.kind != tokIn {
		return x, err
	}
	var tests []memberTest
	left := x
	for p.tok.kind == tokIn {
		if err := p.next(); err != nil {
			return expr{}, err
		}
		test, end, err := p.parseInRHS(x.start)
		if err != nil {
			return expr{}, err
		}
		p.want(left, scalars, x.start, end)
		tests = append(tests, test)
		left = expr{t: tBool, start: x.start, end: end}
	}
	var n node
	if len(tests) == 1 {
		n = &inNode{x: newOperand(x.n), test: tests[0]}
	} else {
		n = &inChainNode{x: newOperand(x.n), tests: tests}
	}
	return expr{n: n, t: tBool, start: x.start, end: left.end}, nil
}

// parseInRHS parses the right side of "in": a literal list if
// the tokens fit one, otherwise a primary that must be the groups
// collection. ctxStart is where the whole membership test starts. It returns
// the test and the end of the right side.
func (p *parser) parseInRHS(ctxStart int) (memberTest, int, *Error) {
	if p.tok.kind == tokLParen {
		saved := p.save()
		items, end, fail := p.parseLiteralList()
		if fail == nil {
			return newListTest(items), end, nil
		}
		p.restore(saved)
		y, err := p.parsePrimary()
		if err != nil {
			// Both readings failed, so the parse ends here: report the
			// attempt that got further into the text.
			if listErr := fail.toError(p); listErr.Pos > err.Pos {
				return memberTest{}, 0, listErr
			}
			return memberTest{}, 0, err
		}
		p.want(y, collOnly, ctxStart, y.end)
		return memberTest{groups: true}, y.end, nil
	}
	y, err := p.parsePrimary()
	if err != nil {
		return memberTest{}, 0, err
	}
	p.want(y, collOnly, ctxStart, y.end)
	return memberTest{groups: true}, y.end, nil
}

// listFailure records why a literal list did not parse. Building an *Error
// costs a scan of the source, so a syntax failure keeps only its offset and
// reason until it is known that the fallback failed too.
type listFailure struct {
	at        token  // the token that does not fit a literal list
	wantComma bool   // a literal was read, so ',' or ')' was expected
	err       *Error // a lexical or limit error, already built
}

func (f *listFailure) toError(p *parser) *Error {
	if f.err != nil {
		return f.err
	}
	if f.wantComma {
		return p.syntaxErr(f.at.start, "Expected ',' or ')', found "+p.describe(f.at)+".")
	}
	return p.syntaxErr(f.at.start, "Expected a literal in the list after 'in', found "+p.describe(f.at)+".")
}

// parseLiteralList parses literal-list = "(" [ literal { "," literal } ] ")".
func (p *parser) parseLiteralList() ([]value, int, *listFailure) {
	if err := p.enter(p.tok.start); err != nil {
		return nil, 0, &listFailure{err: err}
	}
	items := []value{}
	if p.tok.kind != tokRParen {
		for {
			v, ok := literalValue(p.tok)
			if !ok {
				return nil, 0, &listFailure{at: p.tok}
			}
			items = append(items, v)
			if err := p.next(); err != nil {
				return nil, 0, &listFailure{err: err}
			}
			if p.tok.kind == tokRParen {
				break
			}
			if p.tok.kind != tokComma {
				return nil, 0, &listFailure{at: p.tok, wantComma: true}
			}
			if err := p.next(); err != nil {
				return nil, 0, &listFailure{err: err}
			}
		}
	}
	end := p.tok.end
	if err := p.next(); err != nil {
		return nil, 0, &listFailure{err: err}
	}
	p.depth--
	return items, end, nil
}

// literalValue returns the value of a literal token.
func literalValue(t token) (value, bool) {
	switch t.kind {
	case tokString:
		return strVal(t.text), true
	case tokInt:
		return intVal(t.num), true
	case tokTrue:
		return boolVal(true), true
	case tokFalse:
		return boolVal(false), true
	case tokNull:
		return value{}, true
	}
	return value{}, false
}

// parsePrimary parses primary = literal | identifier | call | "(" expr ")".
func (p *parser) parsePrimary() (expr, *Error) {
	t := p.tok
	if v, ok := literalValue(t); ok {
		if err := p.next(); err != nil {
			return expr{}, err
		}
		ty := tNull
		switch v.k {
		case kBool:
			ty = tBool
		case kInt:
			ty = tInt
		case kString:
			ty = tString
		}
		return expr{n: litNode{v}, t: ty, start: t.start, end: t.end}, nil
	}
	switch t.kind {
	case tokLParen:
		if err := p.enter(t.start); err != nil {
			return expr{}, err
		}
		x, err := p.parseOr()
		if err != nil {
			return expr{}, err
		}
		if p.tok.kind != tokRParen {
			if p.tok.kind == tokEOF {
				return expr{}, p.syntaxErr(p.tok.start, "Unbalanced '(' at position "+strconv.Itoa(utf8.RuneCountInString(p.src[:t.start]))+".")
			}
			return expr{}, p.syntaxErr(p.tok.start, "Expected ')', found "+p.describe(p.tok)+".")
		}
		end := p.tok.end
		if err := p.next(); err != nil {
			return expr{}, err
		}
		p.depth--
		return expr{n: x.n, t: x.t, start: t.start, end: end}, nil
	case tokFunc:
		if err := p.next(); err != nil {
			return expr{}, err
		}
		if p.tok.kind != tokLParen {
			return expr{}, p.syntaxErr(p.tok.start, "Expected '(' after function name '"+t.text+"', found "+p.describe(p.tok)+".")
		}
		args, end, err := p.parseArgs()
		if err != nil {
			return expr{}, err
		}
		return p.call(t, args, end), nil
	case tokIdent:
		if err := p.next(); err != nil {
			return expr{}, err
		}
		if p.tok.kind == tokLParen {
			// The unknown function is reported rather than any error in
			// its arguments, which cannot be checked meaningfully.
			earlier := p.semErr
			_, end, err := p.parseArgs()
			if err != nil {
				return expr{}, err
			}
			if earlier == nil {
				p.semErr = p.newErr(CategoryUnknownName, t.start, p.src[t.start:end], "Unknown function '"+clip(t.text)+"'.")
			}
			return expr{t: tInvalid, start: t.start, end: end}, nil
		}
		e := expr{start: t.start, end: t.end}
		switch {
		case strings.EqualFold(t.text, "userId"):
			e.n, e.t = userIDNode{}, tString
		case strings.EqualFold(t.text, "connectionId"):
			e.n, e.t = connIDNode{}, tString
		case strings.EqualFold(t.text, "groups"):
			e.t = tColl
		default:
			p.sem(CategoryUnknownName, t.start, clip(t.text), "Unknown identifier '"+clip(t.text)+"'.")
			e.t = tInvalid
		}
		return e, nil
	case tokEOF:
		return expr{}, p.syntaxErr(t.start, "Unexpected end of input.")
	}
	return expr{}, p.syntaxErr(t.start, "Unexpected "+p.describe(t)+"."+p.hint(t))
}

// parseArgs parses a function's argument list; the current token is "(".
// It returns the arguments and the end of the closing parenthesis.
func (p *parser) parseArgs() ([]expr, int, *Error) {
	if err := p.enter(p.tok.start); err != nil {
		return nil, 0, err
	}
	var args []expr
	if p.tok.kind != tokRParen {
		for {
			a, err := p.parseOr()
			if err != nil {
				return nil, 0, err
			}
			args = append(args, a)
			if p.tok.kind == tokRParen {
				break
			}
			if p.tok.kind != tokComma {
				return nil, 0, p.syntaxErr(p.tok.start, "Expected ',' or ')' in the argument list, found "+p.describe(p.tok)+".")
			}
			if err := p.next(); err != nil {
				return nil, 0, err
			}
		}
	}
	end := p.tok.end
	if err := p.next(); err != nil {
		return nil, 0, err
	}
	p.depth--
	return args, end, nil
}
