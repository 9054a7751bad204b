package webpubsub

import (
	"fmt"
	"github.com/gowebpubsub/webpubsub/internal/odata"
	"reflect"
	"strconv"
	"strings"
)

// FilterValue returns v as an OData literal for a Web PubSub filter:
// a string is wrapped in single quotes with every single quote doubled (so
// the string vic's gives the literal 'vic' + two single quotes + 's');
// nil gives null; a bool gives true or false; any Go integer type
// gives its decimal form (it must fit the service's 32-bit integers). Other
// types, floats included, are an error: the filter language has no such
// literal. FilterValue never percent-encodes; the client does that when it
// sends the filter.
func FilterValue(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "null", nil
	case string:
		return quoteODataString(x), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n := rv.Int()
		if n < -2147483648 || n > 2147483647 {
			return "", &ValidationError{Name: "filter value", Value: strconv.FormatInt(n, 10), Reason: "integers must fit in 32 bits (-2147483648..2147483647)"}
		}
		return strconv.FormatInt(n, 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		n := rv.Uint()
		if n > 2147483647 {
			return "", &ValidationError{Name: "filter value", Value: strconv.FormatUint(n, 10), Reason: "integers must fit in 32 bits (-2147483648..2147483647)"}
		}
		return strconv.FormatUint(n, 10), nil
	case reflect.String:
		return quoteODataString(rv.String()), nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), nil
	}
	return "", &ValidationError{Name: "filter value", Reason: fmt.Sprintf("type %T has no OData literal; use a string, an integer, a bool or nil", v)}
}

func quoteODataString(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// FormatFilter builds a filter from a template and arguments: each "{}" in
// format is replaced by the next argument written as FilterValue writes it,
// and a slice or array argument by its elements as a comma-separated list,
// for use in "in (...)":
//
//	FormatFilter("userId in ({}) and {} in groups", []string{"a", "b'c"}, "g1")
//	// userId in ('a','b''c') and 'g1' in groups
//
// The number of "{}" must equal len(args). An empty slice is an error (an
// "in" over nothing selects no connection; use FilterIn, which writes false).
// Text outside the placeholders is copied as is: write it in OData syntax.
func FormatFilter(format string, args ...any) (string, error) {
	var b strings.Builder
	used := 0
	for {
		i := strings.Index(format, "{}")
		if i < 0 {
			b.WriteString(format)
			break
		}
		b.WriteString(format[:i])
		format = format[i+2:]
		if used >= len(args) {
			return "", &ValidationError{Name: "filter format", Reason: fmt.Sprintf("has more {} placeholders than the %d arguments", len(args))}
		}
		s, err := filterArg(args[used])
		if err != nil {
			return "", err
		}
		if s == "" {
			return "", &ValidationError{Name: "filter argument", Value: strconv.Itoa(used), Reason: "is an empty list; use FilterIn, which writes false for an empty list"}
		}
		b.WriteString(s)
		used++
	}
	if used != len(args) {
		return "", &ValidationError{Name: "filter format", Reason: fmt.Sprintf("has %d {} placeholders for %d arguments", used, len(args))}
	}
	return b.String(), nil
}

// filterArg writes one argument: a literal, or a list for slices ("" when
// the list is empty).
func filterArg(v any) (string, error) {
	if v != nil {
		rv := reflect.ValueOf(v)
		if (rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array) && rv.Type().Elem().Kind() != reflect.Uint8 {
			parts := make([]string, rv.Len())
			for i := range parts {
				s, err := FilterValue(rv.Index(i).Interface())
				if err != nil {
					return "", err
				}
				parts[i] = s
			}
			return strings.Join(parts, ","), nil
		}
	}
	return FilterValue(v)
}

// FilterIn returns "<identifier> in (<values>)", each value written as
// FilterValue writes it; values must be a slice or array. For an empty list
// it returns "false", which selects nothing, as "x in ()" would. identifier
// is written as given: "userId" or "connectionId".
func FilterIn(identifier string, values any) (string, error) {
	if identifier == "" || strings.ContainsAny(identifier, " '()") {
		return "", &ValidationError{Name: "filter identifier", Value: identifier, Reason: "must be an identifier such as userId or connectionId"}
	}
	if values == nil {
		return "false", nil
	}
	rv := reflect.ValueOf(values)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return "", &ValidationError{Name: "filter values", Reason: fmt.Sprintf("must be a slice or array, not %T", values)}
	}
	s, err := filterArg(values)
	if err != nil {
		return "", err
	}
	if s == "" {
		return "false", nil
	}
	return identifier + " in (" + s + ")", nil
}

// ValidateFilter checks filter against the Web PubSub filter language (the
// grammar, the names userId, connectionId and groups, and the static types)
// without sending anything, using the same parser as the emulator. It
// returns nil for a valid filter and for "" (no filtering), else a
// *ValidationError whose Reason gives the position and the problem. Sends
// do not call it: the service remains the judge of what it accepts.
func ValidateFilter(filter string) error {
	if filter == "" {
		return nil
	}
	if _, err := odata.Parse(filter); err != nil {
		return &ValidationError{Name: "filter", Reason: err.Error()}
	}
	return nil
}
