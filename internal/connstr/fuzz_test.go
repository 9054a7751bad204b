package connstr

import (
	"strconv"
	"strings"
	"testing"
)

// marker replaces secrets in FuzzParse: it holds control characters, which
// no message contains, and no ';' or '=', so it changes no segment's form.
const marker = "\x01marker\x02"

// scrubbed returns in with every value that may be a secret replaced by
// marker: AccessKey values, values of unknown keys and whole malformed
// segments. None of those values change which rule Parse reports (Parse
// looks only at their emptiness), so the error must stay the same.
func scrubbed(in string) string {
	segs := strings.Split(in, ";")
	for i, seg := range segs {
		t := strings.TrimSpace(seg)
		if t == "" {
			continue
		}
		k, v, ok := strings.Cut(t, "=")
		k = strings.TrimSpace(k)
		lk := strings.ToLower(k)
		_, isKnown := known[lk]
		switch {
		case !ok || k == "":
			segs[i] = marker
		case lk == "accesskey" && strings.TrimSpace(v) != "", !isKnown:
			segs[i] = k + "=" + marker
		}
	}
	return strings.Join(segs, ";")
}

// FuzzParse checks Parse's invariants on any input: it never panics; an
// error is one of the kinds, with a canonical key or none, a message that
// depends on nothing but Kind, Segment and Key, and the same error when
// every secret of the input is replaced (so no secret reaches the
// message); an accepted string has an endpoint and a key, and its
// normalized form parses again to the same values.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"Endpoint=https://host;AccessKey=k",
		"Endpoint=http://[::1]:80;Port=8082;AccessKey=k;Version=1.0;ClientEndpoint=https://edge/p/",
		"Endpoint=https://host;" + key,
		"Endpoint=https://a;AccessKey=" + key + ";accesskey=" + key,
	} {
		f.Add(s)
	}
	kinds := map[Kind]bool{Empty: true, MalformedSegment: true, DuplicateKey: true, MissingEndpoint: true, MissingAccessKey: true,
		InvalidEndpoint: true, InvalidPort: true, InvalidVersion: true, InvalidClientEndpoint: true}
	f.Fuzz(func(t *testing.T, in string) {
		p, perr := Parse(in)
		if perr != nil {
			if !kinds[perr.Kind] {
				t.Fatalf("unknown kind %q", perr.Kind)
			}
			if perr.Key != "" && known[strings.ToLower(perr.Key)] != perr.Key {
				t.Fatalf("Key %q is not a canonical key name", perr.Key)
			}
			if (perr.Segment != 0) != (perr.Kind == MalformedSegment || perr.Kind == DuplicateKey) {
				t.Fatalf("Segment %d for %s", perr.Segment, perr.Kind)
			}
			msg := perr.Error()
			if msg != (&Error{Kind: perr.Kind, Segment: perr.Segment, Key: perr.Key}).Error() {
				t.Fatal("the message depends on more than Kind, Segment and Key")
			}
			_, perr2 := Parse(scrubbed(in))
			if perr2 == nil || *perr2 != *perr {
				t.Fatalf("replacing the secrets changed the error: %v, then %v", perr, perr2)
			}
			if strings.Contains(perr2.Error(), marker) {
				t.Fatalf("the message shows a secret: %q", perr2.Error())
			}
			return
		}
		if p.AccessKey == "" || p.AccessKey != strings.TrimSpace(p.AccessKey) || strings.Contains(p.AccessKey, ";") {
			t.Fatalf("accepted the access key %q", p.AccessKey)
		}
		urls := []URL{p.Endpoint}
		if p.HasClientEndpoint {
			urls = append(urls, p.ClientEndpoint)
		} else if p.ClientEndpoint != (URL{}) {
			t.Fatalf("ClientEndpoint %+v without HasClientEndpoint", p.ClientEndpoint)
		}
		for _, u := range urls {
			if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Port < 0 || u.Port > 65535 || strings.HasSuffix(u.RawPath, "/") {
				t.Fatalf("accepted the URL %+v", u)
			}
		}
		// The normalized form parses to the same values, and so on.
		rebuilt := "Endpoint=" + p.Endpoint.String() + ";AccessKey=" + p.AccessKey + ";Version=1.0"
		if p.HasClientEndpoint {
			rebuilt += ";ClientEndpoint=" + p.ClientEndpoint.String()
		}
		p2, perr := Parse(rebuilt)
		if perr != nil {
			t.Fatalf("the normalized form %q does not parse: %v", strings.ReplaceAll(rebuilt, p.AccessKey, "KEY"), perr)
		}
		if p2 != p {
			t.Fatalf("round trip changed %+v into %+v", p.Endpoint, p2.Endpoint)
		}
		// Port= gives the same endpoint as a port in the URL.
		if p.Endpoint.Port != 0 {
			withoutPort := p.Endpoint
			withoutPort.Port = 0
			p3, perr := Parse("Endpoint=" + withoutPort.String() + ";Port=" + strconv.Itoa(p.Endpoint.Port) + ";AccessKey=" + p.AccessKey)
			if perr != nil || p3.Endpoint != p.Endpoint {
				t.Fatalf("Port= gives %+v (%v), want %+v", p3.Endpoint, perr, p.Endpoint)
			}
		}
	})
}
