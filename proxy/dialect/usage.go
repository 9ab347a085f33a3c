package dialect

import (
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

// readOpenAIUsage fills u from an OpenAI-shaped usage object (chat
// completions, completions, embeddings, Responses, images, audio
// transcription, and every OpenAI-compatible provider). u is overwritten:
// the last usage object seen wins. It reports whether uj was an object.
func readOpenAIUsage(u *usage.Usage, uj gjson.Result, cat usage.Category) bool {
	if !uj.IsObject() {
		return false
	}
	tier := u.Tier
	*u = usage.Usage{Tier: tier}
	raw := uj.Raw

	var total usage.Count
	// Chat/completions/embeddings shape.
	setCount(&u.Input, gjson.Get(raw, "prompt_tokens"))
	setCount(&u.Output, gjson.Get(raw, "completion_tokens"))
	// Responses/images/audio shape.
	if !u.Input.OK {
		setCount(&u.Input, gjson.Get(raw, "input_tokens"))
	}
	if !u.Output.OK {
		setCount(&u.Output, gjson.Get(raw, "output_tokens"))
	}
	setCount(&total, gjson.Get(raw, "total_tokens"))

	in := gjson.Get(raw, "prompt_tokens_details")
	if !in.IsObject() {
		in = gjson.Get(raw, "input_tokens_details")
	}
	if !in.IsObject() {
		// Audio transcription's tagged union says input_token_details.
		in = gjson.Get(raw, "input_token_details")
	}
	if in.IsObject() {
		setCount(&u.CacheRead, gjson.Get(in.Raw, "cached_tokens"))
		setCount(&u.CacheWrite, gjson.Get(in.Raw, "cache_write_tokens"))
		setCount(&u.InputAudio, gjson.Get(in.Raw, "audio_tokens"))
		setCount(&u.InputImage, gjson.Get(in.Raw, "image_tokens"))
	}
	if !u.CacheRead.OK {
		// DeepSeek: prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt.
		setCount(&u.CacheRead, gjson.Get(raw, "prompt_cache_hit_tokens"))
	}
	out := gjson.Get(raw, "completion_tokens_details")
	if !out.IsObject() {
		out = gjson.Get(raw, "output_tokens_details")
	}
	if out.IsObject() {
		setCount(&u.Reasoning, gjson.Get(out.Raw, "reasoning_tokens"))
		setCount(&u.OutputAudio, gjson.Get(out.Raw, "audio_tokens"))
		setCount(&u.OutputImage, gjson.Get(out.Raw, "image_tokens"))
	}

	// Tokens the provider counts in total_tokens but not in the output:
	// xAI leaves reasoning out of completion_tokens, Gemini's OpenAI
	// endpoint leaves thinking out. Everything generated is total - prompt.
	if total.OK && u.Input.OK && u.Output.OK && total.N > u.Input.N+u.Output.N {
		u.Output.Set(total.N - u.Input.N)
	}
	// Embeddings generate nothing: a complete embeddings usage reports
	// Output 0 so that nobody estimates a missing output.
	if cat == usage.CategoryEmbeddings && u.Input.OK && !u.Output.OK {
		u.Output.Set(0)
	}

	// Duration-billed audio: {"type":"duration","seconds":7}.
	if t := gjson.Get(raw, "type"); t.Str == "duration" {
		if sec := gjson.Get(raw, "seconds"); sec.Type == gjson.Number {
			if ms, ok := parseScaled(sec.Raw, 3); ok && ms >= 0 {
				u.AudioMillis.Set(ms)
			}
		}
	}
	// OpenRouter: usage.cost in USD (credits).
	if c := gjson.Get(raw, "cost"); c.Type == gjson.Number || c.Type == gjson.String {
		num := c.Raw
		if c.Type == gjson.String {
			num = c.Str
		}
		if n, ok := parseScaled(num, 9); ok && n >= 0 {
			u.ProviderCostNano.Set(n)
		}
	}
	if u.Reported() {
		u.Source = usage.SourceProvider
	}
	return true
}

// anthropicUsage is the raw Anthropic usage accumulated over a stream, each
// field overwritten by every non-null value (message_delta usage is
// cumulative, never added).
type anthropicUsage struct {
	input, cacheWrite, cacheRead, cacheWrite1h, output, thinking, webSearch usage.Count
	tier                                                                    usage.Tier
	// iterations is the compaction sum (iterations[] in the usage), which
	// replaces the top-level numbers when present.
	iterIn, iterWrite, iterRead, iterWrite1h, iterOut usage.Count
	iterations                                        bool
	seen                                              bool
}

// merge overwrites a with every non-null field of the usage object uj.
func (a *anthropicUsage) merge(uj gjson.Result) {
	if !uj.IsObject() {
		return
	}
	a.seen = true
	raw := uj.Raw
	setCount(&a.input, gjson.Get(raw, "input_tokens"))
	setCount(&a.cacheWrite, gjson.Get(raw, "cache_creation_input_tokens"))
	setCount(&a.cacheRead, gjson.Get(raw, "cache_read_input_tokens"))
	setCount(&a.cacheWrite1h, gjson.Get(raw, "cache_creation.ephemeral_1h_input_tokens"))
	setCount(&a.output, gjson.Get(raw, "output_tokens"))
	setCount(&a.thinking, gjson.Get(raw, "output_tokens_details.thinking_tokens"))
	setCount(&a.webSearch, gjson.Get(raw, "server_tool_use.web_search_requests"))
	if t := gjson.Get(raw, "service_tier"); t.Type == gjson.String {
		a.tier = usage.ParseTier(s2b(t.Str))
	}
	it := gjson.Get(raw, "iterations")
	if !it.IsArray() {
		return
	}
	var in, w, r, w1, out usage.Count
	n := 0
	it.ForEach(func(_, v gjson.Result) bool {
		var c usage.Count
		if setCount(&c, v.Get("input_tokens")) {
			in.Add(c.N)
		}
		if c = (usage.Count{}); setCount(&c, v.Get("cache_creation_input_tokens")) {
			w.Add(c.N)
			in.Add(c.N)
		}
		if c = (usage.Count{}); setCount(&c, v.Get("cache_read_input_tokens")) {
			r.Add(c.N)
			in.Add(c.N)
		}
		if c = (usage.Count{}); setCount(&c, v.Get("cache_creation.ephemeral_1h_input_tokens")) {
			w1.Add(c.N)
		}
		if c = (usage.Count{}); setCount(&c, v.Get("output_tokens")) {
			out.Add(c.N)
		}
		n++
		return true
	})
	if n == 0 {
		return
	}
	a.iterations = true
	a.iterIn, a.iterWrite, a.iterRead, a.iterWrite1h, a.iterOut = in, w, r, w1, out
}

// fill writes the normalised usage of a into u.
func (a *anthropicUsage) fill(u *usage.Usage) {
	if !a.seen {
		return
	}
	*u = usage.Usage{Tier: a.tier}
	if a.input.OK || a.cacheWrite.OK || a.cacheRead.OK {
		u.Input.Set(a.input.N + a.cacheWrite.N + a.cacheRead.N)
	}
	u.CacheWrite = a.cacheWrite
	u.CacheRead = a.cacheRead
	u.CacheWrite1h = a.cacheWrite1h
	u.Output = a.output
	u.Reasoning = a.thinking
	u.WebSearchRequests = a.webSearch
	if a.iterations {
		u.Input, u.CacheWrite, u.CacheRead, u.CacheWrite1h, u.Output = a.iterIn, a.iterWrite, a.iterRead, a.iterWrite1h, a.iterOut
	}
	if u.Reported() {
		u.Source = usage.SourceProvider
	}
}

// readGeminiUsage fills u from a usageMetadata object, overwriting it (each
// chunk repeats the cumulative numbers; the last one wins).
func readGeminiUsage(u *usage.Usage, uj gjson.Result) bool {
	if !uj.IsObject() {
		return false
	}
	*u = usage.Usage{}
	raw := uj.Raw
	setCount(&u.Input, gjson.Get(raw, "promptTokenCount"))
	var tool usage.Count
	if setCount(&tool, gjson.Get(raw, "toolUsePromptTokenCount")) {
		u.Input.Add(tool.N)
	}
	setCount(&u.CacheRead, gjson.Get(raw, "cachedContentTokenCount"))
	var cand usage.Count
	if setCount(&cand, gjson.Get(raw, "candidatesTokenCount")) {
		u.Output.Add(cand.N)
	}
	if setCount(&u.Reasoning, gjson.Get(raw, "thoughtsTokenCount")) {
		u.Output.Add(u.Reasoning.N)
	}
	modalities(&u.InputAudio, &u.InputImage, gjson.Get(raw, "promptTokensDetails"))
	modalities(&u.InputAudio, &u.InputImage, gjson.Get(raw, "toolUsePromptTokensDetails"))
	modalities(&u.OutputAudio, &u.OutputImage, gjson.Get(raw, "candidatesTokensDetails"))
	if t := gjson.Get(raw, "serviceTier"); t.Type == gjson.String {
		u.Tier = usage.ParseTier(s2b(t.Str))
	}
	if u.Reported() {
		u.Source = usage.SourceProvider
	}
	return true
}

// modalities adds the AUDIO and IMAGE entries of a Gemini
// [{modality, tokenCount}] list; modalities not listed stay not reported.
func modalities(audio, image *usage.Count, list gjson.Result) {
	if !list.IsArray() {
		return
	}
	list.ForEach(func(_, v gjson.Result) bool {
		var c usage.Count
		if !setCount(&c, v.Get("tokenCount")) {
			return true
		}
		switch v.Get("modality").Str {
		case "AUDIO":
			audio.Add(c.N)
		case "IMAGE":
			image.Add(c.N)
		}
		return true
	})
}

// s2b views a string as bytes without copying; the bytes must not be
// modified.
func s2b(str string) []byte {
	return unsafe.Slice(unsafe.StringData(str), len(str))
}
