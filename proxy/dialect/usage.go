package dialect

import (
	"unsafe"

	"github.com/infermeter/infermeter/meter/usage"
)

// readOpenAIUsage fills u from an OpenAI-shaped usage object, the raw value
// uj (chat completions, completions, embeddings, Responses, images, audio
// transcription, and every OpenAI-compatible provider), in one walk over
// it and one over each details object. u is overwritten: the last usage
// object seen wins. It reports whether uj was an object.
func readOpenAIUsage(u *usage.Usage, uj string, cat usage.Category) bool {
	if !isObject(uj) {
		return false
	}
	var prompt, completion, input, output, totalV, promptDet, inputDet, inputDet2, hit, complDet, outputDet, typ, seconds, cost string
	for it := walk(uj); it.next(); {
		switch it.key {
		case "prompt_tokens":
			first(&prompt, it.val)
		case "completion_tokens":
			first(&completion, it.val)
		case "input_tokens":
			first(&input, it.val)
		case "output_tokens":
			first(&output, it.val)
		case "total_tokens":
			first(&totalV, it.val)
		case "prompt_tokens_details":
			first(&promptDet, it.val)
		case "input_tokens_details":
			first(&inputDet, it.val)
		case "input_token_details":
			first(&inputDet2, it.val)
		case "prompt_cache_hit_tokens":
			first(&hit, it.val)
		case "completion_tokens_details":
			first(&complDet, it.val)
		case "output_tokens_details":
			first(&outputDet, it.val)
		case "type":
			first(&typ, it.val)
		case "seconds":
			first(&seconds, it.val)
		case "cost":
			first(&cost, it.val)
		}
	}
	tier := u.Tier
	*u = usage.Usage{Tier: tier}

	var total usage.Count
	// Chat/completions/embeddings shape.
	setNum(&u.Input, prompt)
	setNum(&u.Output, completion)
	// Responses/images/audio shape.
	if !u.Input.OK {
		setNum(&u.Input, input)
	}
	if !u.Output.OK {
		setNum(&u.Output, output)
	}
	setNum(&total, totalV)

	in := promptDet
	if !isObject(in) {
		in = inputDet
	}
	if !isObject(in) {
		// Audio transcription's tagged union says input_token_details.
		in = inputDet2
	}
	if isObject(in) {
		var cached, write, audio, image string
		for it := walk(in); it.next(); {
			switch it.key {
			case "cached_tokens":
				first(&cached, it.val)
			case "cache_write_tokens":
				first(&write, it.val)
			case "audio_tokens":
				first(&audio, it.val)
			case "image_tokens":
				first(&image, it.val)
			}
		}
		setNum(&u.CacheRead, cached)
		setNum(&u.CacheWrite, write)
		setNum(&u.InputAudio, audio)
		setNum(&u.InputImage, image)
	}
	if !u.CacheRead.OK {
		// DeepSeek: prompt_cache_hit_tokens + prompt_cache_miss_tokens = prompt.
		setNum(&u.CacheRead, hit)
	}
	out := complDet
	if !isObject(out) {
		out = outputDet
	}
	if isObject(out) {
		var reasoning, audio, image string
		for it := walk(out); it.next(); {
			switch it.key {
			case "reasoning_tokens":
				first(&reasoning, it.val)
			case "audio_tokens":
				first(&audio, it.val)
			case "image_tokens":
				first(&image, it.val)
			}
		}
		setNum(&u.Reasoning, reasoning)
		setNum(&u.OutputAudio, audio)
		setNum(&u.OutputImage, image)
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
	if isString(typ) && strVal(typ) == "duration" && isNumber(seconds) {
		if ms, ok := parseScaled(seconds, 3); ok && ms >= 0 {
			u.AudioMillis.Set(min(ms, usage.MaxCount))
		}
	}
	// OpenRouter: usage.cost in USD (credits).
	if isNumber(cost) || isString(cost) {
		num := cost
		if isString(cost) {
			num = strVal(cost)
		}
		if n, ok := parseScaled(num, 9); ok && n >= 0 {
			u.ProviderCostNano.Set(min(n, usage.MaxCostNano))
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

// merge overwrites a with every non-null field of the usage object, the raw
// value uj.
func (a *anthropicUsage) merge(uj string) {
	if !isObject(uj) {
		return
	}
	a.seen = true
	var input, write, read, write1h, output, thinking, webSearch, tier, iterations string
	for it := walk(uj); it.next(); {
		switch it.key {
		case "input_tokens":
			first(&input, it.val)
		case "cache_creation_input_tokens":
			first(&write, it.val)
		case "cache_read_input_tokens":
			first(&read, it.val)
		case "cache_creation":
			firstIn(&write1h, it.val, "ephemeral_1h_input_tokens")
		case "output_tokens":
			first(&output, it.val)
		case "output_tokens_details":
			firstIn(&thinking, it.val, "thinking_tokens")
		case "server_tool_use":
			firstIn(&webSearch, it.val, "web_search_requests")
		case "service_tier":
			first(&tier, it.val)
		case "iterations":
			first(&iterations, it.val)
		}
	}
	setNum(&a.input, input)
	setNum(&a.cacheWrite, write)
	setNum(&a.cacheRead, read)
	setNum(&a.cacheWrite1h, write1h)
	setNum(&a.output, output)
	setNum(&a.thinking, thinking)
	setNum(&a.webSearch, webSearch)
	if isString(tier) {
		a.tier = usage.ParseTier(s2b(strVal(tier)))
	}
	if !isArray(iterations) {
		return
	}
	var in, w, r, w1, out usage.Count
	n := 0
	for el := walk(iterations); el.next(); {
		n++
		if !isObject(el.val) {
			continue
		}
		var input, write, read, write1h, output string
		for it := walk(el.val); it.next(); {
			switch it.key {
			case "input_tokens":
				first(&input, it.val)
			case "cache_creation_input_tokens":
				first(&write, it.val)
			case "cache_read_input_tokens":
				first(&read, it.val)
			case "cache_creation":
				firstIn(&write1h, it.val, "ephemeral_1h_input_tokens")
			case "output_tokens":
				first(&output, it.val)
			}
		}
		var c usage.Count
		if setNum(&c, input) {
			in.Add(c.N)
		}
		if c = (usage.Count{}); setNum(&c, write) {
			w.Add(c.N)
			in.Add(c.N)
		}
		if c = (usage.Count{}); setNum(&c, read) {
			r.Add(c.N)
			in.Add(c.N)
		}
		if c = (usage.Count{}); setNum(&c, write1h) {
			w1.Add(c.N)
		}
		if c = (usage.Count{}); setNum(&c, output) {
			out.Add(c.N)
		}
	}
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

// readGeminiUsage fills u from a usageMetadata object, the raw value uj,
// overwriting it (each chunk repeats the cumulative numbers; the last one
// wins).
func readGeminiUsage(u *usage.Usage, uj string) bool {
	if !isObject(uj) {
		return false
	}
	var prompt, tool, cached, cand, thoughts, promptDet, toolDet, candDet, tier string
	for it := walk(uj); it.next(); {
		switch it.key {
		case "promptTokenCount":
			first(&prompt, it.val)
		case "toolUsePromptTokenCount":
			first(&tool, it.val)
		case "cachedContentTokenCount":
			first(&cached, it.val)
		case "candidatesTokenCount":
			first(&cand, it.val)
		case "thoughtsTokenCount":
			first(&thoughts, it.val)
		case "promptTokensDetails":
			first(&promptDet, it.val)
		case "toolUsePromptTokensDetails":
			first(&toolDet, it.val)
		case "candidatesTokensDetails":
			first(&candDet, it.val)
		case "serviceTier":
			first(&tier, it.val)
		}
	}
	*u = usage.Usage{}
	setNum(&u.Input, prompt)
	var c usage.Count
	if setNum(&c, tool) {
		u.Input.Add(c.N)
	}
	setNum(&u.CacheRead, cached)
	if c = (usage.Count{}); setNum(&c, cand) {
		u.Output.Add(c.N)
	}
	if setNum(&u.Reasoning, thoughts) {
		u.Output.Add(u.Reasoning.N)
	}
	modalities(&u.InputAudio, &u.InputImage, promptDet)
	modalities(&u.InputAudio, &u.InputImage, toolDet)
	modalities(&u.OutputAudio, &u.OutputImage, candDet)
	if isString(tier) {
		u.Tier = usage.ParseTier(s2b(strVal(tier)))
	}
	if u.Reported() {
		u.Source = usage.SourceProvider
	}
	return true
}

// modalities adds the AUDIO and IMAGE entries of a Gemini
// [{modality, tokenCount}] list, the raw value list; modalities not listed
// stay not reported.
func modalities(audio, image *usage.Count, list string) {
	if !isArray(list) {
		return
	}
	for el := walk(list); el.next(); {
		var modality, count string
		for it := walk(el.val); it.next(); {
			switch it.key {
			case "modality":
				first(&modality, it.val)
			case "tokenCount":
				first(&count, it.val)
			}
		}
		var c usage.Count
		if !setNum(&c, count) {
			continue
		}
		switch strVal(modality) {
		case "AUDIO":
			audio.Add(c.N)
		case "IMAGE":
			image.Add(c.N)
		}
	}
}

// s2b views a string as bytes without copying; the bytes must not be
// modified.
func s2b(str string) []byte {
	return unsafe.Slice(unsafe.StringData(str), len(str))
}
