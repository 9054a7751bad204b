package webpubsub

import (
	"bytes"
	"context"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	azlog "github.com/Azure/azure-sdk-for-go/sdk/azcore/log"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/tracing"
)

// The send benchmarks come in pairs: the SDK and the physical limit, the
// same request (URL, headers, body) through plain net/http with a token
// signed once. Each reports, besides ns/op, cpu-ns/op: the CPU time of the
// whole process (client and the in-process sink) per operation, so that
// work hidden in other goroutines counts too.

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

// inFlight is the concurrency of the Parallel16 benchmarks.
const inFlight = 16

// pooledTransport is the transport both sides of a Parallel16 pair use: it
// keeps a connection per request in flight, so that neither side measures
// connection churn.
func pooledTransport(b *testing.B) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = inFlight
	b.Cleanup(t.CloseIdleConnections)
	return &http.Client{Transport: t}
}

// run calls op b.N times from workers goroutines (1: the benchmark's own)
// and reports allocations and cpu-ns/op.
func run(b *testing.B, workers int, op func() error) {
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	b.ResetTimer()
	if workers == 1 {
		for range b.N {
			if err := op(); err != nil {
				b.Fatal(err)
			}
		}
	} else {
		var next atomic.Int64
		var failed atomic.Pointer[error]
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) && failed.Load() == nil {
					if err := op(); err != nil {
						failed.CompareAndSwap(nil, &err)
					}
				}
			})
		}
		wg.Wait()
		if err := failed.Load(); err != nil {
			b.Fatal(*err)
		}
	}
	b.StopTimer()
	if cpu1, ok := processCPU(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
}

func benchClient(b *testing.B, srv *httptest.Server, opts *ClientOptions) *ServiceClient {
	c, err := NewServiceClientFromConnectionString("Endpoint="+srv.URL+";AccessKey="+testKey, "hub", opts)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func sendToAll(c *ServiceClient) func() error {
	msg := TextMessage(string(benchBody))
	ctx := context.Background()
	return func() error {
		_, err := c.SendToAll(ctx, msg, nil)
		return err
	}
}

// BenchmarkSendToAll sends a 1 KiB text message through the whole client:
// validation, URL building, per-request JWT signing, the azcore pipeline
// (retry, logging, telemetry, tracing policies) and the HTTP round trip,
// with the default transport.
func BenchmarkSendToAll(b *testing.B) {
	run(b, 1, sendToAll(benchClient(b, sink(b), nil)))
}

// BenchmarkSendToAllParallel16 is BenchmarkSendToAll with 16 sends in
// flight over pooledTransport.
func BenchmarkSendToAllParallel16(b *testing.B) {
	opts := &ClientOptions{}
	opts.Transport = pooledTransport(b)
	run(b, inFlight, sendToAll(benchClient(b, sink(b), opts)))
}

// BenchmarkSendToAllFeatures is BenchmarkSendToAll with azcore's optional
// features switched on, one sub-benchmark each, so that each one's cost is
// visible: a log listener (every event, bodies not included), a tracer
// whose spans do nothing, and both.
func BenchmarkSendToAllFeatures(b *testing.B) {
	var logged atomic.Int64
	listener := func(azlog.Event, string) { logged.Add(1) }
	var spans atomic.Int64
	provider := tracing.NewProvider(func(string, string) tracing.Tracer {
		return tracing.NewTracer(func(ctx context.Context, _ string, _ *tracing.SpanOptions) (context.Context, tracing.Span) {
			spans.Add(1)
			return ctx, tracing.Span{}
		}, nil)
	}, nil)
	for _, bc := range []struct {
		name       string
		log, trace bool
	}{{"log", true, false}, {"trace", false, true}, {"log+trace", true, true}} {
		b.Run(bc.name, func(b *testing.B) {
			opts := &ClientOptions{}
			if bc.trace {
				opts.TracingProvider = provider
			}
			if bc.log {
				azlog.SetListener(listener)
				b.Cleanup(func() { azlog.SetListener(nil) })
			}
			logged.Store(0)
			spans.Store(0)
			run(b, 1, sendToAll(benchClient(b, sink(b), opts)))
			if bc.log && logged.Load() == 0 || bc.trace && spans.Load() == 0 {
				b.Fatalf("%d log lines, %d spans", logged.Load(), spans.Load())
			}
		})
	}
}

// sdkRequest is the URL and the headers of the request that SendToAll
// hands to its transport for srv, captured from one real call at the
// transport, before net/http adds headers of its own (Accept-Encoding),
// so that the raw request leaves the same work to net/http.
func sdkRequest(b *testing.B, srv *httptest.Server) (string, http.Header) {
	var got *http.Request
	opts := &ClientOptions{}
	opts.Transport = transportFunc(func(r *http.Request) (*http.Response, error) {
		got = r.Clone(r.Context())
		return srv.Client().Do(r)
	})
	if err := sendToAll(benchClient(b, srv, opts))(); err != nil {
		b.Fatal(err)
	}
	return got.URL.String(), got.Header
}

// rawSend is the physical limit of a send: the request SendToAll makes
// (same URL, same headers, same body), made with plain net/http and a
// token signed once, before the loop.
func rawSend(b *testing.B, srv *httptest.Server, client *http.Client) func() error {
	u, header := sdkRequest(b, srv)
	return func() error {
		req, err := http.NewRequest(http.MethodPost, u, bytes.NewReader(benchBody))
		if err != nil {
			return err
		}
		req.Header = header.Clone()
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			return &httpStatusError{resp.Status}
		}
		return nil
	}
}

type httpStatusError struct{ status string }

func (e *httpStatusError) Error() string { return "status " + e.status }

// BenchmarkRawHTTPSend is the physical limit of BenchmarkSendToAll.
func BenchmarkRawHTTPSend(b *testing.B) {
	srv := sink(b)
	run(b, 1, rawSend(b, srv, srv.Client()))
}

// BenchmarkRawHTTPSendParallel16 is the physical limit of
// BenchmarkSendToAllParallel16.
func BenchmarkRawHTTPSendParallel16(b *testing.B) {
	run(b, inFlight, rawSend(b, sink(b), pooledTransport(b)))
}

// BenchmarkAzcorePipelineFloor is the part of BenchmarkSendToAll that
// azcore's default pipeline costs by itself: the same request (URL,
// headers, in-memory body through tryPolicy, token signed once, the body
// download skipped and the retry status codes given, as SendToAll does)
// through azcore.NewClient's pipeline with no policy of this package's
// other than the body swap. SendToAll over this is this package's own
// cost; this over BenchmarkRawHTTPSend is azcore's.
func BenchmarkAzcorePipelineFloor(b *testing.B) {
	srv := sink(b)
	u, header := sdkRequest(b, srv)
	var opts policy.ClientOptions
	opts.Retry.StatusCodes = defaultRetryStatusCodes()
	cl, err := azcore.NewClient(moduleName, moduleVersion, runtime.PipelineOptions{PerRetry: []policy.Policy{&tryPolicy{}}}, &opts)
	if err != nil {
		b.Fatal(err)
	}
	pl := cl.Pipeline()
	ctx := context.Background()
	run(b, 1, func() error {
		req, err := runtime.NewRequest(ctx, http.MethodPost, u)
		if err != nil {
			return err
		}
		maps.Copy(req.Raw().Header, header)
		if err := setBody(req, benchBody, header.Get("Content-Type")); err != nil {
			return err
		}
		runtime.SkipBodyDownload(req)
		resp, err := pl.Do(req)
		if err != nil {
			return err
		}
		discardBody(resp)
		return nil
	})
}
