package main

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	anthropicoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/tidwall/gjson"
	"google.golang.org/genai"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// sdkWords is the text the simulator answers with for X-Sim-Chunks: 5, as
// one body or as five one-word chunks.
const (
	sdkChunks = "5"
	sdkWords  = "lorem ipsum dolor sit amet"
)

// sdkCall is one call made through an official SDK: the usage the simulator
// is told to report and what the sidecar must log for it.
type sdkCall struct {
	model    string // as in analytics: {upstream}/{model}
	in, out  int64
	stream   bool
	category string
}

// TestOfficialSDKs drives the sidecar with the official Go SDKs of OpenAI,
// Anthropic and Google, each built with only its base URL and API key
// changed (the key is the member's infermeter key), and checks that each SDK
// parses what it gets back and that the sidecar metered every call exactly.
// Retries and stream continuation are off so that a failure shows as one.
func TestOfficialSDKs(t *testing.T) {
	s, base := startSim(t, sim.Options{})
	cfg := testConfig(t, base, t.TempDir(), "")
	_, proxyURL, admin := startApp(t, cfg, appOptions{})
	ctx := context.Background()

	// Every call reports different numbers, so a log row names its call.
	calls := map[string]sdkCall{
		"openai chat":                   {"openai/gpt-4o-mini", 120, 30, false, "chat_completions"},
		"openai chat stream":            {"openai/gpt-4o-mini", 130, 40, true, "chat_completions"},
		"openai chat stream with usage": {"openai/gpt-4o-mini", 140, 50, true, "chat_completions"},
		"openai responses":              {"openai/gpt-4o-mini", 150, 60, false, "responses"},
		"openai responses stream":       {"openai/gpt-4o-mini", 160, 70, true, "responses"},
		"anthropic messages":            {"anthropic/claude-haiku-4-5", 200, 80, false, "chat_completions"},
		"anthropic messages stream":     {"anthropic/claude-haiku-4-5", 210, 90, true, "chat_completions"},
		"gemini generateContent":        {"gemini/gemini-2.5-flash", 300, 100, false, "chat_completions"},
		"gemini generateContent stream": {"gemini/gemini-2.5-flash", 310, 110, true, "chat_completions"},
	}
	run := func(name string, f func(t *testing.T, c sdkCall)) {
		t.Helper()
		c, ok := calls[name]
		if !ok {
			t.Fatalf("BUG: no sdkCall named %q", name)
		}
		t.Run(name, func(t *testing.T) { f(t, c) })
	}
	simHeaders := func(c sdkCall) map[string]string {
		return map[string]string{
			"X-Sim-Input-Tokens":  strconv.FormatInt(c.in, 10),
			"X-Sim-Output-Tokens": strconv.FormatInt(c.out, 10),
			"X-Sim-Chunks":        sdkChunks,
		}
	}

	// OpenAI: base URL as OPENAI_BASE_URL would give it.
	oai := openai.NewClient(option.WithBaseURL(proxyURL+"/v1"), option.WithAPIKey(keyAlice), option.WithMaxRetries(0))
	oaiOpts := func(c sdkCall) []option.RequestOption {
		var opts []option.RequestOption
		for k, v := range simHeaders(c) {
			opts = append(opts, option.WithHeader(k, v))
		}
		return opts
	}
	chatParams := openai.ChatCompletionNewParams{
		Model:    openai.ChatModel("gpt-4o-mini"),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	}

	run("openai chat", func(t *testing.T, c sdkCall) {
		res, err := oai.Chat.Completions.New(ctx, chatParams, oaiOpts(c)...)
		if err != nil {
			t.Fatalf("openai-go cannot complete a chat through the sidecar: %s", err)
		}
		if len(res.Choices) != 1 || res.Choices[0].Message.Content != sdkWords {
			t.Fatalf("choices %+v, want one with %q", res.Choices, sdkWords)
		}
		if res.Model != "gpt-4o-mini" {
			t.Fatalf("model %q, want gpt-4o-mini", res.Model)
		}
		u := res.Usage
		if u.PromptTokens != c.in || u.CompletionTokens != c.out || u.TotalTokens != c.in+c.out {
			t.Fatalf("usage %+v, want prompt %d completion %d total %d", u, c.in, c.out, c.in+c.out)
		}
	})

	// Without stream_options the sidecar asks the provider for usage and
	// hides the extra usage chunk: the SDK sees the stream a client that
	// did not ask for usage expects.
	run("openai chat stream", func(t *testing.T, c sdkCall) {
		st := oai.Chat.Completions.NewStreaming(ctx, chatParams, oaiOpts(c)...)
		defer st.Close()
		var acc openai.ChatCompletionAccumulator
		n := 0
		for st.Next() {
			ch := st.Current()
			n++
			if !acc.AddChunk(ch) {
				t.Fatalf("openai-go refuses chunk %d: %s", n, ch.RawJSON())
			}
			if len(ch.Choices) == 0 || ch.JSON.Usage.Valid() {
				t.Fatalf("the client received a usage chunk it did not ask for: %s", ch.RawJSON())
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("openai-go stream error after %d chunks: %s", n, err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != sdkWords {
			t.Fatalf("accumulated choices %+v, want one with %q", acc.Choices, sdkWords)
		}
		if acc.Usage.TotalTokens != 0 {
			t.Fatalf("accumulated usage %+v, want none", acc.Usage)
		}
	})

	run("openai chat stream with usage", func(t *testing.T, c sdkCall) {
		p := chatParams
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		st := oai.Chat.Completions.NewStreaming(ctx, p, oaiOpts(c)...)
		defer st.Close()
		var acc openai.ChatCompletionAccumulator
		usageChunks := 0
		for st.Next() {
			ch := st.Current()
			if !acc.AddChunk(ch) {
				t.Fatalf("openai-go refuses chunk: %s", ch.RawJSON())
			}
			if ch.JSON.Usage.Valid() {
				usageChunks++
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("openai-go stream error: %s", err)
		}
		if len(acc.Choices) != 1 || acc.Choices[0].Message.Content != sdkWords {
			t.Fatalf("accumulated choices %+v, want one with %q", acc.Choices, sdkWords)
		}
		if usageChunks != 1 {
			t.Fatalf("%d chunks with usage, want 1", usageChunks)
		}
		u := acc.Usage
		if u.PromptTokens != c.in || u.CompletionTokens != c.out || u.TotalTokens != c.in+c.out {
			t.Fatalf("usage %+v, want prompt %d completion %d total %d", u, c.in, c.out, c.in+c.out)
		}
	})

	respParams := responses.ResponseNewParams{
		Model: openai.ChatModel("gpt-4o-mini"),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("hi")},
	}

	run("openai responses", func(t *testing.T, c sdkCall) {
		res, err := oai.Responses.New(ctx, respParams, oaiOpts(c)...)
		if err != nil {
			t.Fatalf("openai-go cannot create a response through the sidecar: %s", err)
		}
		if got := res.OutputText(); got != sdkWords {
			t.Fatalf("output text %q, want %q", got, sdkWords)
		}
		u := res.Usage
		if u.InputTokens != c.in || u.OutputTokens != c.out || u.TotalTokens != c.in+c.out {
			t.Fatalf("usage %+v, want input %d output %d total %d", u, c.in, c.out, c.in+c.out)
		}
	})

	run("openai responses stream", func(t *testing.T, c sdkCall) {
		st := oai.Responses.NewStreaming(ctx, respParams, oaiOpts(c)...)
		defer st.Close()
		var text strings.Builder
		completed := 0
		var done responses.Response
		for st.Next() {
			ev := st.Current()
			switch ev.Type {
			case "response.output_text.delta":
				text.WriteString(ev.Delta)
			case "response.completed":
				completed++
				done = ev.AsResponseCompleted().Response
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("openai-go responses stream error: %s", err)
		}
		if text.String() != sdkWords {
			t.Fatalf("streamed text %q, want %q", text.String(), sdkWords)
		}
		if completed != 1 {
			t.Fatalf("%d response.completed events, want 1", completed)
		}
		if got := done.OutputText(); got != sdkWords {
			t.Fatalf("completed output text %q, want %q", got, sdkWords)
		}
		u := done.Usage
		if u.InputTokens != c.in || u.OutputTokens != c.out || u.TotalTokens != c.in+c.out {
			t.Fatalf("response.completed usage %+v, want input %d output %d total %d", u, c.in, c.out, c.in+c.out)
		}
	})

	// Anthropic: base URL as ANTHROPIC_BASE_URL would give it. The v2 SDK
	// (API version 2026-10-21) sends the key as Authorization: Bearer, not
	// x-api-key. No cached tokens, so the SDK's input_tokens (which excludes
	// cache) is the whole prompt.
	ant := anthropic.NewClient(anthropicoption.WithBaseURL(proxyURL), anthropicoption.WithAPIKey(keyAlice),
		anthropicoption.WithMaxRetries(0))
	antOpts := func(c sdkCall) []anthropicoption.RequestOption {
		var opts []anthropicoption.RequestOption
		for k, v := range simHeaders(c) {
			opts = append(opts, anthropicoption.WithHeader(k, v))
		}
		return opts
	}
	msgParams := anthropic.MessageNewParams{
		Model:     "claude-haiku-4-5",
		MaxTokens: 512,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))},
	}
	checkMessage := func(t *testing.T, m anthropic.Message, c sdkCall) {
		t.Helper()
		if len(m.Content) != 1 || m.Content[0].Type != "text" || m.Content[0].Text != sdkWords {
			t.Fatalf("content %s, want one text block %q", m.RawJSON(), sdkWords)
		}
		if m.Model != "claude-haiku-4-5" || m.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("model %q stop reason %q, want claude-haiku-4-5 end_turn", m.Model, m.StopReason)
		}
		u := m.Usage
		if u.InputTokens != c.in || u.OutputTokens != c.out || u.CacheReadInputTokens != 0 || u.CacheCreationInputTokens != 0 {
			t.Fatalf("usage %s, want input %d output %d and no cache", u.RawJSON(), c.in, c.out)
		}
	}

	run("anthropic messages", func(t *testing.T, c sdkCall) {
		m, err := ant.Messages.New(ctx, msgParams, antOpts(c)...)
		if err != nil {
			t.Fatalf("anthropic-sdk-go cannot create a message through the sidecar: %s", err)
		}
		checkMessage(t, *m, c)
	})

	run("anthropic messages stream", func(t *testing.T, c sdkCall) {
		st := ant.Messages.NewStreaming(ctx, msgParams, antOpts(c)...)
		defer st.Close()
		var m anthropic.Message
		for st.Next() {
			ev := st.Current()
			if err := m.Accumulate(ev); err != nil {
				t.Fatalf("anthropic-sdk-go cannot accumulate event %s: %s", ev.RawJSON(), err)
			}
		}
		if err := st.Err(); err != nil {
			t.Fatalf("anthropic-sdk-go stream error: %s", err)
		}
		checkMessage(t, m, c)
	})

	// Gemini: the SDK joins the base URL, the API version (v1beta) and the
	// method path.
	one := int32(1)
	gem, err := genai.NewClient(ctx, &genai.ClientConfig{
		APIKey:  keyAlice,
		Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{
			BaseURL:      proxyURL + "/",
			RetryOptions: &genai.HTTPRetryOptions{Attempts: &one},
		},
	})
	if err != nil {
		t.Fatalf("cannot build the genai client: %s", err)
	}
	noContinuation := false
	gemConfig := func(c sdkCall) *genai.GenerateContentConfig {
		h := http.Header{}
		for k, v := range simHeaders(c) {
			h.Set(k, v)
		}
		return &genai.GenerateContentConfig{HTTPOptions: &genai.HTTPOptions{Headers: h}, AutomaticContinuation: &noContinuation}
	}
	checkGemini := func(t *testing.T, u *genai.GenerateContentResponseUsageMetadata, c sdkCall) {
		t.Helper()
		if u == nil {
			t.Fatal("no usageMetadata")
		}
		if int64(u.PromptTokenCount) != c.in || int64(u.CandidatesTokenCount) != c.out || int64(u.TotalTokenCount) != c.in+c.out ||
			u.ThoughtsTokenCount != 0 || u.CachedContentTokenCount != 0 {
			t.Fatalf("usageMetadata %+v, want prompt %d candidates %d total %d", *u, c.in, c.out, c.in+c.out)
		}
	}

	run("gemini generateContent", func(t *testing.T, c sdkCall) {
		res, err := gem.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), gemConfig(c))
		if err != nil {
			t.Fatalf("genai cannot generate content through the sidecar: %s", err)
		}
		if got := res.Text(); got != sdkWords {
			t.Fatalf("text %q, want %q", got, sdkWords)
		}
		if len(res.Candidates) != 1 || res.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Fatalf("candidates %+v, want one that finished with STOP", res.Candidates)
		}
		checkGemini(t, res.UsageMetadata, c)
	})

	run("gemini generateContent stream", func(t *testing.T, c sdkCall) {
		var (
			text strings.Builder
			last *genai.GenerateContentResponse
			n    int
		)
		for res, err := range gem.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("hi"), gemConfig(c)) {
			if err != nil {
				t.Fatalf("genai stream error after %d chunks: %s", n, err)
			}
			n++
			text.WriteString(res.Text())
			last = res
		}
		if n == 0 {
			t.Fatal("genai stream yielded no chunk")
		}
		if text.String() != sdkWords {
			t.Fatalf("streamed text %q, want %q", text.String(), sdkWords)
		}
		if len(last.Candidates) != 1 || last.Candidates[0].FinishReason != genai.FinishReasonStop {
			t.Fatalf("last chunk candidates %+v, want one that finished with STOP", last.Candidates)
		}
		checkGemini(t, last.UsageMetadata, c)
	})
	if t.Failed() {
		return
	}

	// The provider got one request per call, with the upstream keys and
	// never a member key: no SDK retried or continued behind our back.
	seen := s.Requests()
	injected := 0
	if len(seen) != len(calls) {
		t.Fatalf("the simulator saw %d requests, want %d", len(seen), len(calls))
	}
	for _, r := range seen {
		if strings.Contains(r.Header, keyAlice) || strings.Contains(r.Query, keyAlice) {
			t.Fatalf("the member key reached the provider: %s", r.Header)
		}
		var ok bool
		switch {
		case strings.HasPrefix(r.Path, "/v1/messages"):
			ok = r.XAPIKey == keyAnthropic
		case strings.HasPrefix(r.Path, "/v1beta/models/gemini-2.5-flash:"):
			ok = r.XGoogAPIKey == keyGemini
		case r.Path == "/v1/chat/completions" || r.Path == "/v1/responses":
			ok = r.Authorization == "Bearer "+keyOpenAI
		}
		if !ok {
			t.Fatalf("unexpected upstream request %s %s?%s:\n%s", r.Method, r.Path, r.Query, r.Header)
		}
		// The stream whose client did not ask for usage asked for it upstream.
		if strings.Contains(strings.ToLower(r.Header), "x-sim-input-tokens: 130\r\n") {
			injected++
			if !gjson.GetBytes(r.Body, "stream_options.include_usage").Bool() {
				t.Fatalf("the sidecar did not ask the provider for stream usage: %s", r.Body)
			}
		}
	}
	if injected != 1 {
		t.Fatalf("found %d upstream requests of the stream without stream_options, want 1", injected)
	}

	// Usage by model, once the meter has aggregated every call. Rates of
	// the embedded catalog, nano-dollars a token: gpt-4o-mini 150 in and
	// 600 out; claude-haiku-4-5 1000 and 5000; gemini-2.5-flash 300 and 2500.
	type sums struct{ n, in, out, cost int64 }
	want := map[string]sums{
		"openai/gpt-4o-mini":         {5, 700, 250, 700*150 + 250*600},
		"anthropic/claude-haiku-4-5": {2, 410, 170, 410*1000 + 170*5000},
		"gemini/gemini-2.5-flash":    {2, 610, 210, 610*300 + 210*2500},
	}
	got := map[string]sums{}
	for _, c := range calls {
		g := got[c.model]
		got[c.model] = sums{g.n + 1, g.in + c.in, g.out + c.out, 0}
	}
	for m, w := range want {
		if g := got[m]; g.n != w.n || g.in != w.in || g.out != w.out {
			t.Fatalf("BUG in the test's hand totals for %s: calls sum to %+v, want %+v", m, g, w)
		}
	}
	const path = "/api/organizations/acme/usage?group_by=model"
	waitFor(t, "every SDK call aggregated", func() bool {
		st, j := adminGet(t, admin, keyAlice, path)
		if st != 200 || !j.Get("success").Bool() {
			t.Fatalf("GET %s: %d %s", path, st, j.Raw)
		}
		var n int64
		for _, r := range j.Get("usage.by_model").Array() {
			n += r.Get("requests").Int()
		}
		return n >= int64(len(calls))
	})
	st, j := adminGet(t, admin, keyAlice, path)
	if st != 200 {
		t.Fatalf("GET %s: %d %s", path, st, j.Raw)
	}
	byModel := j.Get("usage.by_model").Array()
	if len(byModel) != len(want) {
		t.Fatalf("%d rows by model, want %d: %s", len(byModel), len(want), j.Raw)
	}
	for _, r := range byModel {
		m := r.Get("model").String()
		w, ok := want[m]
		if !ok {
			t.Fatalf("unexpected model row %s", r.Raw)
		}
		g := sums{r.Get("requests").Int(), r.Get("input_tokens").Int(), r.Get("output_tokens").Int(), nanoOf(t, r.Get("cost_usd"))}
		if g != w {
			t.Fatalf("usage of %s: got %+v, want %+v", m, g, w)
		}
	}

	// One log per call, each with the provider's own numbers. Logs are
	// stored in batches, so they may lag the aggregates.
	const logsPath = "/api/account/request-logs?limit=100"
	var entries []gjson.Result
	waitFor(t, "every SDK call logged", func() bool {
		st, logs := adminGet(t, admin, keyAlice, logsPath)
		if st != 200 || !logs.Get("success").Bool() {
			t.Fatalf("GET %s: %d %s", logsPath, st, logs.Raw)
		}
		entries = logs.Get("logs").Array()
		return len(entries) >= len(calls)
	})
	if len(entries) != len(calls) {
		t.Fatalf("%d request logs, want %d: %v", len(entries), len(calls), entries)
	}
	byInput := map[int64]sdkCall{}
	for _, c := range calls {
		byInput[c.in] = c
	}
	for _, l := range entries {
		c, ok := byInput[l.Get("input_tokens").Int()]
		if !ok {
			t.Fatalf("log matches no call: %s", l.Raw)
		}
		delete(byInput, c.in)
		if l.Get("usage_source").String() != "provider" || l.Get("status").String() != "success" ||
			l.Get("user_id").String() != "alice" || l.Get("model").String() != c.model ||
			l.Get("output_tokens").Int() != c.out || l.Get("stream").Bool() != c.stream ||
			l.Get("category").String() != c.category || l.Get("cached_tokens").Int() != 0 {
			t.Fatalf("log %s, want provider usage, success, alice, %+v", l.Raw, c)
		}
	}
}
