package eventhandler

import (
	"net/url"
	"strconv"
	"strings"
)

// originPolicy answers abuse-protection checks.
type originPolicy struct {
	any   bool            // "*" configured, or no list at all
	hosts map[string]bool // lower-case host[:port]
}

// newOriginPolicy builds the policy from Options.AllowedOrigins. Each entry
// is "*", an endpoint URL (its host is used, with the scheme's default port
// dropped, as the WHATWG URL host is) or a bare host with an optional port.
func newOriginPolicy(entries []string) (originPolicy, error) {
	p := originPolicy{any: len(entries) == 0, hosts: map[string]bool{}}
	for i, e := range entries {
		e = strings.TrimSpace(e)
		if e == "*" {
			p.any = true
			continue
		}
		host, reason := originHost(e)
		if reason != "" {
			v := e
			if strings.Contains(e, "@") {
				v = "" // user info may be a password
			}
			return originPolicy{}, &ValidationError{Name: "AllowedOrigins[" + strconv.Itoa(i) + "]", Value: v, Reason: reason}
		}
		p.hosts[host] = true
	}
	return p, nil
}

// originHost returns the lower-case host[:port] of an AllowedOrigins
// entry, or a reason why the entry is invalid.
func originHost(e string) (host, reason string) {
	if e == "" {
		return "", "must not be empty; use \"*\", an endpoint URL such as https://contoso.webpubsub.azure.com or a host such as localhost:8080"
	}
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || u.Hostname() == "" {
			return "", "must be an absolute URL with a host"
		}
		host = strings.ToLower(u.Host)
		switch {
		case strings.EqualFold(u.Scheme, "https") && u.Port() == "443",
			strings.EqualFold(u.Scheme, "http") && u.Port() == "80":
			host = strings.TrimSuffix(host, ":"+u.Port())
		}
		return host, ""
	}
	u, err := url.Parse("//" + e)
	if err != nil || u.Host != e || u.Hostname() == "" {
		return "", "must be \"*\", an absolute URL or a host name with an optional port"
	}
	return strings.ToLower(e), ""
}

// allow returns the WebHook-Allowed-Origin value for a request origin, or
// false when the origin is not allowed.
func (p originPolicy) allow(origin string) (string, bool) {
	if p.any {
		return "*", true
	}
	if p.hosts[strings.ToLower(strings.TrimSpace(origin))] {
		return origin, true
	}
	return "", false
}
