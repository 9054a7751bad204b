package recording

import (
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSanitizer(t *testing.T) {
	jwtA := testJWT(t, "a")
	s := newSanitizer([]string{"k+y/=", "s3cr3t-two"}, "http://127.0.0.1:8080/pre", "127.0.0.1:8080")
	tests := []struct {
		name, in, want string
	}{
		{"jwt anywhere", "x " + jwtA + ", y", "x " + SanitizedJWT + ", y"},
		{"access_token non-JWT value", "wss://h/client?access_token=abc.def&x=1", "wss://h/client?access_token=" + SanitizedJWT + "&x=1"},
		{"access_token case and encoded", "u=%3FACCESS_TOKEN%3Dsecret%26x", "u=%3FACCESS_TOKEN%3D" + SanitizedJWT}, // over-redacts rather than leak
		{"secret literal", "key=k+y/=;", "key=" + SanitizedSecret + ";"},
		{"secret query-escaped", "k=k%2By%2F%3D&z", "k=" + SanitizedSecret + "&z"},
		{"secret path-escaped", "/k+y%2F=/", "/" + SanitizedSecret + "/"},
		{"secret JSON-escaped slash", `{"k":"k+y\/="}`, `{"k":"` + SanitizedSecret + `"}`},
		{"second secret", "a s3cr3t-two", "a " + SanitizedSecret},
		{"endpoint with prefix", "http://127.0.0.1:8080/pre/api/x", FakeEndpoint + "/api/x"},
		{"endpoint host case", "HTTP://127.0.0.1:8080/PRE/api/x", FakeEndpoint + "/api/x"},
		{"endpoint without prefix", "http://127.0.0.1:8080/other", FakeEndpoint + "/other"},
		{"other scheme", "https://127.0.0.1:8080/a", FakeEndpoint + "/a"},
		{"websocket", "ws://127.0.0.1:8080/client", "wss://" + fakeHost + "/client"},
		{"bare authority", "host is 127.0.0.1:8080.", "host is " + fakeHost + "."},
		{"query-escaped endpoint", "next=http%3A%2F%2F127.0.0.1%3A8080%2Fpre%2Fapi", "next=https%3A%2F%2Ffake.webpubsub.azure.com%2Fapi"},
		{"JSON-escaped endpoint", `"http:\/\/127.0.0.1:8080\/pre\/api"`, `"https:\/\/fake.webpubsub.azure.com\/api"`},
		{"unrelated text untouched", "hello 127.0.0.2", "hello 127.0.0.2"},
		{"binary bytes kept", "\xff\x00s3cr3t-two\xfe", "\xff\x00" + SanitizedSecret + "\xfe"},
	}
	for _, tt := range tests {
		if got := s.scrub(tt.in); got != tt.want {
			t.Errorf("%s: scrub(%q) = %q, want %q", tt.name, tt.in, got, tt.want)
		}
	}
	if got := s.redact("http://127.0.0.1:8080/x?access_token=" + jwtA); got != "http://127.0.0.1:8080/x?access_token="+SanitizedJWT {
		t.Errorf("redact must keep the host and remove the token: %q", got)
	}
}

func TestParseConnectionString(t *testing.T) {
	const key = "Secret/Key+="
	tests := []struct {
		in            string
		wantEndpoint  string
		wantAuthority string
		wantErr       string
	}{
		{in: "Endpoint=https://x.webpubsub.azure.com;AccessKey=" + key + ";Version=1.0;", wantEndpoint: "https://x.webpubsub.azure.com", wantAuthority: "x.webpubsub.azure.com"},
		{in: " endpoint = HTTP://Host.Example/a/b/ ; accesskey = " + key + " ; port = 8443 ", wantEndpoint: "http://Host.Example:8443/a/b", wantAuthority: "Host.Example:8443"},
		{in: "Endpoint=http://[::1]:80;AccessKey=" + key + ";Port=8082", wantEndpoint: "http://[::1]:8082", wantAuthority: "[::1]:8082"},
		{in: "Endpoint=http://127.0.0.1:5000;AccessKey=" + key, wantEndpoint: "http://127.0.0.1:5000", wantAuthority: "127.0.0.1:5000"},
		{in: "AccessKey=" + key, wantErr: "Endpoint is missing"},
		{in: "Endpoint=https://h", wantErr: "AccessKey is missing"},
		{in: "Endpoint=https://h;AccessKey=", wantErr: "AccessKey is missing"},
		{in: "Endpoint=wss://h;AccessKey=" + key, wantErr: "http or https"},
		{in: "Endpoint=h;AccessKey=" + key, wantErr: "http or https"},
		{in: "Endpoint=https:h;AccessKey=" + key, wantErr: "http or https"},
		{in: "Endpoint=https://h;AccessKey=" + key + ";Port=0", wantErr: "Port"},
		{in: "Endpoint=https://h;AccessKey=" + key + ";Port=65536", wantErr: "Port"},
		{in: "Endpoint=https://h;AccessKey=" + key + ";Port=+80", wantErr: "Port"},
		{in: "Endpoint=https://h;AccessKey=" + key + ";Port=", wantErr: "Port"},
		{in: "Endpoint=https://h;SecretKeyWithoutEquals", wantErr: "segment 2"},
		{in: "Endpoint=https://h;AccessKey=" + key + ";accesskey=" + key, wantErr: "key AccessKey appears again in segment 3"},
	}
	for _, tt := range tests {
		got, err := parseConnectionString(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseConnectionString(%q) error %v, want %q", tt.in, err, tt.wantErr)
			} else if strings.Contains(err.Error(), key) || strings.Contains(err.Error(), "https://h") {
				t.Errorf("error %q reveals a value", err)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseConnectionString(%q): %v", tt.in, err)
			continue
		}
		if got.endpoint != tt.wantEndpoint || got.authority != tt.wantAuthority || got.accessKey != key {
			t.Errorf("parseConnectionString(%q) = %q, %q, key ok %v; want %q, %q", tt.in, got.endpoint, got.authority, got.accessKey == key, tt.wantEndpoint, tt.wantAuthority)
		}
	}
	if fake, err := parseConnectionString(FakeConnectionString); err != nil || fake.endpoint != FakeEndpoint || fake.accessKey != FakeAccessKey {
		t.Errorf("FakeConnectionString parses to %q, key ok %v, %v", fake.endpoint, fake.accessKey == FakeAccessKey, err)
	}
}

func TestFixtureFileName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"TestSend", "TestSend.json"},
		{"TestSend/text message", "TestSend_text_message.json"},
		{"TestSend/a/b#01", "TestSend_a_b_01.json"},
		{"TestX/../../etc", "TestX_.._.._etc.json"},
		{"Test/ünï", "Test___n__.json"},
		{"..", "_...json"},
	}
	for _, tt := range tests {
		if got := fixtureFileName(tt.in); got != tt.want {
			t.Errorf("fixtureFileName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFakeJWT(t *testing.T) {
	tok, err := jwt.Parse(FakeJWT(), func(*jwt.Token) (any, error) { return []byte(FakeAccessKey), nil },
		jwt.WithValidMethods([]string{"HS256"}), jwt.WithTimeFunc(func() time.Time { return time.Unix(fakeJWTIssuedAt, 0) }))
	if err != nil {
		t.Fatalf("FakeJWT does not verify with FakeAccessKey: %v", err)
	}
	exp, err := tok.Claims.GetExpirationTime()
	if err != nil || exp.Unix() != fakeJWTExpiresAt {
		t.Errorf("exp = %v, %v; want %d", exp, err, fakeJWTExpiresAt)
	}
	iat, err := tok.Claims.GetIssuedAt()
	if err != nil || iat.Unix() != fakeJWTIssuedAt {
		t.Errorf("iat = %v, %v; want %d", iat, err, fakeJWTIssuedAt)
	}
	// The exact token, as minted before internal/auth signed it: playback
	// hands the same bytes to clients as it always did.
	const want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlhdCI6MTcwMDAwMDAwMCwibmJmIjoxNzAwMDAwMDAwfQ.xFf_NYzVoREx5Io1CQJX5TSOdEvM_5YyU9vglvcSLSE"
	if FakeJWT() != want {
		t.Errorf("FakeJWT() = %s, want %s", FakeJWT(), want)
	}
	first := FakeJWT()
	if makeFakeJWT() != first || !jwtPattern.MatchString(first) || jwtPattern.MatchString(SanitizedJWT) {
		t.Errorf("FakeJWT must be stable and match the JWT pattern; SanitizedJWT must not")
	}
}
