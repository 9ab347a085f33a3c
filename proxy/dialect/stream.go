package dialect

import (
	"bytes"

	"github.com/infermeter/infermeter/meter/usage"
)

// MaxOutputText bounds the text StreamState collects for estimation.
const MaxOutputText = 1 << 20

// StreamState accumulates the usage and any in-stream error over the events
// of one streamed response. Reset it before each stream; it keeps its buffers
// across Reset so steady-state use does not allocate. A StreamState is not
// safe for concurrent use.
type StreamState struct {
	d   Dialect
	cat usage.Category

	u     usage.Usage // last usage object seen (openai, gemini)
	found bool
	anth  anthropicUsage

	tier     usage.Tier
	tierSeen bool

	errType usage.ErrorType
	errMsg  []byte

	text []byte

	lastUsageOnly bool // the last event was the usage-only chunk
}

// Reset prepares s for a new stream of dialect d and category cat.
func (s *StreamState) Reset(d Dialect, cat usage.Category) {
	*s = StreamState{d: d, cat: cat, errMsg: s.errMsg[:0], text: s.text[:0]}
}

// OnEvent consumes one event: an SSE event (name may be empty) or, for
// Gemini JSON-array streams and recorded payloads, one JSON element with a
// nil name. Non-JSON data ("[DONE]", keep-alives) is ignored. An event is
// read in one walk over its top-level members, descending only into the
// members it needs (the usage object, an error object, the text of each
// choice), so a chunk with "usage":null costs that one walk; Anthropic and
// Responses events are read only when their type can carry usage, errors
// or text. data is not retained.
func (s *StreamState) OnEvent(name, data []byte) {
	s.lastUsageOnly = false
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return
	}
	switch s.d {
	case Anthropic:
		s.onAnthropic(name, data)
	case Gemini:
		s.onGemini(data)
	default:
		if s.cat == usage.CategoryResponses {
			s.onResponses(name, data)
			return
		}
		s.onOpenAI(data)
	}
}

// LastWasUsageOnly reports whether the event last passed to OnEvent was the
// usage-only chunk of a chat/completions stream: "choices": [] and a
// non-null "usage" (and no error), the extra chunk an injected
// include_usage produces. It is IsUsageOnlyChunk of that event's data,
// computed during OnEvent's own walk, so a proxy dropping the chunk for
// clients that did not ask for usage needs no second parse. It is false
// before the first event, after Reset, for data that is not a JSON object,
// and for Anthropic and OpenAI Responses streams, which have no such chunk.
func (s *StreamState) LastWasUsageOnly() bool {
	return s.lastUsageOnly
}

// usageOnly tells a usage-only chunk from the raw values of its top-level
// "choices", "usage" and "error".
func usageOnly(choices, uj, errV string) bool {
	return isObject(uj) && !isObject(errV) && len(choices) >= 2 && choices[0] == '[' && choices[len(choices)-1] == ']' &&
		len(bytes.TrimSpace(s2b(choices[1:len(choices)-1]))) == 0
}

// eventType returns the event's type: its SSE name, else the "type" member
// of data (the first member in Anthropic and Responses events, so this
// reads only the start of data).
func eventType(name, data []byte) string {
	if len(name) > 0 {
		return bstr(name)
	}
	return strVal(memberRaw(bstr(data), "type"))
}

func (s *StreamState) onAnthropic(name, data []byte) {
	typ := eventType(name, data)
	switch typ {
	case "message_start":
		s.anth.merge(lookup(bstr(data), "message", "usage"))
	case "message_delta":
		s.anth.merge(memberRaw(bstr(data), "usage"))
	case "content_block_delta":
		var text, thinking, partial string
		for it := walk(memberRaw(bstr(data), "delta")); it.close == '}' && it.next(); {
			switch it.key {
			case "text":
				first(&text, it.val)
			case "thinking":
				first(&thinking, it.val)
			case "partial_json":
				first(&partial, it.val)
			}
		}
		s.appendText(text)
		s.appendText(thinking)
		s.appendText(partial)
	case "error":
		s.setErr(errorObject(Anthropic, 0, data, memberRaw(bstr(data), "error")))
	}
}

func (s *StreamState) onGemini(data []byte) {
	var meta, uj, errV, parts, choices, delta0 string
	for it := walk(bstr(data)); it.next(); {
		switch it.key {
		case "usageMetadata":
			first(&meta, it.val)
		case "usage":
			first(&uj, it.val)
		case "error":
			first(&errV, it.val)
		case "candidates":
			if parts == "" {
				parts = lookup(it.val, "0", "content", "parts")
			}
		case "choices":
			first(&choices, it.val)
			if delta0 == "" {
				delta0 = lookup(it.val, "0", "delta")
			}
		}
	}
	if meta != "" {
		if readGeminiUsage(&s.u, meta) && s.u.Reported() {
			s.found = true
		}
	} else if uj != "" {
		// Gemini's OpenAI-compatible endpoint.
		if readOpenAIUsage(&s.u, uj, s.cat) && s.u.Reported() {
			s.found = true
		}
	}
	if isObject(errV) {
		s.setErr(errorObject(Gemini, 0, data, errV))
	}
	for it := walk(parts); it.next(); {
		s.appendText(memberRaw(it.val, "text"))
	}
	s.appendText(memberRaw(delta0, "content"))
	s.lastUsageOnly = usageOnly(choices, uj, errV)
}

func (s *StreamState) onOpenAI(data []byte) {
	var tier, uj, groqUsage, errV, choices, delta string
	for it := walk(bstr(data)); it.nextKey(); {
		if it.key == "choices" && choices == "" {
			// Collect the text while walking "choices" itself.
			c := it.enter()
			for c.next() {
				s.onChoice(c.val)
			}
			if !it.resume(&c) {
				break
			}
			choices = it.val
			continue
		}
		if !it.value() {
			break
		}
		switch it.key {
		case "service_tier":
			first(&tier, it.val)
		case "usage":
			first(&uj, it.val)
		case "x_groq":
			firstIn(&groqUsage, it.val, "usage")
		case "error":
			first(&errV, it.val)
		case "delta":
			first(&delta, it.val)
		}
	}
	if !s.tierSeen && isString(tier) {
		s.tier, s.tierSeen = usage.ParseTier(s2b(strVal(tier))), true
	}
	if isObject(uj) {
		if readOpenAIUsage(&s.u, uj, s.cat) && s.u.Reported() {
			s.found = true
		}
	} else if groqUsage != "" { // Groq before 2026
		if readOpenAIUsage(&s.u, groqUsage, s.cat) && s.u.Reported() {
			s.found = true
		}
	}
	if isObject(errV) {
		s.setErr(errorObject(OpenAI, 0, data, errV))
	}
	s.lastUsageOnly = usageOnly(choices, uj, errV)
	if choices == "" {
		// Audio transcription and image streams: {"type":"...delta","delta":"..."}.
		s.appendText(delta)
	}
}

// onChoice collects the text of one element of a chunk's "choices".
func (s *StreamState) onChoice(c string) {
	if !isObject(c) {
		return
	}
	var delta, text string
	for it := walk(c); it.next(); {
		switch it.key {
		case "delta":
			first(&delta, it.val)
		case "text":
			first(&text, it.val)
		}
	}
	if !isObject(delta) {
		s.appendText(text) // completions
		return
	}
	var content, reasoningContent, reasoning, toolCalls string
	for it := walk(delta); it.next(); {
		switch it.key {
		case "content":
			first(&content, it.val)
		case "reasoning_content":
			first(&reasoningContent, it.val)
		case "reasoning":
			first(&reasoning, it.val)
		case "tool_calls":
			first(&toolCalls, it.val)
		}
	}
	s.appendText(content)
	s.appendText(reasoningContent)
	s.appendText(reasoning)
	for it := walk(toolCalls); it.next(); {
		s.appendText(memberRaw(memberRaw(it.val, "function"), "arguments"))
	}
}

func (s *StreamState) onResponses(name, data []byte) {
	typ := eventType(name, data)
	switch typ {
	case "response.completed", "response.incomplete", "response.failed":
		var tier, uj, errV string
		for it := walk(memberRaw(bstr(data), "response")); it.close == '}' && it.next(); {
			switch it.key {
			case "service_tier":
				first(&tier, it.val)
			case "usage":
				first(&uj, it.val)
			case "error":
				first(&errV, it.val)
			}
		}
		if isString(tier) {
			s.tier, s.tierSeen = usage.ParseTier(s2b(strVal(tier))), true
		}
		if readOpenAIUsage(&s.u, uj, s.cat) && s.u.Reported() {
			s.found = true
		}
		if typ == "response.failed" {
			if isObject(errV) {
				s.setErr(errorObject(OpenAI, 0, data, errV))
			} else {
				s.setErr(ErrorInfo{Type: usage.ErrModel})
			}
		}
	case "error":
		e := memberRaw(bstr(data), "error")
		if !isObject(e) {
			// Spec shape: code, message and param at the top level.
			e = bstr(data)
		}
		s.setErr(errorObject(OpenAI, 0, data, e))
	default:
		if len(typ) > 6 && typ[len(typ)-6:] == ".delta" {
			s.appendText(memberRaw(bstr(data), "delta"))
		}
	}
}

// setErr records the first in-stream error; later ones (Responses sends an
// error event, then response.failed) keep the first classification.
func (s *StreamState) setErr(ei ErrorInfo) {
	if s.errType != usage.ErrNone {
		return
	}
	s.errType = nonZero(ei.Type)
	s.errMsg = append(s.errMsg[:0], ei.Message...)
}

// appendText appends the text of the raw JSON string v, if it is one.
func (s *StreamState) appendText(v string) {
	s.text = appendRawText(s.text, v, MaxOutputText)
}

// Result writes the final usage into u when the stream reported any
// (u.Source is then usage.SourceProvider; otherwise u is left as it was,
// except the service tier when one was seen) and returns the in-stream
// error, if any. The message aliases s's buffer, valid until the next Reset.
func (s *StreamState) Result(u *usage.Usage) ErrorInfo {
	switch {
	case s.d == Anthropic:
		s.anth.fill(u)
	case s.found:
		*u = s.u
	}
	if s.tierSeen {
		u.Tier = s.tier
	}
	ei := ErrorInfo{Type: s.errType}
	if s.errType != usage.ErrNone && len(s.errMsg) > 0 {
		ei.Message = s.errMsg
	}
	return ei
}

// OutputText returns the text deltas collected so far (content, reasoning,
// tool-call arguments), at most MaxOutputText bytes, for token estimation
// when the provider sends no usage. It aliases s's buffer, valid until the
// next event or Reset.
func (s *StreamState) OutputText() []byte {
	return s.text
}
