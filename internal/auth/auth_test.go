package auth

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/golang-jwt/jwt/v5"
)

func TestAudienceIsTheWireURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01", ""},
		{"https://h/p/api/hubs/hub/users/u%201%2Fx'%C3%BC(2)!*~/:send?api-version=2024-12-01&filter=%27g%27%20in%20groups", ""},
		{"http://[::1]:8082/api/hubs/Hub_1.a%2Cb%5Bc%5D%60d/:send?api-version=2024-12-01", ""},
		{"http://h/api/health", ""},
	}
	for _, tt := range tests {
		u, err := url.Parse(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		want := tt.want
		if want == "" {
			want = tt.in
		}
		if got := Audience(u); got != want {
			t.Errorf("Audience(%s) = %s", tt.in, got)
		}
	}
}

func TestSignRESTVector(t *testing.T) {
	// The derived vector of the REST spec (§e): same claims, verified
	// with the key; the lifetime is this project's 5 minutes.
	tok, err := SignREST("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789ABCDEFGH", "http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01", time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	const want = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJodHRwOi8vbG9jYWxob3N0OjgwODAvYXBpL2h1YnMvaHViLzpzZW5kP2FwaS12ZXJzaW9uPTIwMjQtMTItMDEiLCJleHAiOjE3MDAwMDAzMDAsImlhdCI6MTcwMDAwMDAwMH0.XwrOgNbGnFlkaSAgQKcDs7hHqo7VMPl6Yd2PEi-WNDM"
	if tok != want {
		t.Errorf("token differs from the spec vector:\n got %s\nwant %s", tok, want)
	}
}

func TestKeySourceFollowsUpdatesConcurrently(t *testing.T) {
	cred := azcore.NewKeyCredential("k1")
	ks := NewKeySource(cred)
	if ks.Key() != "k1" {
		t.Fatal("first key")
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				if k := ks.Key(); k != "k1" && k != "k2" {
					t.Errorf("key %q", k)
					return
				}
			}
		}()
	}
	cred.Update("k2")
	wg.Wait()
	if ks.Key() != "k2" {
		t.Fatal("update not seen")
	}
}

type capture struct{ req *http.Request }

func (c *capture) Do(r *http.Request) (*http.Response, error) {
	c.req = r
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func TestPoliciesSignThenRewrite(t *testing.T) {
	var tr capture
	pp, err := NewProxyPolicy("http://localhost:8080/prefix", "https://apim.example.com:8443/gw")
	if err != nil {
		t.Fatal(err)
	}
	pl := runtime.NewPipeline("test", "v0", runtime.PipelineOptions{PerRetry: []policy.Policy{
		NewKeyPolicy(NewKeySource(azcore.NewKeyCredential("key")), func() time.Time { return time.Unix(1700000000, 0) }), pp,
	}}, &policy.ClientOptions{Transport: &tr})
	const u = "http://localhost:8080/prefix/api/hubs/hub/users/u%2F1/:send?api-version=2024-12-01"
	req, err := runtime.NewRequest(context.Background(), http.MethodPost, u)
	if err != nil {
		t.Fatal(err)
	}
	req.Raw().Header.Set("Authorization", "stale")
	if _, err := pl.Do(req); err != nil {
		t.Fatal(err)
	}
	if got := Audience(tr.req.URL); got != "https://apim.example.com:8443/gw/api/hubs/hub/users/u%2F1/:send?api-version=2024-12-01" {
		t.Errorf("sent to %s", got)
	}
	if v := tr.req.Header.Values("Authorization"); len(v) != 1 {
		t.Fatalf("Authorization %d values", len(v))
	}
	claims := jwt.MapClaims{}
	if _, err := jwt.ParseWithClaims(tr.req.Header.Get("Authorization")[len("Bearer "):], claims, func(*jwt.Token) (any, error) { return []byte("key"), nil }, jwt.WithoutClaimsValidation()); err != nil {
		t.Fatal(err)
	}
	if claims["aud"] != u {
		t.Errorf("aud %v, want the service URL %s", claims["aud"], u)
	}
	if tr.req.Header.Get(keyHeader) != "" {
		t.Error("the key capture header leaked")
	}
}

// TestRESTTokenReuse walks a KeyPolicy through a sequence of signings: a
// token is sent again for the same URL and key during RESTTokenReuse
// after its iat, and a new one is signed for another URL, after the reuse
// window, when the clock goes back and when the key changes.
func TestRESTTokenReuse(t *testing.T) {
	const (
		a = "http://localhost:8080/api/hubs/hub/:send?api-version=2024-12-01"
		b = "http://localhost:8080/api/hubs/hub/groups/g/:send?api-version=2024-12-01"
	)
	t0 := time.Unix(1700000000, 0)
	reuse := RESTTokenReuse
	steps := []struct {
		name    string
		at      time.Duration // after t0
		url     string
		key     string
		wantIat time.Duration // after t0: the iat of the token sent
	}{
		{"first", 0, a, "k1", 0},
		{"same URL, within the window", reuse / 2, a, "k1", 0},
		{"last second of the window", reuse - time.Second, a, "k1", 0},
		{"window over", reuse, a, "k1", reuse},
		{"another URL", reuse + time.Second, b, "k1", reuse + time.Second},
		{"clock went back", time.Second, a, "k1", time.Second},
		{"key changed", 2 * time.Second, a, "k2", 2 * time.Second},
		{"changed back", 3 * time.Second, a, "k1", 3 * time.Second},
	}
	cred := azcore.NewKeyCredential("k1")
	var now time.Time
	p := NewKeyPolicy(NewKeySource(cred), func() time.Time { return now })
	for _, st := range steps {
		cred.Update(st.key)
		now = t0.Add(st.at)
		req, err := http.NewRequest(http.MethodPost, st.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Sign(req); err != nil {
			t.Fatal(err)
		}
		claims := jwt.MapClaims{}
		if _, err := jwt.ParseWithClaims(req.Header.Get("Authorization")[len("Bearer "):], claims, func(*jwt.Token) (any, error) { return []byte(st.key), nil }, jwt.WithoutClaimsValidation()); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		iat := t0.Add(st.wantIat).Unix()
		if claims["aud"] != st.url || claims["iat"] != float64(iat) || claims["exp"] != float64(iat+int64(RESTTokenLifetime/time.Second)) {
			t.Errorf("%s: claims %v, want aud %s, iat %d", st.name, claims, st.url, iat)
		}
	}
}

// TestRESTTokensConcurrently signs requests to several URLs from several
// goroutines (run with -race): every token names its own URL.
func TestRESTTokensConcurrently(t *testing.T) {
	p := NewKeyPolicy(NewKeySource(azcore.NewKeyCredential("key")), nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 100 {
				u := "https://h/api/hubs/hub/users/u" + string(rune('a'+(i+j)%5)) + "/:send?api-version=2024-12-01"
				req, err := http.NewRequest(http.MethodPost, u, nil)
				if err != nil {
					t.Error(err)
					return
				}
				if err := p.Sign(req); err != nil {
					t.Error(err)
					return
				}
				claims := jwt.MapClaims{}
				if _, err := jwt.ParseWithClaims(req.Header.Get("Authorization")[len("Bearer "):], claims, func(*jwt.Token) (any, error) { return []byte("key"), nil }); err != nil || claims["aud"] != u {
					t.Errorf("token for %s: aud %v, %v", u, claims["aud"], err)
					return
				}
			}
		})
	}
	wg.Wait()
}
