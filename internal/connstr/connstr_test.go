package connstr

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/exported"
)

// key is the access key of the test inputs; no error may show it.
const key = "Sup3rSecretKeyValue0123456789+/AB"

// Messages every test compares with in full.
const (
	formTail   = "; expected Endpoint=<http or https URL>;AccessKey=<key>, with optional Port (1..65535), Version (1.0) and ClientEndpoint"
	msgURLRule = " must be an absolute http or https URL with a host, an optional port 1..65535 and path, and no query, fragment or user info"
)

func TestParseErrors(t *testing.T) {
	const ep = "Endpoint=https://host;"
	tests := []struct {
		name    string
		in      string
		want    Error
		message string
	}{
		// empty
		{"empty string", "", Error{Kind: Empty}, "it is empty" + formTail},
		{"white space", " \t\r\n ", Error{Kind: Empty}, "it is empty" + formTail},
		{"only separators", " ; ;; ", Error{Kind: Empty}, "it is empty" + formTail},
		// malformed_segment, with the segment's position (empty segments count)
		{"no equals sign", "foobar", Error{Kind: MalformedSegment, Segment: 1}, "segment 1 is not of the form Key=Value" + formTail},
		{"a bare key", ep + "AccessKey=" + key + ";Version", Error{Kind: MalformedSegment, Segment: 3}, "segment 3 is not of the form Key=Value" + formTail},
		{"the key pasted alone", ep + key, Error{Kind: MalformedSegment, Segment: 2}, "segment 2 is not of the form Key=Value" + formTail},
		{"empty key", ep + "=" + key, Error{Kind: MalformedSegment, Segment: 2}, "segment 2 is not of the form Key=Value" + formTail},
		{"blank key", ep + " \t=" + key, Error{Kind: MalformedSegment, Segment: 2}, "segment 2 is not of the form Key=Value" + formTail},
		{"empty segments counted", ";;" + ep + ";" + key, Error{Kind: MalformedSegment, Segment: 5}, "segment 5 is not of the form Key=Value" + formTail},
		{"first broken rule wins", "Port=0;foo;Endpoint=https://a;Endpoint=https://b", Error{Kind: MalformedSegment, Segment: 2}, "segment 2 is not of the form Key=Value" + formTail},
		// duplicate_key, case-insensitive, known and unknown keys
		{"endpoint twice", ep + "AccessKey=" + key + ";Endpoint=https://b", Error{Kind: DuplicateKey, Segment: 3, Key: "Endpoint"}, "key Endpoint appears again in segment 3 (keys are case-insensitive)"},
		{"access key twice, other case", ep + "AccessKey=" + key + ";accesskey=" + key + "2", Error{Kind: DuplicateKey, Segment: 3, Key: "AccessKey"}, "key AccessKey appears again in segment 3 (keys are case-insensitive)"},
		{"same value twice", ep + "AccessKey=" + key + ";Version=1.0;VERSION=1.0", Error{Kind: DuplicateKey, Segment: 4, Key: "Version"}, "key Version appears again in segment 4 (keys are case-insensitive)"},
		{"port twice with spaces", ep + " port =1; Port=2;AccessKey=" + key, Error{Kind: DuplicateKey, Segment: 3, Key: "Port"}, "key Port appears again in segment 3 (keys are case-insensitive)"},
		{"client endpoint twice", ep + "ClientEndpoint=https://a;clientEndpoint=https://b", Error{Kind: DuplicateKey, Segment: 3, Key: "ClientEndpoint"}, "key ClientEndpoint appears again in segment 3 (keys are case-insensitive)"},
		{"unknown key twice, not shown", ep + "AccessKey=" + key + ";" + key[:8] + "=1;" + strings.ToLower(key[:8]) + "=2", Error{Kind: DuplicateKey, Segment: 4}, "segment 4 repeats a key of an earlier segment (keys are case-insensitive)"},
		// missing_endpoint
		{"no endpoint", "AccessKey=" + key + ";Version=1.0", Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		{"empty endpoint", "Endpoint=;AccessKey=" + key, Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		{"blank endpoint", "Endpoint= \t ;AccessKey=" + key, Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		{"only unknown keys", "foo=;bar=" + key, Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		{"a space inside the key name", "End point=https://host;AccessKey=" + key, Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		{"missing endpoint before a bad port", "Port=x;AccessKey=" + key, Error{Kind: MissingEndpoint, Key: "Endpoint"}, "Endpoint is missing or empty" + formTail},
		// missing_access_key
		{"no access key", ep + "Version=1.0", Error{Kind: MissingAccessKey, Key: "AccessKey"}, "AccessKey is missing or empty" + formTail},
		{"blank access key", ep + "AccessKey=   ", Error{Kind: MissingAccessKey, Key: "AccessKey"}, "AccessKey is missing or empty" + formTail},
		{"Entra ID connection string", ep + "AuthType=aad;ClientId=" + key, Error{Kind: MissingAccessKey, Key: "AccessKey"}, "AccessKey is missing or empty" + formTail},
		{"missing key before a bad endpoint", "Endpoint=ftp://" + key, Error{Kind: MissingAccessKey, Key: "AccessKey"}, "AccessKey is missing or empty" + formTail},
		// invalid_endpoint
		{"no scheme", "Endpoint=host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"ftp", "Endpoint=ftp://host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"wss", "Endpoint=wss://host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"opaque", "Endpoint=https:host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"no host", "Endpoint=http://:8080;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"a space in the host", "Endpoint=https://my host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"URL port out of range", "Endpoint=http://host:65536;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"URL port empty", "Endpoint=http://host:;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"query", "Endpoint=https://host/?code=" + key + ";AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"fragment", "Endpoint=https://host/#" + key + ";AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"user info", "Endpoint=https://u:" + key + "@host;AccessKey=" + key, Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		{"bad endpoint before a bad port", "Endpoint=ftp://x;AccessKey=" + key + ";Port=0;Version=9", Error{Kind: InvalidEndpoint, Key: "Endpoint"}, "Endpoint" + msgURLRule},
		// invalid_port
		{"port 0", ep + "AccessKey=" + key + ";Port=0", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"port 65536", ep + "AccessKey=" + key + ";Port=65536", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"port with a sign", ep + "AccessKey=" + key + ";Port=+80", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"negative port", ep + "AccessKey=" + key + ";Port=-1", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"port with a decimal point", ep + "AccessKey=" + key + ";Port=80.0", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"port with letters", ep + "AccessKey=" + key + ";Port=" + key, Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"empty port", ep + "AccessKey=" + key + ";Port=", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		{"huge port", ep + "AccessKey=" + key + ";Port=99999999999999999999", Error{Kind: InvalidPort, Key: "Port"}, "Port must be decimal digits in 1..65535"},
		// invalid_version
		{"version 2.0", ep + "AccessKey=" + key + ";Version=2.0", Error{Kind: InvalidVersion, Key: "Version"}, "Version must be 1.0 when present"},
		{"version 1", ep + "AccessKey=" + key + ";Version=1", Error{Kind: InvalidVersion, Key: "Version"}, "Version must be 1.0 when present"},
		{"empty version", ep + "AccessKey=" + key + ";Version=", Error{Kind: InvalidVersion, Key: "Version"}, "Version must be 1.0 when present"},
		{"version as the key", ep + "AccessKey=" + key + ";Version=" + key, Error{Kind: InvalidVersion, Key: "Version"}, "Version must be 1.0 when present"},
		// invalid_client_endpoint
		{"wss client endpoint", ep + "AccessKey=" + key + ";ClientEndpoint=wss://edge", Error{Kind: InvalidClientEndpoint, Key: "ClientEndpoint"}, "ClientEndpoint" + msgURLRule},
		{"relative client endpoint", ep + "AccessKey=" + key + ";ClientEndpoint=/client", Error{Kind: InvalidClientEndpoint, Key: "ClientEndpoint"}, "ClientEndpoint" + msgURLRule},
		{"empty client endpoint", ep + "AccessKey=" + key + ";ClientEndpoint=", Error{Kind: InvalidClientEndpoint, Key: "ClientEndpoint"}, "ClientEndpoint" + msgURLRule},
		{"client endpoint with a query", ep + "AccessKey=" + key + ";ClientEndpoint=https://edge/?k=" + key, Error{Kind: InvalidClientEndpoint, Key: "ClientEndpoint"}, "ClientEndpoint" + msgURLRule},
	}
	seen := map[Kind]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, perr := Parse(tt.in)
			if perr == nil {
				t.Fatalf("accepted, endpoint %s", p.Endpoint)
			}
			if *perr != tt.want {
				t.Fatalf("error %+v, want %+v", *perr, tt.want)
			}
			seen[perr.Kind] = true
			var err error = perr
			if got, want := err.Error(), "invalid connection string: "+tt.message; got != want {
				t.Errorf("message\n%s\nwant\n%s", got, want)
			}
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, exported.ErrInvalidArgument) {
				t.Error("the error does not wrap ErrInvalid and ErrInvalidArgument")
			}
			var e *Error
			if !errors.As(err, &e) || e != perr {
				t.Error("errors.As does not find the *Error")
			}
			if (p != Parsed{}) {
				t.Error("a rejected string gives a non-zero Parsed")
			}
			for _, s := range []string{key, key[:12], strings.ToLower(key[:8])} {
				if strings.Contains(err.Error(), s) || strings.Contains(fmt.Sprintf("%v %+v %#v", err, err, err), s) {
					t.Errorf("the error shows the key: %v", err)
				}
			}
		})
	}
	for _, k := range []Kind{Empty, MalformedSegment, DuplicateKey, MissingEndpoint, MissingAccessKey, InvalidEndpoint, InvalidPort, InvalidVersion, InvalidClientEndpoint} {
		if !seen[k] {
			t.Errorf("no case of %s", k)
		}
	}
}

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		name           string
		in             string
		endpoint       string // Endpoint.String()
		port           int
		clientEndpoint string // "" when absent
		accessKey      string
	}{
		{"minimal", "Endpoint=https://host;AccessKey=k", "https://host", 0, "", "k"},
		{"full", "Endpoint=https://svc.webpubsub.azure.com;AccessKey=" + key + ";Version=1.0;", "https://svc.webpubsub.azure.com", 0, "", key},
		{"any order", "Version=1.0;AccessKey=k;Endpoint=http://host", "http://host", 0, "", "k"},
		{"keys in any case", "ENDPOINT=https://host;accesskey=k;VERSION=1.0;pOrT=443;clientENDPOINT=https://edge", "https://host:443", 443, "https://edge", "k"},
		{"spaces and line breaks trimmed", "  Endpoint = https://host ;\n\tAccessKey =  a b  ;\r\n Version = 1.0 ; ", "https://host", 0, "", "a b"},
		{"empty segments ignored", ";;Endpoint=https://host;; \t ;AccessKey=k;;;", "https://host", 0, "", "k"},
		{"key split on the first '='", "Endpoint=https://host;AccessKey=abc+/def==", "https://host", 0, "", "abc+/def=="},
		{"unknown keys ignored", "Endpoint=https://host;AccessKey=k;AuthType=aad;Foo=bar;Baz=", "https://host", 0, "", "k"},
		{"scheme lower-cased, host kept", "Endpoint=HTTPS://Host.Example.COM;AccessKey=k", "https://Host.Example.COM", 0, "", "k"},
		{"trailing slash dropped", "Endpoint=https://host/a/b/;AccessKey=k", "https://host/a/b", 0, "", "k"},
		{"URL port kept", "Endpoint=https://host:8443;AccessKey=k", "https://host:8443", 8443, "", "k"},
		{"Port replaces the URL port", "Endpoint=http://abc.com:8080;AccessKey=k;Port=8088", "http://abc.com:8088", 8088, "", "k"},
		{"Port with leading zeros", "Endpoint=https://host;AccessKey=k;Port=08080", "https://host:8080", 8080, "", "k"},
		{"Port 1", "Endpoint=https://host;AccessKey=k;Port=1", "https://host:1", 1, "", "k"},
		{"Port 65535", "Endpoint=https://host;AccessKey=k;Port= 65535 ", "https://host:65535", 65535, "", "k"},
		{"IPv6 with Port", "Endpoint=http://[2001:db8::1]:80/p;Port=8081;AccessKey=k", "http://[2001:db8::1]:8081/p", 8081, "", "k"},
		{"IPv6 without port", "Endpoint=http://[::1];AccessKey=k", "http://[::1]", 0, "", "k"},
		{"escaped path kept", "Endpoint=https://host/a%20b/;AccessKey=k", "https://host/a%20b", 0, "", "k"},
		{"Port does not apply to ClientEndpoint", "Endpoint=http://localhost;Port=8080;ClientEndpoint=http://localhost:9090/;AccessKey=k", "http://localhost:8080", 8080, "http://localhost:9090", "k"},
		{"version trimmed", "Endpoint=https://host;AccessKey=k;Version= 1.0 ", "https://host", 0, "", "k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, perr := Parse(tt.in)
			if perr != nil {
				t.Fatalf("rejected: %v", perr)
			}
			if p.Endpoint.String() != tt.endpoint || p.Endpoint.Port != tt.port {
				t.Errorf("Endpoint %s (port %d), want %s (port %d)", p.Endpoint, p.Endpoint.Port, tt.endpoint, tt.port)
			}
			gotCE := ""
			if p.HasClientEndpoint {
				gotCE = p.ClientEndpoint.String()
			}
			if gotCE != tt.clientEndpoint {
				t.Errorf("ClientEndpoint %q, want %q", gotCE, tt.clientEndpoint)
			}
			if p.AccessKey != tt.accessKey {
				t.Errorf("AccessKey %q, want %q", p.AccessKey, tt.accessKey)
			}
		})
	}
}

func TestURL(t *testing.T) {
	tests := []struct {
		in, str, ws, hostPort string
		ok                    bool
	}{
		{"https://host", "https://host", "wss://host", "host", true},
		{"http://Host:80/a/", "http://Host:80/a", "ws://Host:80/a", "Host:80", true},
		{"HTTP://[::1]:8080", "http://[::1]:8080", "ws://[::1]:8080", "[::1]:8080", true},
		{"http://[fe80::1]", "http://[fe80::1]", "ws://[fe80::1]", "[fe80::1]", true},
		{"https://host:0", "", "", "", false},
		{"https://host:+1", "", "", "", false},
		{"https://host/?", "", "", "", false},
		{"https://host/ x", "", "", "", false},
		{"https://host\t", "", "", "", false},
		{"//host", "", "", "", false},
		{"mailto:a@b", "", "", "", false},
		{"https://@host", "", "", "", false},
	}
	for _, tt := range tests {
		u, ok := ParseURL(tt.in)
		if ok != tt.ok {
			t.Errorf("ParseURL(%q) ok %v, want %v", tt.in, ok, tt.ok)
			continue
		}
		if ok && (u.String() != tt.str || u.WSString() != tt.ws || u.HostPort() != tt.hostPort) {
			t.Errorf("ParseURL(%q) = %s %s %s, want %s %s %s", tt.in, u, u.WSString(), u.HostPort(), tt.str, tt.ws, tt.hostPort)
		}
	}
}

func TestParsePort(t *testing.T) {
	tests := []struct {
		in   string
		want int
		ok   bool
	}{
		{"1", 1, true}, {"443", 443, true}, {"00080", 80, true}, {"65535", 65535, true},
		{"", 0, false}, {"0", 0, false}, {"65536", 0, false}, {"-1", 0, false}, {"+1", 0, false},
		{"1e3", 0, false}, {" 80", 0, false}, {"80 ", 0, false}, {"0x50", 0, false}, {"٨٠", 0, false},
		{"00000000001", 0, false}, {"99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		if got, ok := ParsePort(tt.in); got != tt.want || ok != tt.ok {
			t.Errorf("ParsePort(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestErrorUnknownKind(t *testing.T) {
	if got := (&Error{Kind: "something_new"}).Error(); got != "invalid connection string: something_new" {
		t.Fatalf("Error() = %q", got)
	}
}
