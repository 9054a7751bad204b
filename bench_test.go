package webpubsub

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gowebpubsub/webpubsub/internal/auth"
)

// sink is a server that accepts every send, as the service does.
func sink(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusAccepted)
	}))
	b.Cleanup(srv.Close)
	return srv
}

var benchBody = []byte(strings.Repeat("x", 1024))

// BenchmarkSendToAll sends a 1 KiB text message through the whole client:
// validation, URL building, per-request JWT signing, the azcore pipeline
// (retry, logging, telemetry, tracing policies) and the HTTP round trip.
func BenchmarkSendToAll(b *testing.B) {
	srv := sink(b)
	c, err := NewServiceClientFromConnectionString("Endpoint="+srv.URL+";AccessKey="+testKey, "hub", nil)
	if err != nil {
		b.Fatal(err)
	}
	msg := TextMessage(string(benchBody))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.SendToAll(ctx, msg, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRawHTTPSend is the physical limit of the above: the same request
// with plain net/http and a token signed once, before the loop.
func BenchmarkRawHTTPSend(b *testing.B) {
	srv := sink(b)
	u := srv.URL + "/api/hubs/hub/:send?api-version=2024-12-01"
	tok, err := auth.SignREST(testKey, u, fixedClock())
	if err != nil {
		b.Fatal(err)
	}
	client := srv.Client()
	b.ReportAllocs()
	for b.Loop() {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(benchBody))
		if err != nil {
			b.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "text/plain")
		req.Header.Set("Accept", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatal(resp.Status)
		}
	}
}
