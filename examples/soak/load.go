package main

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// params are the parameters of one soak run.
type params struct {
	Duration    time.Duration // load is scheduled for this long
	Interval    time.Duration // a report line every Interval
	SampleEvery time.Duration // RSS and goroutines read every SampleEvery
	Rate        float64       // requests scheduled per second (open loop)
	StreamShare float64       // share of streamed requests, 0..1
	Concurrency int           // requests in flight at most
	Keys        []string      // member keys, used in turn
	Seed        uint64
}

// requestTimeout bounds one request, streams included.
const requestTimeout = 30 * time.Second

// result is what a run did.
type result struct {
	Total   tally
	Samples []sample
	Elapsed time.Duration
	// SampleErr is the first error of the sampler, if any.
	SampleErr error
}

// drive sends an open-loop load to the proxy at addr (a loopback host:port):
// request i is scheduled at i/Rate and handed to p.Concurrency workers
// through a buffer of p.Concurrency; when that buffer is full at its time,
// it is shed and counted, so a stall cannot slow the schedule down. It stops
// scheduling at p.Duration (or when ctx ends) after at most Rate × Duration
// requests, and waits for those in flight. Meanwhile it calls sampleFn (its
// At is set here) every p.SampleEvery, writes a report line to w every
// p.Interval, and one at the end.
func drive(ctx context.Context, p params, addr string, sampleFn func() (sample, error), w io.Writer) *result {
	hc := &fasthttp.HostClient{
		Addr:                addr,
		Name:                "infermeter-soak",
		MaxConns:            p.Concurrency,
		MaxIdleConnDuration: 5 * time.Second,
		// LIFO reuses the most recent connection, so the extra ones opened
		// during a stall go idle and close instead of staying in rotation
		// (each open connection is a goroutine in the proxy).
		ConnPoolStrategy:         fasthttp.LIFO,
		ReadTimeout:              requestTimeout,
		WriteTimeout:             10 * time.Second,
		NoDefaultUserAgentHeader: true,
	}
	defer hc.CloseIdleConnections()
	var ok, failed, shed atomic.Int64
	var firstErr atomic.Pointer[string]
	total := int64(p.Rate * p.Duration.Seconds())
	jobs := make(chan int64, p.Concurrency)
	var wg sync.WaitGroup
	for wk := range p.Concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(p.Seed, uint64(wk)))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for i := range jobs {
				req.Reset()
				resp.Reset()
				buildRequest(req, addr, p.Keys[int(i)%len(p.Keys)], rng.Float64() < p.StreamShare, rng.IntN(100))
				err := hc.DoTimeout(req, resp, requestTimeout)
				if err == nil && resp.StatusCode() != fasthttp.StatusOK {
					err = fmt.Errorf("status %d: %.200s", resp.StatusCode(), resp.Body())
				}
				if err != nil {
					failed.Add(1)
					e := err.Error()
					firstErr.CompareAndSwap(nil, &e)
					continue
				}
				ok.Add(1)
			}
		})
	}

	start := time.Now()
	res := &result{}
	rep := &reporter{w: w}
	counts := func() tally { return tally{OK: ok.Load(), Failed: failed.Load(), Shed: shed.Load()} }
	var last sample
	take := func() {
		sm, err := sampleFn()
		if err != nil {
			if res.SampleErr == nil {
				res.SampleErr = err
			}
			return
		}
		sm.At = time.Since(start)
		last = sm
		res.Samples = append(res.Samples, last)
	}
	loadDone := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tk := time.NewTicker(p.SampleEvery)
		defer tk.Stop()
		next := p.Interval
		for {
			select {
			case <-loadDone:
				take()
				// The final line, unless the last interval's line already
				// gave the final totals.
				if t := counts(); t != rep.prev || rep.prevAt == 0 {
					rep.line(time.Since(start), t, last)
				}
				return
			case <-tk.C:
			}
			take()
			if at := time.Since(start); at >= next {
				rep.line(at, counts(), last)
				for next <= at {
					next += p.Interval
				}
			}
		}
	}()

	// The schedule: every tick, hand out the requests that are due.
	tick := time.NewTicker(2 * time.Millisecond)
	var sent int64
schedule:
	for sent < total {
		select {
		case <-ctx.Done():
			break schedule
		case <-tick.C:
		}
		el := time.Since(start)
		due := min(total, int64(el.Seconds()*p.Rate))
		for ; sent < due; sent++ {
			select {
			case jobs <- sent:
			default:
				shed.Add(1)
			}
		}
		if el >= p.Duration {
			break schedule
		}
	}
	tick.Stop()
	close(jobs)
	wg.Wait()
	close(loadDone)
	<-sampled
	res.Total = counts()
	res.Elapsed = time.Since(start)
	if e := firstErr.Load(); e != nil {
		fmt.Fprintf(w, "first failure: %s\n", *e)
	}
	return res
}

// Request bodies of the mix. The simulator answers each with its default
// token counts; streams carry its default 10 content chunks.
const (
	chatBody         = `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Say something about metering."}]}`
	chatStreamBody   = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"Say something about metering."}]}`
	chatUsageBody    = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Say something about metering."}]}`
	messagesBody     = `{"model":"claude-haiku-4-5","max_tokens":1024,"messages":[{"role":"user","content":"Write a haiku."}]}`
	messagesStream   = `{"model":"claude-haiku-4-5","max_tokens":1024,"stream":true,"messages":[{"role":"user","content":"Write a haiku."}]}`
	geminiBody       = `{"contents":[{"role":"user","parts":[{"text":"Name a fruit."}]}]}`
	geminiPath       = "/v1beta/models/gemini-2.5-flash:generateContent"
	geminiStreamPath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
)

// buildRequest fills req with one request of the mix, with key where the
// dialect's SDK puts it: r (0..99) picks the dialect: 50% OpenAI chat
// completions (half of its streams without include_usage, which the proxy
// adds upstream), 30% Anthropic messages, 20% Gemini generateContent.
func buildRequest(req *fasthttp.Request, addr, key string, stream bool, r int) {
	h := &req.Header
	h.SetMethod(fasthttp.MethodPost)
	h.SetContentType("application/json")
	var path, body string
	switch {
	case r < 50:
		h.Set("Authorization", "Bearer "+key)
		path, body = "/v1/chat/completions", chatBody
		if stream {
			body = chatStreamBody
			if r%2 == 0 {
				body = chatUsageBody
			}
		}
	case r < 80:
		h.Set("X-Api-Key", key)
		h.Set("Anthropic-Version", "2023-06-01")
		path, body = "/v1/messages", messagesBody
		if stream {
			body = messagesStream
		}
	default:
		h.Set("X-Goog-Api-Key", key)
		path, body = geminiPath, geminiBody
		if stream {
			path = geminiStreamPath
		}
	}
	req.SetRequestURI("http://" + addr + path)
	req.SetBodyString(body)
}
