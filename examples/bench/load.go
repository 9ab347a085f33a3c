package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Request bodies of the load runs. The simulator answers each with its
// defaults: 25 input and 50 output tokens, 10 content chunks per stream.
const (
	chatBody   = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}]}`
	streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hello in five words."}]}`
)

// maxRate bounds the requests one closed-loop run records: its latency
// slices hold duration × maxRate entries and the run stops when they are full.
const maxRate = 200_000

// newClient returns a keep-alive client of a loopback address.
func newClient(addr string, conns int) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                     addr,
		NoDefaultUserAgentHeader: true,
		MaxConns:                 conns,
		MaxConnWaitTimeout:       10 * time.Second,
		ReadTimeout:              15 * time.Second,
		WriteTimeout:             15 * time.Second,
	}
}

// setRequest makes req a chat completion request to addr with the member
// key where the OpenAI SDK puts its API key.
func setRequest(req *fasthttp.Request, addr, body string) {
	req.Reset()
	req.Header.SetMethod(fasthttp.MethodPost)
	req.SetRequestURI("http://" + addr + "/v1/chat/completions")
	req.Header.Set("Authorization", "Bearer "+adminKey)
	req.Header.SetContentType("application/json")
	req.SetBodyString(body)
}

var doneEvent = []byte("data: [DONE]\n\n")

// readStream reads a streamed body to its end and returns when its first
// byte arrived (zero when none) and whether it ended with [DONE].
func readStream(resp *fasthttp.Response, buf []byte, t0 time.Time) (ttft time.Duration, done bool, err error) {
	r := resp.BodyStream()
	if r == nil {
		b := resp.Body()
		return time.Since(t0), bytes.HasSuffix(b, doneEvent), nil
	}
	var tail [len("data: [DONE]\n\n")]byte
	var tn int
	for {
		n, rerr := r.Read(buf)
		if n > 0 {
			if ttft == 0 {
				ttft = time.Since(t0)
			}
			// Keep the last bytes to check the end of the stream.
			if n >= len(tail) {
				tn = copy(tail[:], buf[n-len(tail):n])
			} else {
				keep := min(tn, len(tail)-n)
				copy(tail[:], tail[tn-keep:tn])
				copy(tail[keep:], buf[:n])
				tn = keep + n
			}
		}
		if rerr != nil {
			if rerr != io.EOF {
				err = rerr
			}
			break
		}
	}
	if cerr := resp.CloseBodyStream(); err == nil {
		err = cerr
	}
	return ttft, bytes.Equal(tail[:tn], doneEvent), err
}

// quantiles are latency percentiles in microseconds.
type quantiles struct {
	N                   int
	P50, P99, P999, Max float64
}

// quantilesOf sorts d (nanoseconds; negative entries are ignored) and
// returns its percentiles in microseconds.
func quantilesOf(d []int64) quantiles {
	s := make([]int64, 0, len(d))
	for _, v := range d {
		if v >= 0 {
			s = append(s, v)
		}
	}
	if len(s) == 0 {
		return quantiles{}
	}
	slices.Sort(s)
	at := func(q float64) float64 {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return float64(s[max(0, min(i, len(s)-1))]) / 1e3
	}
	return quantiles{N: len(s), P50: at(0.50), P99: at(0.99), P999: at(0.999), Max: float64(s[len(s)-1]) / 1e3}
}

// closedResult is one closed-loop case: a target, a kind, a concurrency.
type closedResult struct {
	Target string
	Kind   string // chat or stream
	Conc   int
	OK     int64
	Errors int64
	// Elapsed is the summed wall time of the rounds.
	Elapsed  time.Duration
	Lat      quantiles
	TTFT     quantiles // streams only
	FirstErr string
}

// RPS is the throughput of the case.
func (r *closedResult) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// closedRun accumulates the rounds of one case.
type closedRun struct {
	lat, ttft []int64
	n         atomic.Int64 // slots taken
	errors    atomic.Int64
	firstErr  atomic.Pointer[string]
	elapsed   time.Duration
}

func newClosedRun(d time.Duration) *closedRun {
	n := int(d.Seconds()*maxRate) + 1024
	return &closedRun{lat: make([]int64, n), ttft: make([]int64, n)}
}

func (cr *closedRun) fail(err error) {
	cr.errors.Add(1)
	s := err.Error()
	cr.firstErr.CompareAndSwap(nil, &s)
}

// round runs c clients against addr for d (or until the slices are full)
// and records every latency.
func (cr *closedRun) round(hc *fasthttp.HostClient, addr string, stream bool, c int, d time.Duration) {
	body := chatBody
	if stream {
		body = streamBody
	}
	start := time.Now()
	stopAt := start.Add(d)
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			setRequest(req, addr, body)
			buf := make([]byte, 4096)
			for time.Now().Before(stopAt) {
				i := cr.n.Add(1) - 1
				if int(i) >= len(cr.lat) {
					return
				}
				t0 := time.Now()
				resp.StreamBody = stream
				err := hc.Do(req, resp)
				var ttft time.Duration
				done := true
				if err == nil && stream {
					ttft, done, err = readStream(resp, buf, t0)
				}
				lat := time.Since(t0)
				switch {
				case err != nil:
					cr.fail(err)
				case resp.StatusCode() != fasthttp.StatusOK:
					cr.fail(fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body()))
				case !done:
					cr.fail(errors.New("stream did not end with data: [DONE]"))
				default:
					cr.lat[i], cr.ttft[i] = int64(lat), int64(ttft)
					continue
				}
				cr.lat[i], cr.ttft[i] = -1, -1
				if err != nil {
					time.Sleep(time.Millisecond) // a refused connection must not spin
				}
			}
		})
	}
	wg.Wait()
	cr.elapsed += time.Since(start)
}

func (cr *closedRun) result(target, kind string, c int) closedResult {
	n := min(int(cr.n.Load()), len(cr.lat))
	r := closedResult{Target: target, Kind: kind, Conc: c, Errors: cr.errors.Load(), Elapsed: cr.elapsed, Lat: quantilesOf(cr.lat[:n])}
	r.OK = int64(r.Lat.N)
	if kind == "stream" {
		r.TTFT = quantilesOf(cr.ttft[:n])
	}
	if p := cr.firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	return r
}

// target is one hop under test.
type target struct {
	Name string
	Addr string
	hc   *fasthttp.HostClient
}

// runClosedMatrix measures every target for each kind and concurrency.
// The targets of one case take turns in rounds (d/rounds each), so slow
// drifts of the machine's background load hit them alike.
func runClosedMatrix(targets []target, concs []int, d time.Duration, rounds int, logf func(string, ...any)) []closedResult {
	var out []closedResult
	for _, kind := range []string{"chat", "stream"} {
		for _, c := range concs {
			runs := make([]*closedRun, len(targets))
			for i := range runs {
				runs[i] = newClosedRun(d)
			}
			for range rounds {
				for i, t := range targets {
					runs[i].round(t.hc, t.Addr, kind == "stream", c, d/time.Duration(rounds))
				}
			}
			for i, t := range targets {
				r := runs[i].result(t.Name, kind, c)
				logf("closed %-10s %-6s c%-3d %8.0f req/s p50 %6.0fµs p99 %7.0fµs errors %d", t.Name, kind, c, r.RPS(), r.Lat.P50, r.Lat.P99, r.Errors)
				out = append(out, r)
			}
		}
	}
	return out
}

// warmUpRequests is how many requests of each kind warmUp sends per target.
const warmUpRequests = 50

// warmUp sends a few requests of each kind through every target so
// connections exist and the first request checks each answer.
func warmUp(targets []target) error {
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	for _, t := range targets {
		for _, stream := range []bool{false, true} {
			body := chatBody
			if stream {
				body = streamBody
			}
			setRequest(req, t.Addr, body)
			for i := 0; i < warmUpRequests; i++ {
				resp.StreamBody = false
				if err := t.hc.DoTimeout(req, resp, 10*time.Second); err != nil {
					return fmt.Errorf("cannot warm up %s: %w", t.Name, err)
				}
				if resp.StatusCode() != fasthttp.StatusOK {
					return fmt.Errorf("cannot warm up %s: status %d: %.300s", t.Name, resp.StatusCode(), resp.Body())
				}
				b := resp.Body()
				if !stream && !bytes.Contains(b, []byte(`"completion_tokens":50`)) {
					return fmt.Errorf("cannot warm up %s: no usage in the answer: %.300s", t.Name, b)
				}
				if stream && !bytes.HasSuffix(b, doneEvent) {
					return fmt.Errorf("cannot warm up %s: stream does not end with [DONE]: %.300s", t.Name, b)
				}
			}
		}
	}
	return nil
}

// openResult is one open-loop run at a fixed rate.
type openResult struct {
	Rate      float64
	Scheduled int
	OK        int
	Errors    int
	Unsent    int // not sent before the hard deadline
	Late      int // sent more than 1ms after their scheduled time
	Achieved  float64
	Lat       quantiles // from each request's scheduled send time
	PeakRSS   int64     // sampled every 100ms during the run; 0 when not sampled
	FirstErr  string
}

// runOpen sends chat completions to addr at rate req/s for d: request i is
// scheduled at t0 + i/rate and taken by one of workers goroutines; its
// latency is measured from its scheduled time, so a stall delays (and
// counts against) every request scheduled behind it: no coordinated
// omission. Requests not sent by d+hardExtra are counted as unsent.
// sample, when set, is called every 100ms during the run.
func runOpen(hc *fasthttp.HostClient, addr string, rate float64, d time.Duration, workers int, hardExtra time.Duration, sample func()) openResult {
	n := max(1, int(rate*d.Seconds()))
	lat := make([]int64, n)
	for i := range lat {
		lat[i] = -2 // not sent
	}
	interval := float64(time.Second) / rate
	t0 := time.Now().Add(5 * time.Millisecond)
	hard := t0.Add(d + hardExtra)
	sched := func(i int) time.Time { return t0.Add(time.Duration(float64(i) * interval)) }
	ch := make(chan int, n)
	var late, errs atomic.Int64
	var firstErr atomic.Pointer[string]
	var lastSend atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			setRequest(req, addr, chatBody)
			for i := range ch {
				s := sched(i)
				start := time.Now()
				if start.After(hard) {
					continue
				}
				if start.Sub(s) > time.Millisecond {
					late.Add(1)
				}
				lastSend.Store(int64(start.Sub(t0)))
				err := hc.DoDeadline(req, resp, hard)
				if err == nil && resp.StatusCode() != fasthttp.StatusOK {
					err = fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body())
				}
				if err != nil {
					errs.Add(1)
					e := err.Error()
					firstErr.CompareAndSwap(nil, &e)
					lat[i] = -1
					continue
				}
				lat[i] = int64(time.Since(s))
			}
		})
	}
	stopSampling := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		if sample == nil {
			return
		}
		tk := time.NewTicker(100 * time.Millisecond)
		defer tk.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-tk.C:
				sample()
			}
		}
	}()
	for i := 0; i < n; i++ {
		if w := time.Until(sched(i)); w > 0 {
			time.Sleep(w)
		}
		if time.Now().After(hard) {
			break
		}
		ch <- i
	}
	close(ch)
	wg.Wait()
	close(stopSampling)
	<-sampled
	r := openResult{Rate: rate, Scheduled: n, Late: int(late.Load()), Errors: int(errs.Load()), Lat: quantilesOf(lat)}
	r.OK = r.Lat.N
	for _, v := range lat {
		if v == -2 {
			r.Unsent++
		}
	}
	if p := firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	span := max(time.Duration(lastSend.Load()), d)
	r.Achieved = float64(r.OK+r.Errors) / span.Seconds()
	return r
}

// streamsResult is the concurrent-streams check.
type streamsResult struct {
	Streams   int
	Completed int
	Peak      int // streams open at once, as the clients saw it
	MinDur    time.Duration
	Dur       quantiles
	TTFT      quantiles
	Took      time.Duration
	FirstErr  string
}

// runStreams opens n streams through addr at once, each of chunks content
// events gap apart (so all are open together), and checks that every one
// ends with [DONE] within timeout.
func runStreams(addr string, n, chunks int, gap, timeout time.Duration) streamsResult {
	hc := newClient(addr, n+16)
	defer hc.CloseIdleConnections()
	r := streamsResult{Streams: n, MinDur: time.Duration(chunks) * gap}
	durs := make([]int64, n)
	ttfts := make([]int64, n)
	var open, peak, completed atomic.Int64
	var firstErr atomic.Pointer[string]
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			durs[i], ttfts[i] = -1, -1
			req := fasthttp.AcquireRequest()
			resp := fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			setRequest(req, addr, streamBody)
			req.Header.Set("X-Sim-Chunks", strconv.Itoa(chunks))
			req.Header.Set("X-Sim-Gap", gap.String())
			resp.StreamBody = true
			buf := make([]byte, 4096)
			<-start
			t0 := time.Now()
			err := hc.DoTimeout(req, resp, timeout)
			var ttft time.Duration
			done := false
			if err == nil {
				if resp.StatusCode() != fasthttp.StatusOK {
					err = fmt.Errorf("status %d", resp.StatusCode())
				} else {
					o := open.Add(1)
					for p := peak.Load(); o > p && !peak.CompareAndSwap(p, o); p = peak.Load() {
					}
					ttft, done, err = readStream(resp, buf, t0)
					open.Add(-1)
				}
			}
			if err == nil && !done {
				err = errors.New("stream did not end with data: [DONE]")
			}
			if err != nil {
				e := err.Error()
				firstErr.CompareAndSwap(nil, &e)
				return
			}
			completed.Add(1)
			durs[i], ttfts[i] = int64(time.Since(t0)), int64(ttft)
		})
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	r.Took = time.Since(t0)
	r.Completed = int(completed.Load())
	r.Peak = int(peak.Load())
	r.Dur = quantilesOf(durs)
	r.TTFT = quantilesOf(ttfts)
	if p := firstErr.Load(); p != nil {
		r.FirstErr = *p
	}
	return r
}
