package odata

import (
	"strconv"
	"strings"
)

// typ is the static type of an expression.
type typ uint8

const (
	tInvalid typ = iota // an expression that already produced an error
	tBool
	tInt
	tString
	tColl
	tNull
)

func (t typ) String() string {
	switch t {
	case tBool:
		return "bool"
	case tInt:
		return "int"
	case tString:
		return "string"
	case tColl:
		return "collection"
	case tNull:
		return "null"
	}
	return "invalid"
}

// typeSet is a set of static types, used to state what an operand accepts.
type typeSet uint8

func setOf(ts ...typ) typeSet {
	var s typeSet
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

func (s typeSet) has(t typ) bool { return s&(1<<t) != 0 }

func (s typeSet) String() string {
	var names []string
	for t := tBool; t <= tNull; t++ {
		if s.has(t) {
			names = append(names, "'"+t.String()+"'")
		}
	}
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

var (
	boolOnly   = setOf(tBool)
	intOnly    = setOf(tInt)
	collOnly   = setOf(tColl)
	scalars    = setOf(tBool, tInt, tString, tNull) // eq, ne and the left of in
	orderables = setOf(tInt, tNull)                 // gt, ge, lt, le
	strOrNull  = setOf(tString, tNull)
	lengthArgs = setOf(tString, tNull, tColl)
)

// funcID identifies a built-in function.
type funcID uint8

const (
	fnLength funcID = iota + 1
	fnToLower
	fnToUpper
	fnTrim
	fnSubstring
	fnStartsWith
	fnEndsWith
	fnContains
	fnIndexOf
	fnConcat
)

// funcByName maps the function names, which are case-sensitive, to their ids.
var funcByName = map[string]funcID{
	"length": fnLength, "tolower": fnToLower, "toupper": fnToUpper, "trim": fnTrim,
	"substring": fnSubstring, "startswith": fnStartsWith, "endswith": fnEndsWith,
	"contains": fnContains, "indexof": fnIndexOf, "concat": fnConcat,
}

// funcArity gives the minimum and maximum argument counts of each function.
var funcArity = [...]struct{ min, max int }{
	fnLength: {1, 1}, fnToLower: {1, 1}, fnToUpper: {1, 1}, fnTrim: {1, 1},
	fnSubstring: {2, 3}, fnStartsWith: {2, 2}, fnEndsWith: {2, 2},
	fnContains: {2, 2}, fnIndexOf: {2, 2}, fnConcat: {2, 2},
}

// call type-checks a call of a known function and builds its node.
func (p *parser) call(fn token, args []expr, end int) expr {
	id := fn.fn
	res := expr{start: fn.start, end: end}
	switch id {
	case fnLength, fnIndexOf:
		res.t = tInt
	case fnStartsWith, fnEndsWith, fnContains:
		res.t = tBool
	default:
		res.t = tString
	}
	ar := funcArity[id]
	if len(args) < ar.min || len(args) > ar.max {
		want := strconv.Itoa(ar.min)
		if ar.max != ar.min {
			want += " or " + strconv.Itoa(ar.max)
		}
		plural := "s"
		if ar.max == 1 {
			plural = ""
		}
		p.sem(CategoryArity, fn.start, p.src[fn.start:end],
			"Function '"+fn.text+"' takes "+want+" argument"+plural+", not "+strconv.Itoa(len(args))+".")
		return res
	}
	switch id {
	case fnLength:
		p.want(args[0], lengthArgs, fn.start, end)
		if args[0].t == tColl {
			res.n = lenGroupsNode{}
		} else {
			res.n = lenNode{args[0].n}
		}
	case fnToLower, fnToUpper, fnTrim:
		p.want(args[0], strOrNull, fn.start, end)
		res.n = &strFuncNode{fn: id, x: args[0].n}
	case fnSubstring:
		p.want(args[0], strOrNull, fn.start, end)
		p.want(args[1], intOnly, fn.start, end)
		sn := &substringNode{s: args[0].n, i: args[1].n}
		if len(args) == 3 {
			p.want(args[2], intOnly, fn.start, end)
			sn.n = args[2].n
		}
		res.n = sn
	default: // two strings
		p.want(args[0], strOrNull, fn.start, end)
		p.want(args[1], strOrNull, fn.start, end)
		res.n = &str2Node{fn: id, a: args[0].n, b: args[1].n}
	}
	return res
}
