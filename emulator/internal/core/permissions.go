package core

import (
	"log/slog"
	"maps"
	"slices"
	"strings"

	"github.com/gowebpubsub/webpubsub/internal/names"
)

// Permission is one of the two group permissions a connection can hold.
type Permission int

// The group permissions.
const (
	PermJoinLeaveGroup Permission = iota
	PermSendToGroup
	numPermissions
)

// ParsePermission reads a permission name ("joinLeaveGroup" or
// "sendToGroup"), case-insensitively.
func ParsePermission(s string) (Permission, bool) {
	for p, name := range permissionNames {
		if strings.EqualFold(s, name) {
			return Permission(p), true
		}
	}
	return 0, false
}

// Role prefixes. All comparisons are
// case-sensitive.
var rolePrefixes = [numPermissions]struct{ all, exact, pattern string }{
	PermJoinLeaveGroup: {"webpubsub.joinLeaveGroup", "webpubsub.joinLeaveGroup.", "webpubsub.joinLeaveGroups."},
	PermSendToGroup:    {"webpubsub.sendToGroup", "webpubsub.sendToGroup.", "webpubsub.sendToGroups."},
}

// permSet is the effective state of one permission of one connection:
//
//	allowed(g) = g ∉ denied AND (all OR g ∈ exact OR a pattern matches g)
type permSet struct {
	all      bool
	exact    map[string]struct{}
	patterns []GroupPattern
	sources  []string // the text of each pattern
	denied   map[string]struct{}
}

// permissionNames are the REST names of the permissions.
var permissionNames = [numPermissions]string{PermJoinLeaveGroup: names.PermissionJoinLeaveGroup, PermSendToGroup: names.PermissionSendToGroup}

// each calls f with the state of p, unless p holds nothing.
func (p *permSet) each(perm Permission, f func(name string, all bool, groups, patterns, denied []string)) {
	groups, denied := slices.Sorted(maps.Keys(p.exact)), slices.Sorted(maps.Keys(p.denied))
	if p.all || len(groups)+len(p.sources)+len(denied) > 0 {
		f(permissionNames[perm], p.all, groups, slices.Clone(p.sources), denied)
	}
}

func (p *permSet) allowed(g string) bool {
	if _, no := p.denied[g]; no {
		return false
	}
	if p.all {
		return true
	}
	if _, ok := p.exact[g]; ok {
		return true
	}
	return MatchAny(p.patterns, g)
}

// check answers CheckPermission; an empty target asks about all groups.
func (p *permSet) check(target string) bool {
	if target == "" {
		return p.all && len(p.denied) == 0
	}
	return p.allowed(target)
}

// grant applies GrantPermission; an empty target grants all groups.
func (p *permSet) grant(target string) {
	if target == "" {
		p.all = true
		p.denied = nil
		return
	}
	if p.exact == nil {
		p.exact = map[string]struct{}{}
	}
	p.exact[target] = struct{}{}
	delete(p.denied, target)
}

// revoke applies RevokePermission. A targeted revoke adds a deny entry so
// that it wins over broad roles and patterns; an untargeted one clears
// everything.
func (p *permSet) revoke(target string) {
	if target == "" {
		*p = permSet{}
		return
	}
	delete(p.exact, target)
	if p.denied == nil {
		p.denied = map[string]struct{}{}
	}
	p.denied[target] = struct{}{}
}

// permissionsFromRoles builds the initial permission sets from token
// roles. Unknown roles are ignored; invalid exact groups are ignored; an
// invalid pattern, or a pattern beyond the tenth per permission, is ignored
// with a warning.
func permissionsFromRoles(roles []string, log *slog.Logger) [numPermissions]permSet {
	var sets [numPermissions]permSet
	for _, role := range roles {
		for perm, pre := range rolePrefixes {
			set := &sets[perm]
			switch {
			case role == pre.all:
				set.all = true
			case strings.HasPrefix(role, pre.exact):
				g := role[len(pre.exact):]
				if names.Group(g) == "" {
					if set.exact == nil {
						set.exact = map[string]struct{}{}
					}
					set.exact[g] = struct{}{}
				}
			case strings.HasPrefix(role, pre.pattern):
				if len(set.patterns) >= MaxPatternRoles {
					log.Warn("ignoring wildcard role beyond the limit of 10 per permission", "limit", MaxPatternRoles)
					continue
				}
				pat, err := CompilePattern(role[len(pre.pattern):])
				if err != nil {
					log.Warn("ignoring role with an invalid wildcard group pattern", "error", err)
					continue
				}
				set.patterns = append(set.patterns, pat)
				set.sources = append(set.sources, role[len(pre.pattern):])
			}
		}
	}
	return sets
}
