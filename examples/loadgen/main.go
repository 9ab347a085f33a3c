// Command loadgen sends a bounded mix of simulated LLM traffic (OpenAI chat,
// Responses and embeddings, Anthropic messages, Gemini generateContent;
// streamed and not) to an infermeter proxy in front of the simulator, for
// `make demo`. It only talks to loopback targets, stops by itself after
// -duration (at most 10m) or -requests, and prints a summary.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

const maxDuration = 10 * time.Minute

type config struct {
	target      string
	keys        []string
	duration    time.Duration
	requests    int
	rate        float64
	concurrency int
	streamShare float64
	seed        uint64
}

func main() {
	var c config
	var keys string
	flag.StringVar(&c.target, "target", "http://127.0.0.1:8080", "proxy base URL (loopback only)")
	flag.StringVar(&keys, "keys", "", "comma-separated member API keys (required)")
	flag.DurationVar(&c.duration, "duration", 60*time.Second, "how long to run (at most 10m)")
	flag.IntVar(&c.requests, "requests", 2000, "maximum number of requests")
	flag.Float64Var(&c.rate, "rate", 20, "requests per second")
	flag.IntVar(&c.concurrency, "concurrency", 8, "requests in flight at most")
	flag.Float64Var(&c.streamShare, "stream-share", 0.3, "share of streamed requests (0..1)")
	flag.Uint64Var(&c.seed, "seed", uint64(time.Now().UnixNano()), "random seed")
	flag.Parse()
	for k := range strings.SplitSeq(keys, ",") {
		if k = strings.TrimSpace(k); k != "" {
			c.keys = append(c.keys, k)
		}
	}
	if err := c.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	st := run(ctx, c)
	st.print(os.Stdout)
}

func (c *config) validate() error {
	if err := checkTarget(c.target); err != nil {
		return err
	}
	c.target = strings.TrimRight(c.target, "/")
	switch {
	case len(c.keys) == 0:
		return errors.New("missing -keys: give at least one member API key")
	case c.duration <= 0 || c.duration > maxDuration:
		return fmt.Errorf("invalid -duration %s: want more than 0 and at most %s", c.duration, maxDuration)
	case c.requests <= 0:
		return fmt.Errorf("invalid -requests %d: want more than 0", c.requests)
	case c.rate <= 0:
		return fmt.Errorf("invalid -rate %v: want more than 0", c.rate)
	case c.concurrency <= 0 || c.concurrency > 1000:
		return fmt.Errorf("invalid -concurrency %d: want 1..1000", c.concurrency)
	case c.streamShare < 0 || c.streamShare > 1:
		return fmt.Errorf("invalid -stream-share %v: want 0..1", c.streamShare)
	}
	return nil
}

// checkTarget accepts only http(s) URLs whose host is loopback
// (127.0.0.0/8, ::1 or localhost), so the generator cannot load a real
// service by mistake.
func checkTarget(target string) error {
	u, err := url.Parse(target)
	if err != nil {
		return fmt.Errorf("cannot parse -target %q: %w", target, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("invalid -target %q: want an http:// or https:// URL", target)
	}
	host := u.Hostname()
	if strings.EqualFold(host, "localhost") {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("refusing -target %q: host %q is not loopback (127.0.0.0/8, ::1 or localhost)", target, host)
}

type stats struct {
	start    time.Time
	elapsed  time.Duration
	sent     atomic.Int64
	failed   atomic.Int64 // transport errors
	mu       sync.Mutex
	statuses map[int]int
	kinds    map[string]int
	lastErr  string
}

func (s *stats) done(kind string, status int, err error) {
	s.sent.Add(1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.kinds[kind]++
	if err != nil {
		s.failed.Add(1)
		s.lastErr = err.Error()
		return
	}
	s.statuses[status]++
}

func (s *stats) print(w *os.File) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.sent.Load()
	fmt.Fprintf(w, "requests: %d in %s (%.1f/s)\n", n, s.elapsed.Round(time.Millisecond), float64(n)/max(s.elapsed.Seconds(), 1e-9))
	codes := make([]int, 0, len(s.statuses))
	for c := range s.statuses {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	fmt.Fprint(w, "statuses:")
	for _, c := range codes {
		fmt.Fprintf(w, " %d=%d", c, s.statuses[c])
	}
	fmt.Fprintln(w)
	kinds := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	fmt.Fprint(w, "kinds:")
	for _, k := range kinds {
		fmt.Fprintf(w, " %s=%d", k, s.kinds[k])
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "errors: %d", s.failed.Load())
	if s.lastErr != "" {
		fmt.Fprintf(w, " (last: %s)", s.lastErr)
	}
	fmt.Fprintln(w)
}

// run paces requests at c.rate, with at most c.concurrency in flight, until
// c.duration, c.requests or ctx ends.
func run(ctx context.Context, c config) *stats {
	st := &stats{start: time.Now(), statuses: map[int]int{}, kinds: map[string]int{}}
	ctx, cancel := context.WithTimeout(ctx, c.duration)
	defer cancel()
	client := &fasthttp.Client{
		Name:                "infermeter-loadgen",
		MaxConnsPerHost:     c.concurrency,
		ReadTimeout:         2 * time.Minute,
		WriteTimeout:        10 * time.Second,
		MaxIdleConnDuration: 30 * time.Second,
	}
	jobs := make(chan uint64)
	var wg sync.WaitGroup
	for w := range c.concurrency {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(c.seed, uint64(w)))
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			for range jobs {
				req.Reset()
				resp.Reset()
				kind := build(req, rng, &c)
				err := client.DoTimeout(req, resp, 2*time.Minute)
				st.done(kind, resp.StatusCode(), err)
			}
		})
	}
	tick := time.NewTicker(time.Duration(float64(time.Second) / c.rate))
	defer tick.Stop()
loop:
	for i := range c.requests {
		select {
		case <-ctx.Done():
			break loop
		case jobs <- uint64(i):
		}
		select {
		case <-ctx.Done():
			break loop
		case <-tick.C:
		}
	}
	close(jobs)
	wg.Wait()
	st.elapsed = time.Since(st.start)
	return st
}

var (
	openAIChatModels = []string{"gpt-4o-mini", "gpt-4o"}
	anthropicModels  = []string{"claude-sonnet-4-5", "claude-haiku-4-5"}
	geminiModels     = []string{"gemini-2.5-flash", "gemini-2.5-pro"}
	departments      = []string{"research", "sales", "support", "platform"}
	teams            = []string{"alpha", "beta", "gamma"}
	envs             = []string{"prod", "staging", "dev"}
)

func pick[T any](rng *rand.Rand, xs []T) T { return xs[rng.IntN(len(xs))] }

// build fills req with one random request and returns its kind.
func build(req *fasthttp.Request, rng *rand.Rand, c *config) string {
	key := pick(rng, c.keys)
	stream := rng.Float64() < c.streamShare
	h := &req.Header
	h.SetMethod(fasthttp.MethodPost)
	h.SetContentType("application/json")

	in := 10 + rng.Int64N(2000)
	out := 5 + rng.Int64N(800)
	h.Set("X-Sim-Input-Tokens", strconv.FormatInt(in, 10))
	h.Set("X-Sim-Output-Tokens", strconv.FormatInt(out, 10))
	if rng.IntN(10) < 3 {
		h.Set("X-Sim-Cached-Tokens", strconv.FormatInt(rng.Int64N(in+1), 10))
	}
	if rng.IntN(10) < 2 {
		h.Set("X-Sim-Reasoning-Tokens", strconv.FormatInt(rng.Int64N(out+1), 10))
	}
	if rng.IntN(100) < 3 {
		h.Set("X-Sim-Status", pick(rng, []string{"429", "500"}))
	}
	if rng.IntN(10) < 3 {
		h.Set("X-Infermeter-Department", pick(rng, departments))
	}
	if rng.IntN(10) < 3 {
		h.Set("X-Infermeter-Tags", "team="+pick(rng, teams)+",env="+pick(rng, envs))
	}

	var kind, path string
	var body []byte
	switch r := rng.IntN(100); {
	case r < 35:
		kind, path = "openai_chat", "/v1/chat/completions"
		h.Set("Authorization", "Bearer "+key)
		body = fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"user","content":"Say something about metering."}]`, pick(rng, openAIChatModels))
		if stream {
			body = append(body, `,"stream":true`...)
			if rng.IntN(2) == 0 {
				body = append(body, `,"stream_options":{"include_usage":true}`...)
			}
		}
		body = append(body, '}')
	case r < 45:
		kind, path = "openai_responses", "/v1/responses"
		h.Set("Authorization", "Bearer "+key)
		body = fmt.Appendf(nil, `{"model":%q,"input":"Summarise the quarter.","stream":%t}`, pick(rng, openAIChatModels), stream)
	case r < 55:
		kind, path = "openai_embeddings", "/v1/embeddings"
		h.Set("Authorization", "Bearer "+key)
		h.Del("X-Sim-Reasoning-Tokens")
		body = []byte(`{"model":"text-embedding-3-small","input":["first document","second document"]}`)
		stream = false
	case r < 80:
		kind, path = "anthropic_messages", "/v1/messages"
		h.Set("X-Api-Key", key)
		h.Set("Anthropic-Version", "2023-06-01")
		body = fmt.Appendf(nil, `{"model":%q,"max_tokens":1024,"messages":[{"role":"user","content":"Write a haiku."}],"stream":%t}`, pick(rng, anthropicModels), stream)
	default:
		kind = "gemini_generate"
		h.Set("X-Goog-Api-Key", key)
		model := pick(rng, geminiModels)
		if stream {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		} else {
			path = "/v1beta/models/" + model + ":generateContent"
		}
		body = []byte(`{"contents":[{"role":"user","parts":[{"text":"Name a fruit."}]}]}`)
	}
	if stream {
		kind += "_stream"
	}
	req.SetRequestURI(c.target + path)
	req.SetBody(body)
	return kind
}
