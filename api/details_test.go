package api_test

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/api"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// Keys of the details tests.
const (
	detKeyAlice = "det-alice" // acme admin
	detKeyBob   = "det-bob"   // acme member
	detKeyEve   = "det-eve"   // globex admin
)

// detBase is the ID (and time) of the first details test event:
// 2026-11-27T04:05:14.5Z.
const detBase = uint64(1795752314500000000)

// detCatalog is the embedded catalog, loaded once.
var detCatalog = func() *pricing.Catalog {
	c, err := pricing.Load("")
	if err != nil {
		panic("BUG: the embedded catalog does not load: " + err.Error())
	}
	return c
}()

// detPrice looks prices up as the proxy does for upstreams named after
// their dialect.
func detPrice(upstream, model string) (*pricing.Price, bool) {
	return detCatalog.Lookup(upstream, upstream, strings.TrimPrefix(model, upstream+"/"))
}

// detAPI returns an API over a store holding evs.
func detAPI(t *testing.T, evs ...meter.Event) *api.API {
	t.Helper()
	dir := account.New()
	dir.PutOrg(account.Org{ID: "acme", Name: "Acme", Location: time.UTC})
	dir.PutOrg(account.Org{ID: "globex", Name: "Globex", Location: time.UTC})
	for _, m := range []account.Member{
		{ID: "alice", Org: "acme", Department: "research", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(detKeyAlice))},
		{ID: "bob", Org: "acme", Department: "platform", BillingMode: account.MemberPays, Role: account.RoleMember, KeyHash: account.HashKey([]byte(detKeyBob))},
		{ID: "eve", Org: "globex", Department: "ops", BillingMode: account.OrgPays, Role: account.RoleAdmin, KeyHash: account.HashKey([]byte(detKeyEve))},
	} {
		if err := dir.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	if err := st.Apply(nil, evs); err != nil {
		t.Fatal(err)
	}
	return api.New(api.Options{Accounts: dir, Store: st, Catalog: detCatalog, Price: detPrice})
}

// detGet serves GET path with key and returns the status and the body.
func detGet(t *testing.T, a *api.API, key, path string) (int, string) {
	t.Helper()
	var ctx fasthttp.RequestCtx
	ctx.Request.Header.SetMethod(fasthttp.MethodGet)
	ctx.Request.SetRequestURI(path)
	ctx.Request.Header.Set("Authorization", "Bearer "+key)
	a.Handler(&ctx)
	return ctx.Response.StatusCode(), string(ctx.Response.Body())
}

func detPath(id uint64) string {
	return "/api/account/request-logs/" + strconv.FormatUint(id, 10) + "/details"
}

// detEvent returns a successful event of alice on model.
func detEvent(id uint64, user, model string, u usage.Usage) meter.Event {
	upstream, _, _ := strings.Cut(model, "/")
	e := meter.Event{
		ID: id, Time: int64(id), Org: "acme", User: user, Department: "research", BillingMode: "org_pays",
		Upstream: upstream, Model: model, Category: usage.CategoryChatCompletions, Status: 200,
		Usage: u, LatencyMicros: 3_250, TTFTMicros: 1_500, RequestBytes: 120, ResponseBytes: 480,
	}
	e.Usage.Source = usage.SourceProvider
	if p, ok := detPrice(upstream, model); ok {
		e.CostNano, e.Priced = p.Cost(&e.Usage), true
	} else if u.ProviderCostNano.OK {
		e.CostNano, e.Priced = u.ProviderCostNano.N, true
	}
	return e
}

func TestRequestLogDetailsCaptured(t *testing.T) {
	e := detEvent(detBase, "alice", "openai/gpt-4o-mini", usage.Usage{
		Input: usage.Of(1000), CacheRead: usage.Of(400), CacheWrite: usage.Of(0), Output: usage.Of(200), Reasoning: usage.Of(0),
	})
	e.ProviderRequestID = "req_abc123"
	e.Tags = "env=prod"
	e.Capture = &meter.Capture{
		RequestHeaders: []meter.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Infermeter-Tags", Value: "env=prod"}},
		ResponseHeaders: []meter.Header{
			{Name: "Content-Type", Value: "application/json"}, {Name: "Vary", Value: "Origin"}, {Name: "Vary", Value: "Accept"},
		},
		RequestBody:  `{"model":"gpt-4o-mini","api_key":"[REDACTED]"}`,
		ResponseBody: `{"id":"chatcmpl-1"}`,
	}
	a := detAPI(t, e)
	st, body := detGet(t, a, detKeyAlice, detPath(e.ID))
	want := `{"success":true,"request":{"id":"1795752314500000000","timestamp":"2026-11-27T04:05:14.5Z",
		"user_id":"alice","model":"openai/gpt-4o-mini","status":"success","http_status":200,"error_type":"",
		"input_tokens":1000,"output_tokens":200,"cached_tokens":400,"cache_write_tokens":0,"reasoning_tokens":0,
		"cost_usd":0.00024,"priced":true,"latency_ms":3,"ttft_ms":1,"stream":false,"category":"chat_completions",
		"department":"research","billing_mode":"org_pays","tags":"env=prod","usage_source":"provider","connection_id":"openai",
		"provider_request_id":"req_abc123","upstream":"openai","request_bytes":120,"response_bytes":480,
		"usage":{"input_tokens":1000,"cached_tokens":400,"cache_write_tokens":0,"cache_write_1h_tokens":null,
			"input_audio_tokens":null,"input_image_tokens":null,"output_tokens":200,"reasoning_tokens":0,
			"output_audio_tokens":null,"output_image_tokens":null,"audio_seconds":null,"web_search_requests":null,
			"provider_cost_usd":null,"service_tier":"default","source":"provider"},
		"price":{"priced":true,"catalog_key":"gpt-4o-mini","parts":[
			{"name":"input","tokens":600,"rate_usd_per_million":0.15,"cost_usd":0.00009},
			{"name":"cache_read","tokens":400,"rate_usd_per_million":0.075,"cost_usd":0.00003},
			{"name":"output","tokens":200,"rate_usd_per_million":0.6,"cost_usd":0.00012}],"total_usd":0.00024},
		"timings":{"latency_ms":3,"ttft_ms":1,"latency_us":3250,"ttft_us":1500},
		"captured":true,
		"headers":{"request":{"Content-Type":"application/json","X-Infermeter-Tags":"env=prod"},
			"response":{"Content-Type":"application/json","Vary":"Origin, Accept"}},
		"bodies":{"request":"{\"model\":\"gpt-4o-mini\",\"api_key\":\"[REDACTED]\"}","response":"{\"id\":\"chatcmpl-1\"}",
			"truncated":false,"request_truncated":false,"response_truncated":false}}}`
	if st != fasthttp.StatusOK || body != detCompact(want) {
		t.Fatalf("status %d\n got %s\nwant %s", st, body, detCompact(want))
	}
}

// detCompact removes the layout whitespace of a JSON literal (outside
// strings; the test strings hold no whitespace that matters).
func detCompact(s string) string {
	var b strings.Builder
	in := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' && (i == 0 || s[i-1] != '\\'):
			in = !in
		case !in && (c == ' ' || c == '\n' || c == '\t'):
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func TestRequestLogDetailsVisibility(t *testing.T) {
	alice := detEvent(detBase, "alice", "openai/gpt-4o-mini", usage.Usage{Input: usage.Of(10), Output: usage.Of(5)})
	bob := detEvent(detBase+1e6, "bob", "openai/my-finetune-xyz", usage.Usage{Input: usage.Of(10), Output: usage.Of(5)})
	eve := detEvent(detBase+2e6, "eve", "openai/gpt-4o-mini", usage.Usage{Input: usage.Of(10)})
	eve.Org = "globex"
	a := detAPI(t, alice, bob, eve)
	f := func(key, path string, wantStatus int, wantCode string) gjson.Result {
		t.Helper()
		st, body := detGet(t, a, key, path)
		r := gjson.Parse(body)
		if st != wantStatus || r.Get("success").Bool() != (wantStatus == 200) || r.Get("error.code").String() != wantCode {
			t.Fatalf("GET %s as %s: %d %s; want %d %q", path, key, st, body, wantStatus, wantCode)
		}
		return r
	}
	// An admin sees the org's requests, a member only its own.
	f(detKeyAlice, detPath(alice.ID), 200, "")
	f(detKeyAlice, detPath(bob.ID), 200, "")
	f(detKeyBob, detPath(bob.ID), 200, "")
	f(detKeyBob, detPath(alice.ID), 404, "not_found")
	// Another org's request is as unknown as a missing one.
	f(detKeyAlice, detPath(eve.ID), 404, "not_found")
	f(detKeyEve, detPath(alice.ID), 404, "not_found")
	f(detKeyEve, detPath(eve.ID), 200, "")
	f(detKeyAlice, detPath(alice.ID+7), 404, "not_found")
	// A bad id names the parameter.
	r := f(detKeyAlice, "/api/account/request-logs/abc/details", 400, "invalid_parameter")
	if msg := r.Get("error.message").String(); !strings.HasPrefix(msg, "id: ") {
		t.Fatalf("bad id message %q", msg)
	}
	f(detKeyAlice, "/api/account/request-logs/-1/details", 400, "invalid_parameter")
	if st, _ := detGet(t, a, "nope", detPath(alice.ID)); st != 401 {
		t.Fatalf("bad key: %d", st)
	}

	// Not captured, not priced: no headers, no bodies, no parts.
	r = f(detKeyBob, detPath(bob.ID), 200, "")
	d := r.Get("request")
	if d.Get("captured").Bool() || d.Get("headers").Exists() || d.Get("bodies").Exists() {
		t.Fatalf("uncaptured details: %s", d.Raw)
	}
	if p := d.Get("price").Raw; p != `{"priced":false}` {
		t.Fatalf("unpriced price %s", p)
	}
	if d.Get("provider_request_id").String() != "" || d.Get("usage.cached_tokens").Type != gjson.Null {
		t.Fatalf("details %s", d.Raw)
	}
}

// TestRequestLogDetailsPartsSum checks that the parts add up to the cost the
// proxy records, for models and usages that use every kind of rate.
func TestRequestLogDetailsPartsSum(t *testing.T) {
	evs := []meter.Event{
		detEvent(detBase, "alice", "openai/gpt-4o-mini", usage.Usage{Input: usage.Of(1_234_567), CacheRead: usage.Of(1_000_001), Output: usage.Of(333)}),
		detEvent(detBase+1, "alice", "anthropic/claude-3-5-sonnet-20241022", usage.Usage{
			Input: usage.Of(5003), CacheRead: usage.Of(1001), CacheWrite: usage.Of(2001), CacheWrite1h: usage.Of(999), Output: usage.Of(77),
		}),
		detEvent(detBase+2, "alice", "gemini/gemini-2.5-pro", usage.Usage{Input: usage.Of(250_001), Output: usage.Of(1234), Reasoning: usage.Of(1000)}),
		detEvent(detBase+3, "alice", "openai/gpt-4o-audio-preview", usage.Usage{
			Input: usage.Of(700), InputAudio: usage.Of(300), Output: usage.Of(90), OutputAudio: usage.Of(45),
		}),
		detEvent(detBase+4, "alice", "openai/whisper-1", usage.Usage{AudioMillis: usage.Of(7_001)}),
		detEvent(detBase+5, "alice", "openai/gpt-4o", usage.Usage{Input: usage.Of(17), Output: usage.Of(3), Tier: usage.TierPriority}),
		detEvent(detBase+6, "alice", "openai/text-embedding-3-small", usage.Usage{Input: usage.Of(12345), Output: usage.Of(0)}),
		detEvent(detBase+7, "alice", "openrouter/some-model", usage.Usage{Input: usage.Of(10), ProviderCostNano: usage.Of(1_234_567)}),
	}
	a := detAPI(t, evs...)
	for _, e := range evs {
		_, body := detGet(t, a, detKeyAlice, detPath(e.ID))
		d := gjson.Get(body, "request")
		if !e.Priced {
			t.Fatalf("%s: the catalog does not price it (test setup)", e.Model)
		}
		// Sum the parts exactly, in pico-dollars.
		var sum int64
		parts := d.Get("price.parts").Array()
		for _, p := range parts {
			sum += detPico(t, p.Get("cost_usd").Raw)
		}
		if len(parts) == 0 || (sum+500)/1000 != e.CostNano || detPico(t, d.Get("price.total_usd").Raw) != e.CostNano*1000 ||
			detPico(t, d.Get("cost_usd").Raw) != e.CostNano*1000 {
			t.Fatalf("%s: parts sum to %d pico, total %s, cost %s; recorded %d nano\n%s",
				e.Model, sum, d.Get("price.total_usd").Raw, d.Get("cost_usd").Raw, e.CostNano, d.Get("price").Raw)
		}
	}
	// The provider's own cost is one part.
	_, body := detGet(t, a, detKeyAlice, detPath(evs[7].ID))
	if p := gjson.Get(body, "request.price").Raw; p != `{"priced":true,"parts":[{"name":"provider_reported","cost_usd":0.001234567}],"total_usd":0.001234567}` {
		t.Fatalf("provider-reported price %s", p)
	}
	// Audio seconds and their rate per second.
	_, body = detGet(t, a, detKeyAlice, detPath(evs[4].ID))
	if p := gjson.Get(body, "request.price.parts.0"); p.Get("name").String() != "audio_seconds" || p.Get("seconds").Raw != "7.001" ||
		p.Get("rate_usd_per_second").Raw != "0.0001" {
		t.Fatalf("audio part %s", p.Raw)
	}
	if s := gjson.Get(body, "request.usage.audio_seconds").Raw; s != "7.001" {
		t.Fatalf("audio_seconds %s", s)
	}
}

// detPico parses a decimal USD JSON number into pico-dollars exactly.
func detPico(t *testing.T, s string) int64 {
	t.Helper()
	whole, frac, _ := strings.Cut(s, ".")
	if len(frac) > 12 {
		t.Fatalf("%s has more than 12 decimals", s)
	}
	w, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		t.Fatalf("bad amount %q", s)
	}
	f := int64(0)
	if frac != "" {
		if f, err = strconv.ParseInt(frac+strings.Repeat("0", 12-len(frac)), 10, 64); err != nil {
			t.Fatalf("bad amount %q", s)
		}
	}
	return w*1e12 + f
}
