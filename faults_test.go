package main

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/tidwall/gjson"
	"go.uber.org/goleak"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// Proxy's own answers when it cannot get one from the upstream "faults"
// (dialect openai).
const (
	proxyUnreachable = `{"error":{"message":"upstream unreachable (faults)","type":"server_error","param":null,"code":"upstream_unreachable"}}`
	proxyTimeout     = `{"error":{"message":"upstream timed out (faults)","type":"server_error","param":null,"code":"upstream_timeout"}}`
	proxyDead        = `{"error":{"message":"upstream unreachable (dead)","type":"server_error","param":null,"code":"upstream_unreachable"}}`
)

// faultCase is one row of the fault matrix.
type faultCase struct {
	name string
	// short sends the request through the app whose upstream_timeout is
	// shortTimeout.
	short bool
	path  string
	hdr   map[string]string
	body  string
	// status is what the client gets.
	status int
	// exact is the body the client gets; "" means the simulator's own
	// answer to the same request (sent to it directly), ids and times
	// aside.
	exact string
	// cut: the body ends abruptly; the bytes that did arrive are compared.
	cut bool
	// after is the path of the normal request sent after the fault; ""
	// means path (the same upstream).
	after string
	// In the request log: error_type, usage_source, input and output
	// tokens (-1: an estimate, positive).
	errorType, usageSource string
	in, out                int64
}

// shortTimeout is the upstream_timeout of the app that meets the hanging
// upstream.
const shortTimeout = 500 * time.Millisecond

// TestFaultMatrix sends requests through the real proxy to upstreams that
// misbehave in every way of issue #7 (the simulator's fault headers where
// it has them, faultServer for the rest). For each: the client gets the
// upstream's bytes unchanged (or the proxy's own error in the provider's
// shape), the request is logged once with the right error_type,
// usage_source and tokens, a normal request on the same client afterwards
// succeeds and is metered, and once everything is closed no goroutine is
// left.
func TestFaultMatrix(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	simSrv, simBase := startSim(t, sim.Options{})
	fs, faultBase := startFaultServer(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadBase := "http://" + ln.Addr().String()
	_ = ln.Close() // nothing listens there any more

	cfg := faultConfig(t, simBase, faultBase, deadBase, t.TempDir(), 30*time.Second)
	mainApp, proxyURL, admin := startApp(t, cfg, appOptions{})
	shortApp, shortProxy, shortAdmin := startApp(t, faultConfig(t, simBase, faultBase, deadBase, t.TempDir(), shortTimeout), appOptions{})

	tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 4}
	client := &http.Client{Transport: tr, Timeout: 60 * time.Second}

	chat := `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hello there"}]}`
	// Streams ask for usage themselves, so the proxy forwards every event.
	stream := `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello there"}]}`
	msgs := `{"model":"claude-haiku-4-5","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"hello there"}]}`
	resp := `{"model":"gpt-4o-mini","stream":true,"input":"hello there"}`
	oa := func(kv ...string) map[string]string {
		h := map[string]string{"Authorization": "Bearer " + keyAlice}
		for i := 0; i+1 < len(kv); i += 2 {
			h[kv[i]] = kv[i+1]
		}
		return h
	}
	an := func(kv ...string) map[string]string {
		h := oa(kv...)
		delete(h, "Authorization")
		h["X-Api-Key"] = keyAlice
		return h
	}
	fullStream := strings.Join(streamEvents(), "")
	ev := streamEvents()
	cases := []faultCase{
		{name: "connection refused", path: "/dead/v1/chat/completions", hdr: oa(), body: chat, after: "/faults/v1/chat/completions",
			status: 502, exact: proxyDead, errorType: "upstream_unreachable", usageSource: "none"},
		{name: "reset mid-response", path: "/faults/v1/chat/completions", hdr: oa("X-Fault", faultReset), body: chat,
			status: 502, exact: proxyUnreachable, errorType: "upstream_unreachable", usageSource: "none"},
		{name: "reset mid-stream", path: "/faults/v1/chat/completions", hdr: oa("X-Fault", faultResetStream), body: stream,
			status: 200, exact: ev[0] + ev[1], cut: true, errorType: "upstream_unreachable", usageSource: "estimated", in: -1, out: -1},
		{name: "stream cut (connection closed, no terminating chunk)", path: "/v1/chat/completions", hdr: oa("X-Sim-Cut", "3"), body: stream,
			status: 200, cut: true, errorType: "upstream_unreachable", usageSource: "estimated", in: -1, out: -1},
		{name: "timeout before headers", short: true, path: "/faults/v1/chat/completions", hdr: oa("X-Fault", faultHang), body: chat,
			status: 504, exact: proxyTimeout, errorType: "timeout", usageSource: "none"},
		{name: "slow-drip stream", path: "/faults/v1/chat/completions", hdr: oa("X-Fault", faultDrip), body: stream,
			status: 200, exact: fullStream, usageSource: "provider", in: faultIn, out: faultOut},
		{name: "stream ends without usage or [DONE]", path: "/faults/v1/chat/completions", hdr: oa("X-Fault", faultNoDone), body: stream,
			status: 200, exact: strings.Join(ev[:4], ""), usageSource: "estimated", in: -1, out: -1},
		{name: "anthropic error event after a 200", path: "/v1/messages", hdr: an("X-Sim-Stream-Error", "1"), body: msgs,
			status: 200, errorType: "model_error", usageSource: "estimated", in: -1, out: -1},
		{name: "openrouter error chunk after a 200", path: "/v1/chat/completions", hdr: oa("X-Sim-Stream-Error", "1"), body: stream,
			status: 200, errorType: "model_error", usageSource: "estimated", in: -1, out: -1},
		{name: "responses response.failed after a 200", path: "/v1/responses", hdr: oa("X-Sim-Stream-Error", "1"), body: resp,
			status: 200, errorType: "model_error", usageSource: "estimated", in: -1, out: -1},
		{name: "invalid JSON with 200", path: "/v1/chat/completions", hdr: oa("X-Sim-Invalid-JSON", "1"), body: chat,
			status: 200, errorType: "model_error", usageSource: "none"},
		{name: "HTML 502 page", path: "/v1/chat/completions", hdr: oa("X-Sim-HTML", "502"), body: chat,
			status: 502, errorType: "model_error", usageSource: "none"},
	}
	for _, enc := range []string{"gzip", "br", "zstd"} {
		cases = append(cases,
			faultCase{name: enc + " body", path: "/v1/chat/completions", hdr: oa("X-Sim-Encoding", enc, "X-Sim-Input-Tokens", "11", "X-Sim-Output-Tokens", "7"), body: chat,
				status: 200, usageSource: "provider", in: 11, out: 7},
			faultCase{name: enc + " stream", path: "/v1/chat/completions", hdr: oa("X-Sim-Encoding", enc, "X-Sim-Input-Tokens", "13", "X-Sim-Output-Tokens", "5"), body: stream,
				status: 200, usageSource: "provider", in: 13, out: 5})
	}

	var seq atomic.Int64
	tag := func(h map[string]string) (map[string]string, string) {
		id := "f" + strconv.FormatInt(seq.Add(1), 10)
		out := map[string]string{"X-Infermeter-Tags": "case=" + id}
		for k, v := range h {
			out[k] = v
		}
		return out, id
	}
	// normal sends a plain request to the upstream of path through the same
	// client and checks that it is answered and metered.
	normal := func(t *testing.T, purl, adm, path string) {
		t.Helper()
		h, id := tag(oa())
		st, body, err := doRequest(client, purl+strings.Replace(path, "/v1/responses", "/v1/chat/completions", 1), h, chat)
		if err != nil || st != 200 || !gjson.GetBytes(body, "usage").Exists() {
			t.Fatalf("a normal request after the fault got %d %q, %v", st, body, err)
		}
		l := taggedLog(t, adm, id)
		if l.Get("status").String() != "success" || l.Get("usage_source").String() != "provider" {
			t.Fatalf("a normal request after the fault was logged as %s", l.Raw)
		}
	}

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			purl, adm := proxyURL, admin
			if c.short {
				purl, adm = shortProxy, shortAdmin
			}
			h, id := tag(c.hdr)
			st, got, hdr, rerr := doRequestHeader(client, purl+c.path, h, c.body)
			if st != c.status {
				t.Fatalf("client got status %d, want %d: %q", st, c.status, got)
			}
			if c.cut && rerr == nil {
				t.Fatalf("the body ended cleanly, want it cut: %q", got)
			}
			if !c.cut && rerr != nil {
				t.Fatalf("cannot read the body: %s (got %q)", rerr, got)
			}
			want := c.exact
			if want == "" {
				// What the simulator sends for the same request, directly.
				dh := map[string]string{}
				for k, v := range c.hdr {
					if strings.HasPrefix(k, "X-Sim-") {
						dh[k] = v
					}
				}
				_, direct, dhdr, _ := doRequestHeader(client, simBase+c.path, dh, c.body)
				if a, b := dhdr.Get("Content-Encoding"), hdr.Get("Content-Encoding"); a != b {
					t.Fatalf("Content-Encoding %q, the simulator sent %q", b, a)
				}
				want = normalizeSim(decodeBody(t, dhdr.Get("Content-Encoding"), direct))
				got = []byte(normalizeSim(decodeBody(t, hdr.Get("Content-Encoding"), got)))
			}
			if string(got) != want {
				t.Fatalf("client got\n%q\nwant\n%q", got, want)
			}
			l := taggedLog(t, adm, id)
			checkLog(t, l, c.errorType, c.usageSource, c.in, c.out)
			after := c.after
			if after == "" {
				after = c.path
			}
			normal(t, purl, adm, after)
		})
	}

	t.Run("100 MB response streamed", func(t *testing.T) {
		digest := bigBodyDigest(bigBodySize)
		h, id := tag(oa("X-Fault", faultBig))
		var peak atomic.Uint64
		stop := make(chan struct{})
		var wg sync.WaitGroup
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				if ms.HeapAlloc > peak.Load() {
					peak.Store(ms.HeapAlloc)
				}
				select {
				case <-stop:
					return
				case <-time.After(2 * time.Millisecond):
				}
			}
		}()
		req := newRequest(t, proxyURL+"/faults/v1/chat/completions", h, chat)
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		ch := &countingHash{h: sha256.New()}
		_, err = io.Copy(ch, r.Body)
		_ = r.Body.Close()
		close(stop)
		wg.Wait()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if err != nil || r.StatusCode != 200 || ch.n != bigBodySize || !bytes.Equal(ch.h.Sum(nil), digest) {
			t.Fatalf("client got %d, %d bytes (want %d), same bytes %v, %v", r.StatusCode, ch.n, bigBodySize, bytes.Equal(ch.h.Sum(nil), digest), err)
		}
		growth := int64(peak.Load()) - int64(before.HeapAlloc)
		allocated := after.TotalAlloc - before.TotalAlloc
		t.Logf("100 MB through the proxy: peak heap growth %d MB, allocated %d MB", growth>>20, allocated>>20)
		if growth > 32<<20 {
			t.Fatalf("the heap grew by %d MB while 100 MB passed: the proxy buffers the body", growth>>20)
		}
		if allocated > 64<<20 {
			t.Fatalf("%d MB allocated while 100 MB passed: the proxy buffers the body", allocated>>20)
		}
		l := taggedLog(t, admin, id)
		checkLog(t, l, "", "provider", faultIn, faultOut)
		normal(t, proxyURL, admin, "/faults/v1/chat/completions")
	})

	t.Run("8 MB chunked response streamed", func(t *testing.T) {
		h, id := tag(oa("X-Fault", faultBigChunked))
		st, body, err := doRequest(client, proxyURL+"/faults/v1/chat/completions", h, chat)
		sum := sha256.Sum256(body)
		if err != nil || st != 200 || len(body) != chunkedBodySize || !bytes.Equal(sum[:], bigBodyDigest(chunkedBodySize)) {
			t.Fatalf("client got %d, %d bytes (want %d), %v", st, len(body), chunkedBodySize, err)
		}
		checkLog(t, taggedLog(t, admin, id), "", "provider", faultIn, faultOut)
		normal(t, proxyURL, admin, "/faults/v1/chat/completions")
	})

	t.Run("client disconnect mid-stream", func(t *testing.T) {
		h, id := tag(oa("X-Sim-Chunks", "400", "X-Sim-Gap", "25ms")) // 10 s of stream if nobody hangs up
		r, err := client.Do(newRequest(t, proxyURL+"/v1/chat/completions", h, stream))
		if err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(r.Body).ReadString('\n')
		if err != nil || !strings.HasPrefix(line, "data: ") || r.StatusCode != 200 {
			t.Fatalf("first line %d %q, %v", r.StatusCode, line, err)
		}
		_ = r.Body.Close() // hang up
		l := taggedLog(t, admin, id)
		checkLog(t, l, "client_closed", "estimated", -1, -1)
		if out := l.Get("output_tokens").Int(); out >= 300 {
			t.Fatalf("output estimate %d: the upstream stream was not stopped: %s", out, l.Raw)
		}
		normal(t, proxyURL, admin, "/v1/chat/completions")
	})

	// Everything closed, no goroutine of the proxy, the meter, the store,
	// the simulator or the fault server is left. Some of fasthttp's are not
	// ours to stop: the worker pool cleaner sleeps out its period after
	// Shutdown; the date updater, the default dialer's address cache cleaner
	// and the stackless workers of its compression code are started once
	// and live as long as the process; a HostClient's idle-connection
	// cleaner ends once its idle connections expire (MaxIdleConnDuration).
	tr.CloseIdleConnections()
	http.DefaultTransport.(*http.Transport).CloseIdleConnections()
	if err := mainApp.Close(); err != nil {
		t.Fatal(err)
	}
	if err := shortApp.Close(); err != nil {
		t.Fatal(err)
	}
	_ = simSrv.Close()
	fs.Close()
	opts := []goleak.Option{leaks,
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*workerPool).Start.func2"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.updateServerDate.func1"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*HostClient).connsCleaner"),
		goleak.IgnoreAnyFunction("github.com/valyala/fasthttp.(*TCPDialer).tcpAddrsClean"),
		goleak.IgnoreTopFunction("github.com/valyala/fasthttp/stackless.funcWorker")}
	// buntdb's background goroutine notices Close on its next 1 s tick:
	// give the goroutines a few seconds to end before the verdict.
	for i := 0; i < 50 && goleak.Find(opts...) != nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	goleak.VerifyNone(t, opts...)
}

// checkLog checks a request log: error_type, usage_source, status and
// tokens (-1: a positive estimate).
func checkLog(t *testing.T, l gjson.Result, errorType, source string, in, out int64) {
	t.Helper()
	status := "success"
	if errorType != "" {
		status = "error"
	}
	if l.Get("error_type").String() != errorType || l.Get("usage_source").String() != source || l.Get("status").String() != status {
		t.Fatalf("logged as %s, want error_type %q, usage_source %q, status %q", l.Raw, errorType, source, status)
	}
	for _, f := range []struct {
		field string
		want  int64
	}{{"input_tokens", in}, {"output_tokens", out}} {
		got := l.Get(f.field).Int()
		if (f.want >= 0 && got != f.want) || (f.want < 0 && got <= 0) {
			t.Fatalf("%s %d, want %d (-1: an estimate): %s", f.field, got, f.want, l.Raw)
		}
	}
}

func newRequest(t *testing.T, url string, headers map[string]string, body string) *http.Request {
	t.Helper()
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	return req
}

// doRequest sends a POST through client and reads the body: it returns what
// arrived and the error that ended reading.
func doRequest(client *http.Client, url string, headers map[string]string, body string) (int, []byte, error) {
	st, b, _, err := doRequestHeader(client, url, headers, body)
	return st, b, err
}

func doRequestHeader(client *http.Client, url string, headers map[string]string, body string) (int, []byte, http.Header, error) {
	req, err := http.NewRequest("POST", url, strings.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header, err
}

// decodeBody decodes a body sent with Content-Encoding ce.
func decodeBody(t *testing.T, ce string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch ce {
	case "":
		return b
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("cannot read gzip body: %s", err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatalf("cannot read zstd body: %s", err)
		}
		defer zr.Close()
		r = zr
	default:
		t.Fatalf("unexpected Content-Encoding %q", ce)
	}
	out, err := io.ReadAll(r)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("cannot decode %s body: %s", ce, err)
	}
	return out
}
