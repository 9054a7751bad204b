package eventhandler

import (
	"fmt"
	"net/url"
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
		host, err := originHost(e)
		if err != nil {
			return originPolicy{}, fmt.Errorf("eventhandler: AllowedOrigins[%d]: %w", i, err)
		}
		p.hosts[host] = true
	}
	return p, nil
}

func originHost(e string) (string, error) {
	if e == "" {
		return "", fmt.Errorf("empty; expected \"*\", an endpoint URL such as https://contoso.webpubsub.azure.com or a host such as localhost:8080")
	}
	if strings.Contains(e, "://") {
		u, err := url.Parse(e)
		if err != nil || u.Host == "" || u.Hostname() == "" {
			return "", fmt.Errorf("%q is not an absolute URL with a host", e)
		}
		host := strings.ToLower(u.Host)
		switch {
		case strings.EqualFold(u.Scheme, "https") && u.Port() == "443",
			strings.EqualFold(u.Scheme, "http") && u.Port() == "80":
			host = strings.TrimSuffix(host, ":"+u.Port())
		}
		return host, nil
	}
	u, err := url.Parse("//" + e)
	if err != nil || u.Host != e || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not a host name with an optional port, nor an absolute URL", e)
	}
	return strings.ToLower(e), nil
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
