package odata

import "strings"

// kind is the run-time kind of a value. The zero kind is null.
type kind uint8

const (
	kNull kind = iota
	kBool
	kInt
	kString
)

// value is a run-time value. Ints are held in 64 bits so that index
// arithmetic in substring cannot overflow; literals are within int32.
type value struct {
	s string
	i int64
	k kind
	b bool
}

func strVal(s string) value { return value{k: kString, s: s} }
func intVal(i int64) value  { return value{k: kInt, i: i} }
func boolVal(b bool) value  { return value{k: kBool, b: b} }
func nullOr(ok bool, v value) value {
	if ok {
		return v
	}
	return value{}
}

// equal is the eq rule: true when both are null, or when both
// are non-null, of the same kind and equal.
func equal(a, b value) bool {
	if a.k != b.k {
		return false
	}
	switch a.k {
	case kBool:
		return a.b == b.b
	case kInt:
		return a.i == b.i
	case kString:
		return a.s == b.s
	}
	return true // both null
}

// node is a compiled expression. Nodes are immutable after Parse, so eval is
// safe for concurrent use. The connection is passed by value so that Match
// does not make it escape to the heap.
type node interface {
	eval(c Connection) value
}

type litNode struct{ v value }

func (n litNode) eval(Connection) value { return n.v }

type userIDNode struct{}

func (userIDNode) eval(c Connection) value {
	if c.UserID == nil {
		return value{}
	}
	return strVal(*c.UserID)
}

type connIDNode struct{}

func (connIDNode) eval(c Connection) value { return strVal(c.ConnectionID) }

type notNode struct{ x node }

func (n notNode) eval(c Connection) value { return boolVal(!n.x.eval(c).b) }

// andNode and orNode are n-ary so that long chains stay shallow.
type andNode []node

func (n andNode) eval(c Connection) value {
	for _, x := range n {
		if !x.eval(c).b {
			return boolVal(false)
		}
	}
	return boolVal(true)
}

type orNode []node

func (n orNode) eval(c Connection) value {
	for _, x := range n {
		if x.eval(c).b {
			return boolVal(true)
		}
	}
	return boolVal(false)
}

// source says where an operand's value comes from.
type source uint8

const (
	srcNode source = iota
	srcUserID
	srcConnID
	srcLit
)

// operand is a child expression with a fast path for the leaves (userId,
// connectionId and literals) that avoids a dynamic call.
type operand struct {
	src source
	lit value
	n   node
}

func newOperand(n node) operand {
	switch v := n.(type) {
	case userIDNode:
		return operand{src: srcUserID}
	case connIDNode:
		return operand{src: srcConnID}
	case litNode:
		return operand{src: srcLit, lit: v.v}
	}
	return operand{n: n}
}

func (o *operand) eval(c *Connection) value {
	switch o.src {
	case srcUserID:
		if c.UserID == nil {
			return value{}
		}
		return strVal(*c.UserID)
	case srcConnID:
		return strVal(c.ConnectionID)
	case srcLit:
		return o.lit
	}
	return o.n.eval(*c)
}

// cmpOp is a comparison operator.
type cmpOp uint8

const (
	opEq cmpOp = iota
	opNe
	opGt
	opGe
	opLt
	opLe
)

// compare applies op to a and b. Ordering operators are
// false when either side is null; the type checker guarantees ints otherwise.
func compare(op cmpOp, a, b value) bool {
	switch op {
	case opEq:
		return equal(a, b)
	case opNe:
		return !equal(a, b)
	}
	if a.k != kInt || b.k != kInt {
		return false
	}
	switch op {
	case opGt:
		return a.i > b.i
	case opGe:
		return a.i >= b.i
	case opLt:
		return a.i < b.i
	}
	return a.i <= b.i
}

// newCmpNode builds a single comparison, with a faster form for comparing
// against a literal, the most common shape ("userId eq 'a'").
func newCmpNode(op cmpOp, l, r node) node {
	if lit, ok := r.(litNode); ok && (op == opEq || op == opNe) {
		return &eqLitNode{x: newOperand(l), lit: lit.v, neg: op == opNe}
	}
	return &cmpNode{op: op, l: newOperand(l), r: newOperand(r)}
}

type cmpNode struct {
	op   cmpOp
	l, r operand
}

func (n *cmpNode) eval(c Connection) value {
	return boolVal(compare(n.op, n.l.eval(&c), n.r.eval(&c)))
}

type eqLitNode struct {
	x   operand
	lit value
	neg bool
}

func (n *eqLitNode) eval(c Connection) value {
	return boolVal(equal(n.x.eval(&c), n.lit) != n.neg)
}

// cmpChainNode is a left-associative chain "a op1 b op2 c ...", evaluated
// iteratively.
type cmpChainNode struct {
	first node
	ops   []cmpOp
	rest  []node
}

func (n *cmpChainNode) eval(c Connection) value {
	v := n.first.eval(c)
	for i, op := range n.ops {
		v = boolVal(compare(op, v, n.rest[i].eval(c)))
	}
	return v
}

// memberTest is the right side of one "in": the groups collection, or a
// literal list. A list keeps its string items apart (in a set when the list
// is long) so that the common string lookup compares strings only.
type memberTest struct {
	groups  bool
	strs    []string            // the string items
	strSet  map[string]struct{} // the string items, when there are many
	others  []value             // the null, bool and int items
	hasNull bool
}

// listSetMin is the number of string items from which lookups use a map.
const listSetMin = 8

func newListTest(items []value) memberTest {
	var t memberTest
	for _, v := range items {
		switch v.k {
		case kString:
			t.strs = append(t.strs, v.s)
		case kNull:
			t.hasNull = true
		default:
			t.others = append(t.others, v)
		}
	}
	if len(t.strs) >= listSetMin {
		t.strSet = make(map[string]struct{}, len(t.strs))
		for _, s := range t.strs {
			t.strSet[s] = struct{}{}
		}
		t.strs = nil
	}
	return t
}

// has reports whether v is in the collection or list.
func (t *memberTest) has(v value, groups []string) bool {
	if t.groups {
		return v.k == kString && hasString(groups, v.s)
	}
	switch v.k {
	case kString:
		if t.strSet != nil {
			_, ok := t.strSet[v.s]
			return ok
		}
		return hasString(t.strs, v.s)
	case kNull:
		return t.hasNull
	}
	for _, it := range t.others {
		if equal(v, it) {
			return true
		}
	}
	return false
}

func hasString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// inNode is "x in r" with a single right side.
type inNode struct {
	x    operand
	test memberTest
}

func (n *inNode) eval(c Connection) value {
	return boolVal(n.test.has(n.x.eval(&c), c.Groups))
}

// inChainNode is a left-associative chain "x in r1 in r2 ...".
type inChainNode struct {
	x     operand
	tests []memberTest
}

func (n *inChainNode) eval(c Connection) value {
	v := n.x.eval(&c)
	for i := range n.tests {
		v = boolVal(n.tests[i].has(v, c.Groups))
	}
	return v
}

type lenNode struct{ x node }

func (n lenNode) eval(c Connection) value {
	v := n.x.eval(c)
	return nullOr(v.k == kString, intVal(int64(utf16Len(v.s))))
}

type lenGroupsNode struct{}

func (lenGroupsNode) eval(c Connection) value { return intVal(int64(len(c.Groups))) }

// strFuncNode is tolower, toupper or trim.
type strFuncNode struct {
	fn funcID
	x  node
}

func (n *strFuncNode) eval(c Connection) value {
	v := n.x.eval(c)
	if v.k != kString {
		return value{}
	}
	switch n.fn {
	case fnToLower:
		return strVal(strings.ToLower(v.s))
	case fnToUpper:
		return strVal(strings.ToUpper(v.s))
	}
	return strVal(strings.TrimSpace(v.s))
}

type substringNode struct {
	s, i, n node // n is nil for the two-argument form
}

func (n *substringNode) eval(c Connection) value {
	s, i := n.s.eval(c), n.i.eval(c)
	if s.k != kString || i.k != kInt {
		return value{}
	}
	count := int64(-1)
	if n.n != nil {
		nv := n.n.eval(c)
		if nv.k != kInt {
			return value{}
		}
		count = nv.i
		if count < 0 {
			return value{}
		}
	}
	r, ok := substring16(s.s, i.i, count)
	return nullOr(ok, strVal(r))
}

// str2Node is a function of two strings: startswith, endswith, contains,
// indexof or concat.
type str2Node struct {
	fn   funcID
	a, b node
}

func (n *str2Node) eval(c Connection) value {
	a, b := n.a.eval(c), n.b.eval(c)
	if n.fn == fnConcat {
		switch {
		case a.k != kString:
			return b // null when both are null
		case b.k != kString:
			return a
		}
		return strVal(a.s + b.s)
	}
	if a.k != kString || b.k != kString {
		if n.fn == fnIndexOf {
			return intVal(-1)
		}
		return boolVal(false)
	}
	x, y := validUTF8(a.s), validUTF8(b.s)
	switch n.fn {
	case fnStartsWith:
		return boolVal(strings.HasPrefix(x, y))
	case fnEndsWith:
		return boolVal(strings.HasSuffix(x, y))
	case fnContains:
		return boolVal(strings.Contains(x, y))
	}
	return intVal(int64(indexOf16(x, y)))
}
