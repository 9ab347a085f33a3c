package proxy_test

import (
	"bytes"
	"io"
	"math"
	"math/bits"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
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
	for _, c := range e.meter.Cells() {
		requests += c.Requests
		output += c.OutputTokens
	}
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
// completion read to its end (stream), from 1 and 64 concurrent clients. Each
// case first checks one answer; every infermeter request must be metered.
//
// Client, proxy and simulator share the process: allocs/op, B/op and
// cpu-us/op count all three (compare the rows of one case to see what a hop
// costs). With c1, ns/op is the mean latency of one request; with c64 it is
// the inverse of the throughput. On a busy machine ns/op and p99-us swing
// with the load, while cpu-us/op, p50-us and the allocations stay put.
//
//	go test -run '^$' -bench Proxy -count 6 ./proxy/ | benchstat -
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
						n := runBenchClients(b, hc, target.addr, kind.body, kind.stream, c)
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
// c > 1) and returns how many were sent. Besides ns/op and the allocations it
// reports the median and 99th percentile latency seen by a client (p50-us,
// p99-us) and the CPU time of the whole process per request (cpu-us/op), the
// steadiest figures on a busy machine. A stream is read as a stream, event by
// event into a buffer of the client's own, as an SDK reads it.
func runBenchClients(b *testing.B, hc *fasthttp.HostClient, addr, body string, stream bool, c int) int64 {
	procs := runtime.GOMAXPROCS(0)
	par := (c + procs - 1) / procs
	if c == 1 {
		par, procs = 1, 1
	}
	// Everything a client goroutine needs is made before the timer starts.
	workers := make([]benchWorker, par*procs)
	for i := range workers {
		w := &workers[i]
		w.req, w.resp, w.buf = fasthttp.AcquireRequest(), fasthttp.AcquireResponse(), make([]byte, 4096)
		setBenchRequest(w.req, addr, body)
	}
	defer func() {
		for i := range workers {
			fasthttp.ReleaseRequest(workers[i].req)
			fasthttp.ReleaseResponse(workers[i].resp)
		}
	}()
	var (
		claimed atomic.Int64
		failed  atomic.Bool
	)
	client := func(next func() bool) {
		w := &workers[claimed.Add(1)-1]
		for next() {
			t := time.Now()
			w.resp.StreamBody = stream
			err := hc.Do(w.req, w.resp)
			if err == nil && stream {
				err = drainBodyStream(w.resp, w.buf)
			}
			w.lat.add(time.Since(t))
			if err != nil || w.resp.StatusCode() != fasthttp.StatusOK {
				if !failed.Swap(true) {
					b.Errorf("request failed: %v, status %d", err, w.resp.StatusCode())
				}
				return
			}
		}
	}
	b.ReportAllocs()
	cpu0, cpuOK := processCPU()
	if c == 1 {
		client(b.Loop)
	} else {
		b.SetParallelism(par)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) { client(pb.Next) })
	}
	b.StopTimer()
	cpu1, _ := processCPU()
	var lat latencyHist
	for i := range workers {
		lat.merge(&workers[i].lat)
	}
	n := lat.count()
	if n > 0 {
		b.ReportMetric(lat.quantile(0.5).Seconds()*1e6, "p50-us")
		b.ReportMetric(lat.quantile(0.99).Seconds()*1e6, "p99-us")
		// /proc counts in 10ms ticks: too short a run would report noise.
		if cpu := cpu1 - cpu0; cpuOK && cpu >= 100*time.Millisecond {
			b.ReportMetric(float64(cpu)/float64(n)/1e3, "cpu-us/op")
		}
	}
	return n
}

// benchWorker is the state of one client goroutine.
type benchWorker struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
	buf  []byte
	lat  latencyHist
}

// latencyHist counts latencies in buckets 1/16 of a power of two wide (at
// most 6.25% too low); add does not allocate.
type latencyHist [64 * 16]uint32

func (h *latencyHist) add(d time.Duration) { h[latencyBucket(d)]++ }

func latencyBucket(d time.Duration) int {
	n := uint64(max(d, 0))
	if n < 16 {
		return int(n)
	}
	e := bits.Len64(n) - 1 // 2^e <= n < 2^(e+1)
	return e*16 + int(n>>(e-4)&15)
}

// bucketLow is the smallest latency of bucket i.
func bucketLow(i int) time.Duration {
	if i < 16 {
		return time.Duration(i)
	}
	e, m := i/16, i%16
	return time.Duration(16+m) << (e - 4)
}

func (h *latencyHist) merge(o *latencyHist) {
	for i, n := range o {
		h[i] += n
	}
}

func (h *latencyHist) count() int64 {
	var n int64
	for _, c := range h {
		n += int64(c)
	}
	return n
}

// quantile returns the lower bound of the bucket holding quantile q.
func (h *latencyHist) quantile(q float64) time.Duration {
	rank := int64(math.Ceil(q * float64(h.count())))
	var seen int64
	for i, c := range h {
		seen += int64(c)
		if seen >= rank && c > 0 {
			return bucketLow(i)
		}
	}
	return 0
}

// processCPU returns the CPU time (user and system, every thread) the process
// used so far, read from /proc/self/stat; ok is false where there is none.
// Unlike ns/op it barely moves when other processes compete for the CPU.
func processCPU() (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0, false
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, false
	}
	// Fields after the command: state is the first, utime the 12th, stime
	// the 13th, in clock ticks (USER_HZ, 100 on Linux).
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	return time.Duration(ut+st) * (time.Second / 100), true
}

// drainBodyStream reads a streamed response body to its end into buf and
// closes it.
func drainBodyStream(resp *fasthttp.Response, buf []byte) error {
	r := resp.BodyStream()
	if r == nil {
		return nil
	}
	var err error
	for err == nil {
		_, err = r.Read(buf)
	}
	if cerr := resp.CloseBodyStream(); err == io.EOF {
		err = cerr
	}
	return err
}

func TestLatencyHist(t *testing.T) {
	var h latencyHist
	for i := 1; i <= 1000; i++ {
		h.add(time.Duration(i) * time.Microsecond)
	}
	f := func(q float64, want time.Duration) {
		t.Helper()
		got := h.quantile(q)
		if got > want || float64(got) < float64(want)*(1-1.0/16) {
			t.Errorf("quantile(%v) = %v, want %v less at most 1/16", q, got, want)
		}
	}
	f(0.5, 500*time.Microsecond)
	f(0.99, 990*time.Microsecond)
	f(1, 1000*time.Microsecond)
	if n := h.count(); n != 1000 {
		t.Errorf("count %d, want 1000", n)
	}
	// Buckets 16..63 are unused (n < 16 has a bucket each); the last ones
	// start beyond a Duration.
	for i := range 62 * 16 {
		if i >= 16 && i < 64 {
			continue
		}
		if latencyBucket(bucketLow(i)) != i {
			t.Errorf("bucket %d starts at %v, which falls in bucket %d", i, bucketLow(i), latencyBucket(bucketLow(i)))
		}
	}
}
