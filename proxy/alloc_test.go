//go:build !race

package proxy_test

import (
	"bytes"
	"testing"

	"github.com/valyala/fasthttp"
)

// TestHandlerAllocs guards the hot path: p.Handler serving an OpenAI chat
// completion (auth, routing, request rewrite, upstream exchange, usage
// extraction, pricing, metrics and Record), non-streamed and streamed (read
// to the end as fasthttp's server would), with the simulator as upstream on
// loopback.
//
// testing.AllocsPerRun counts every allocation of the process, so the
// simulator answering on its own goroutines is counted too. The proxy's own
// share is what the handler allocates beyond the same upstream exchange made
// by a bare fasthttp client with the request exactly as the proxy forwards it.
func TestHandlerAllocs(t *testing.T) {
	e := startBenchEnv(t)
	const runs = 1000
	f := func(name, body string, stream bool, maxTotal, maxOwn float64) {
		t.Helper()
		var (
			ctx fasthttp.RequestCtx
			out bytes.Buffer
		)
		serve := func() {
			ctx.Request.Reset()
			ctx.Response.Reset()
			ctx.Request.Header.SetMethod(fasthttp.MethodPost)
			ctx.Request.SetRequestURI("/v1/chat/completions")
			ctx.Request.Header.SetHost(e.proxyAddr)
			ctx.Request.Header.Set("Authorization", "Bearer "+benchMemberKey)
			ctx.Request.Header.SetContentType("application/json")
			ctx.Request.SetBodyString(body)
			e.proxy.Handler(&ctx)
			out.Reset()
			// Reads a streamed body to its end and closes it, which records
			// the event and frees the proxy's state, as the server does.
			if err := ctx.Response.BodyWriteTo(&out); err != nil {
				t.Fatal(err)
			}
		}
		serve()
		ctx.Response.SetBody(out.Bytes())
		checkBenchResponse(t, stream, &ctx.Response)

		// The baseline: the upstream request the handler sent (ctx.Request
		// was rewritten in place), sent again by a bare client.
		hc := benchClient(t, e.simAddr)
		req := fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		resp := fasthttp.AcquireResponse()
		defer fasthttp.ReleaseResponse(resp)
		ctx.Request.CopyTo(req)
		exchange := func() {
			// The proxy streams every upstream body (a non-streamed one
			// is read whole unless it is too large to hold).
			resp.StreamBody = true
			if err := hc.Do(req, resp); err != nil {
				t.Fatal(err)
			}
			out.Reset()
			if err := resp.BodyWriteTo(&out); err != nil {
				t.Fatal(err)
			}
		}
		exchange()
		if resp.StatusCode() != fasthttp.StatusOK {
			t.Fatalf("%s: upstream status %d: %s", name, resp.StatusCode(), out.Bytes())
		}

		total := testing.AllocsPerRun(runs, serve)
		base := testing.AllocsPerRun(runs, exchange)
		own := total - base
		t.Logf("%s: allocations per request: handler %.0f, bare exchange %.0f, proxy's own %.0f", name, total, base, own)
		if total > maxTotal {
			t.Errorf("%s: p.Handler: %.0f allocations per request, want <= %.0f", name, total, maxTotal)
		}
		if own > maxOwn {
			t.Errorf("%s: p.Handler allocates %.0f times per request beyond the upstream exchange (%.0f vs %.0f), want <= %.0f",
				name, own, total, base, maxOwn)
		}
	}
	// Measured (go1.26, fasthttp v1.78): chat 10 in all: 6 in the
	// simulator's handler, 4 in fasthttp's client for a streamed response
	// body (transport.RoundTrip's clientStreamBody and its closures: the
	// proxy streams non-streamed bodies too, so that one too large to hold
	// passes through); the proxy 0. Stream 20 in all: 16 in the simulator
	// (its pipe and stream goroutine), the same 4 in fasthttp's client; the
	// proxy 0.
	f("chat", benchChatBody, false, 12, 0)
	f("stream", benchStreamBody, true, 24, 0)
	// Each case served runs+2 requests (AllocsPerRun warms up once), every
	// one of them metered.
	e.waitMetered(t, 2*(runs+2))
}
