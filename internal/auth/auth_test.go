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
	if tr.req.Header.Get("X-Webpubsub-Key-Capture") != "" {
		t.Error("the key capture header leaked")
	}
}
