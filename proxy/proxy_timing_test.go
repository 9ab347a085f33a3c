package proxy_test

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/examples/simulator/sim"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/proxy"
	"github.com/infermeter/infermeter/proxy/estimate"
)

// Keys of the hot-path harness: the member key the clients send and the
// provider key infermeter swaps it for.
const (
	benchMemberKey   = "im-bench-member-key"
	benchUpstreamKey = "sk-bench-upstream-key"
)

// Request bodies of the hot-path benchmarks. The simulator answers each with
// its defaults: 25 input and 50 output tokens, 10 content chunks per stream.
const (
	benchChatBody   = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}]}`
	benchStreamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}]}`
)

// benchEnv is the hot-path harness: the simulator, a bare fasthttp reverse
// proxy in front of it and infermeter's proxy in front of it, each served on
// its own loopback TCP listener. Everything it starts is stopped by the
// cleanups of the testing.TB it was built with.
type benchEnv struct {
	simAddr, bareAddr, proxyAddr string

	sim   *sim.Server
	proxy *proxy.Proxy
	meter *meter.Meter
}

// startBenchEnv starts the harness. infermeter runs as app.go wires it: a
// real account directory (one org, one member), a started in-memory meter (no
// Flush), the embedded price catalog and the token estimator.
func startBenchEnv(tb testing.TB) *benchEnv {
	tb.Helper()
	e := &benchEnv{sim: sim.New(sim.Options{MaxRecorded: -1})}
	simLn := listenLoopback(tb)
	e.simAddr = simLn.Addr().String()
	go func() { _ = e.sim.Serve(simLn) }()
	tb.Cleanup(func() { _ = e.sim.Close() })

	bare := newBareProxy(e.simAddr)
	bareSrv := &fasthttp.Server{
		Handler:               bare.handle,
		Name:                  "bare",
		NoDefaultServerHeader: true,
		NoDefaultContentType:  true,
		NoDefaultDate:         true,
		CloseOnShutdown:       true,
	}
	e.bareAddr = serveLoopback(tb, bareSrv)

	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme"})
	err := dir.PutMember(account.Member{
		ID: "alice", Org: "acme", Email: "alice@acme.example", Department: "research",
		BillingMode: account.OrgPays, Role: account.RoleMember, KeyHash: account.HashKey([]byte(benchMemberKey)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	catalog, err := pricing.Load("")
	if err != nil {
		tb.Fatal(err)
	}
	set := metrics.NewSet()
	e.meter = meter.New(meter.Options{Location: dir.Location, Metrics: set})
	e.proxy, err = proxy.New(proxy.Options{
		Upstreams: []proxy.UpstreamConfig{{Name: "openai", Dialect: "openai", BaseURL: "http://" + e.simAddr, APIKey: benchUpstreamKey}},
		Accounts:  dir,
		Meter:     e.meter,
		Catalog:   catalog,
		Estimator: estimate.New(),
		Metrics:   set,
	})
	if err != nil {
		tb.Fatal(err)
	}
	e.meter.Start()
	tb.Cleanup(func() {
		if err := e.meter.Close(); err != nil {
			tb.Error(err)
		}
	})
	e.proxyAddr = serveLoopback(tb, e.proxy.Server())
	return e
}

func listenLoopback(tb testing.TB) net.Listener {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return ln
}

// serveLoopback serves s on a new loopback listener until the cleanup and
// returns its address.
func serveLoopback(tb testing.TB, s *fasthttp.Server) string {
	tb.Helper()
	ln := listenLoopback(tb)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(ln)
	}()
	tb.Cleanup(func() {
		_ = s.Shutdown()
		<-done
	})
	return ln.Addr().String()
}

// bareProxy is the baseline: a reverse proxy with no auth, no routing and no
// metering, written the way infermeter forwards. A request whose body asks for
// a stream is answered from the upstream body stream (each upstream read is
// written and flushed to the client); any other is read whole into
// ctx.Response.
type bareProxy struct {
	hc     *fasthttp.HostClient
	bodies sync.Pool // *bareBody
}

func newBareProxy(addr string) *bareProxy {
	return &bareProxy{hc: &fasthttp.HostClient{
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 4096,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
		DisablePathNormalizing:   true,
	}}
}

func (bp *bareProxy) handle(ctx *fasthttp.RequestCtx) {
	req := &ctx.Request
	req.Header.Del("Connection")
	if !bytes.Contains(req.Body(), []byte(`"stream":true`)) {
		if err := bp.hc.Do(req, &ctx.Response); err != nil {
			ctx.Response.Reset()
			ctx.Error("upstream unreachable", fasthttp.StatusBadGateway)
		}
		return
	}
	resp := fasthttp.AcquireResponse()
	resp.StreamBody = true
	if err := bp.hc.Do(req, resp); err != nil {
		fasthttp.ReleaseResponse(resp)
		ctx.Error("upstream unreachable", fasthttp.StatusBadGateway)
		return
	}
	resp.Header.CopyTo(&ctx.Response.Header)
	b, _ := bp.bodies.Get().(*bareBody)
	if b == nil {
		b = &bareBody{bp: bp}
	}
	b.resp, b.r = resp, resp.BodyStream()
	if b.r == nil {
		b.r = bytes.NewReader(nil)
	}
	ctx.Response.SetBodyStream(b, -1)
}

// bareBody hands the upstream body stream to fasthttp's response writer and
// releases the upstream response when the server closes it.
type bareBody struct {
	bp   *bareProxy
	resp *fasthttp.Response
	r    io.Reader
}

func (b *bareBody) Read(p []byte) (int, error) { return b.r.Read(p) }

func (b *bareBody) Close() error {
	_ = b.resp.CloseBodyStream()
	fasthttp.ReleaseResponse(b.resp)
	b.resp, b.r = nil, nil
	b.bp.bodies.Put(b)
	return nil
}

// benchClient returns a keep-alive client of addr for the benchmark goroutines.
func benchClient(tb testing.TB, addr string) *fasthttp.HostClient {
	hc := &fasthttp.HostClient{
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 1024,
		ReadTimeout:              30 * time.Second,
		WriteTimeout:             30 * time.Second,
	}
	tb.Cleanup(hc.CloseIdleConnections)
	return hc
}

// setBenchRequest makes req the benchmark request to addr, with the member
// key where the OpenAI SDK puts its API key.
func setBenchRequest(req *fasthttp.Request, addr, body string) {
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + addr + "/v1/chat/completions")
	req.Header.Set("Authorization", "Bearer "+benchMemberKey)
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
}

// checkBenchResponse fails unless resp is what every target must answer:
// a chat completion with usage, or a whole stream without a usage chunk (the
// client did not ask for one; infermeter must drop the one it asked for).
func checkBenchResponse(tb testing.TB, stream bool, resp *fasthttp.Response) {
	tb.Helper()
	body := resp.Body()
	if resp.StatusCode() != fasthttp.StatusOK {
		tb.Fatalf("status %d: %s", resp.StatusCode(), body)
	}
	if !stream {
		if got := gjson.GetBytes(body, "usage.completion_tokens").Int(); got != sim.DefaultOutputTokens {
			tb.Fatalf("completion_tokens %d, want %d: %s", got, sim.DefaultOutputTokens, body)
		}
		return
	}
	if !bytes.HasSuffix(body, []byte("data: [DONE]\n\n")) || bytes.Count(body, []byte("data: ")) != sim.DefaultChunks+3 {
		tb.Fatalf("stream is not %d whole events: %s", sim.DefaultChunks+3, body)
	}
	if bytes.Contains(body, []byte(`"usage":{`)) {
		tb.Fatalf("stream carries a usage chunk the client did not ask for: %s", body)
	}
}

// metered returns the requests and output tokens aggregated by the meter.
func (e *benchEnv) metered() (requests, output int64) {
	e.meter.View(func(cells map[meter.CellKey]*meter.Cell) {
		for _, c := range cells {
			requests += c.Requests
			output += c.OutputTokens
		}
	})
	return requests, output
}

// waitMetered fails unless the meter aggregated want requests with the
// simulator's output tokens each; it waits at most 5s for the aggregator.
func (e *benchEnv) waitMetered(tb testing.TB, want int64) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		n, out := e.metered()
		if n == want && out == want*sim.DefaultOutputTokens {
			return
		}
		if n > want || time.Now().After(deadline) {
			tb.Fatalf("meter aggregated %d requests and %d output tokens, want %d and %d", n, out, want, want*sim.DefaultOutputTokens)
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkProxy measures one request through each hop: straight to the
// simulator (direct), through the bare reverse proxy (bare) and through
// infermeter (infermeter), for a chat completion (chat) and a streamed chat
// completion read whole (stream), from 1 and 64 concurrent clients.
//
// Client, proxy and simulator share the process: allocs/op and B/op count
// all three (compare the rows of one case to see what a hop costs), and with
// c1, ns/op is the latency of one request. With c64, ns/op is the inverse of
// the throughput; latency-us is the mean latency seen by a client.
//
//	go test -run '^$' -bench Proxy -benchtime 2000x ./proxy/
func BenchmarkProxy(b *testing.B) {
	e := startBenchEnv(b)
	var metered int64 // requests served by infermeter so far
	for _, target := range []struct{ name, addr string }{
		{"direct", e.simAddr},
		{"bare", e.bareAddr},
		{"infermeter", e.proxyAddr},
	} {
		b.Run(target.name, func(b *testing.B) {
			hc := benchClient(b, target.addr)
			for _, kind := range []struct {
				name   string
				body   string
				stream bool
			}{
				{"chat", benchChatBody, false},
				{"stream", benchStreamBody, true},
			} {
				req := fasthttp.AcquireRequest()
				resp := fasthttp.AcquireResponse()
				setBenchRequest(req, target.addr, kind.body)
				if err := hc.Do(req, resp); err != nil {
					b.Fatal(err)
				}
				checkBenchResponse(b, kind.stream, resp)
				fasthttp.ReleaseResponse(resp)
				fasthttp.ReleaseRequest(req)
				if target.addr == e.proxyAddr {
					metered++
				}
				for _, c := range []int{1, 64} {
					b.Run(kind.name+"/c"+strconv.Itoa(c), func(b *testing.B) {
						n := runBenchClients(b, hc, target.addr, kind.body, c)
						if target.addr == e.proxyAddr {
							metered += n
							e.waitMetered(b, metered)
						}
					})
				}
			}
		})
	}
}

// runBenchClients sends b.N requests from c goroutines (b.RunParallel when
// c > 1) and returns how many were sent. It reports the mean latency.
func runBenchClients(b *testing.B, hc *fasthttp.HostClient, addr, body string, c int) int64 {
	var sent, nanos atomic.Int64
	var failed atomic.Bool
	send := func(req *fasthttp.Request, resp *fasthttp.Response) bool {
		t := time.Now()
		err := hc.Do(req, resp)
		nanos.Add(int64(time.Since(t)))
		sent.Add(1)
		if err == nil && resp.StatusCode() == fasthttp.StatusOK {
			return true
		}
		if !failed.Swap(true) {
			b.Errorf("request failed: %v, status %d: %.200s", err, resp.StatusCode(), resp.Body())
		}
		return false
	}
	b.ReportAllocs()
	if c == 1 {
		req := fasthttp.AcquireRequest()
		resp := fasthttp.AcquireResponse()
		setBenchRequest(req, addr, body)
		b.ResetTimer()
		for b.Loop() {
			if !send(req, resp) {
				break
			}
		}
		b.StopTimer()
		fasthttp.ReleaseResponse(resp)
		fasthttp.ReleaseRequest(req)
	} else {
		b.SetParallelism((c + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			setBenchRequest(req, addr, body)
			for pb.Next() {
				if !send(req, resp) {
					return
				}
			}
		})
		b.StopTimer()
	}
	if n := sent.Load(); n > 0 {
		b.ReportMetric(float64(nanos.Load())/float64(n)/1e3, "latency-us")
	}
	return sent.Load()
}
