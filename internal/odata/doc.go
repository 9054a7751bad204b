// Package odata implements the subset of OData $filter that Azure Web PubSub
// accepts for selecting connections.
//
// A filter is compiled and statically type-checked once by [Parse]; the
// resulting [*Filter] is then evaluated against any number of connections
// with [Filter.Match], which never fails:
//
//	f, err := odata.Parse("userId in ('user1', 'user2') and 'group1' in groups")
//	if err != nil {
//		var e *odata.Error // always the concrete type
//		errors.As(err, &e)
//		// e.Category, e.Pos, e.Error() == "Invalid syntax for '...': ..."
//	}
//	uid := "user1"
//	ok := f.Match(odata.Connection{ConnectionID: "c1", UserID: &uid, Groups: []string{"group1"}})
//
// The language has three properties: userId (a string, null for anonymous
// connections), connectionId (a string) and groups (a collection of strings);
// their names are case-insensitive. Keywords (and, or, not, eq, ne, gt, ge, lt,
// le, in, true, false, null) and the functions length, tolower, toupper, trim,
// substring, startswith, endswith, contains, indexof and concat are
// lower-case only. String values compare ordinally, and length, indexof and
// substring count UTF-16 code units, like the .NET service. Precedence, from
// tightest: function call and parentheses, in, not, comparisons, and, or; so
// "not length(userId) gt 5" is a type error and must be written
// "not (length(userId) gt 5)".
//
// An empty filter means "no filtering" at the REST layer; Parse rejects it, so
// callers check for "" first. A nil *Filter matches everything.
package odata
