package dialect

import (
	"bytes"

	"github.com/tidwall/gjson"

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
}

// Reset prepares s for a new stream of dialect d and category cat.
func (s *StreamState) Reset(d Dialect, cat usage.Category) {
	*s = StreamState{d: d, cat: cat, errMsg: s.errMsg[:0], text: s.text[:0]}
}

var (
	keyUsage     = []byte(`"usage"`)
	keyXGroq     = []byte(`"x_groq"`)
	keyUsageMeta = []byte(`"usageMetadata"`)
	keyError     = []byte(`"error"`)
	keyTier      = []byte(`"service_tier"`)
	keyChoices   = []byte(`"choices"`)
)

// OnEvent consumes one event: an SSE event (name may be empty) or, for
// Gemini JSON-array streams and recorded payloads, one JSON element with a
// nil name. Non-JSON data ("[DONE]", keep-alives) is ignored. Only events
// that can carry usage, errors or text are parsed. data is not retained.
func (s *StreamState) OnEvent(name, data []byte) {
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

func (s *StreamState) onAnthropic(name, data []byte) {
	typ := bstr(name)
	if typ == "" {
		typ = get(data, "type").Str
	}
	switch typ {
	case "message_start":
		s.anth.merge(get(data, "message.usage"))
	case "message_delta":
		s.anth.merge(get(data, "usage"))
	case "content_block_delta":
		d := get(data, "delta")
		s.appendText(member(d, "text"))
		s.appendText(member(d, "thinking"))
		s.appendText(member(d, "partial_json"))
	case "error":
		s.setErr(errorObject(Anthropic, 0, data, get(data, "error")))
	}
}

func (s *StreamState) onGemini(data []byte) {
	if bytes.Contains(data, keyUsageMeta) {
		if readGeminiUsage(&s.u, get(data, "usageMetadata")) && s.u.Reported() {
			s.found = true
		}
	} else if bytes.Contains(data, keyUsage) {
		// Gemini's OpenAI-compatible endpoint.
		if readOpenAIUsage(&s.u, get(data, "usage"), s.cat) && s.u.Reported() {
			s.found = true
		}
	}
	if bytes.Contains(data, keyError) {
		if e := get(data, "error"); e.IsObject() {
			s.setErr(errorObject(Gemini, 0, data, e))
		}
	}
	get(data, "candidates.0.content.parts").ForEach(func(_, p gjson.Result) bool {
		s.appendText(member(p, "text"))
		return true
	})
	if bytes.Contains(data, keyChoices) {
		s.appendText(member(get(data, "choices.0.delta"), "content"))
	}
}

func (s *StreamState) onOpenAI(data []byte) {
	if !s.tierSeen && bytes.Contains(data, keyTier) {
		if t := get(data, "service_tier"); t.Type == gjson.String {
			s.tier, s.tierSeen = usage.ParseTier(s2b(t.Str)), true
		}
	}
	if bytes.Contains(data, keyUsage) {
		uj := get(data, "usage")
		if !uj.IsObject() && bytes.Contains(data, keyXGroq) {
			uj = get(data, "x_groq.usage") // Groq before 2026
		}
		if readOpenAIUsage(&s.u, uj, s.cat) && s.u.Reported() {
			s.found = true
		}
	}
	if bytes.Contains(data, keyError) {
		if e := get(data, "error"); e.IsObject() {
			s.setErr(errorObject(OpenAI, 0, data, e))
		}
	}
	if bytes.Contains(data, keyChoices) {
		get(data, "choices").ForEach(func(_, c gjson.Result) bool {
			if d := c.Get("delta"); d.IsObject() {
				s.appendText(member(d, "content"))
				s.appendText(member(d, "reasoning_content"))
				s.appendText(member(d, "reasoning"))
				d.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
					s.appendText(member(member(tc, "function"), "arguments"))
					return true
				})
			} else {
				s.appendText(member(c, "text")) // completions
			}
			return true
		})
		return
	}
	// Audio transcription and image streams: {"type":"...delta","delta":"..."}.
	s.appendText(member(gjson.Result{Type: gjson.JSON, Raw: bstr(data)}, "delta"))
}

func (s *StreamState) onResponses(name, data []byte) {
	typ := bstr(name)
	if typ == "" {
		typ = get(data, "type").Str
	}
	switch typ {
	case "response.completed", "response.incomplete", "response.failed":
		r := get(data, "response")
		if t := r.Get("service_tier"); t.Type == gjson.String {
			s.tier, s.tierSeen = usage.ParseTier(s2b(t.Str)), true
		}
		if readOpenAIUsage(&s.u, r.Get("usage"), s.cat) && s.u.Reported() {
			s.found = true
		}
		if typ == "response.failed" {
			if e := r.Get("error"); e.IsObject() {
				s.setErr(errorObject(OpenAI, 0, data, e))
			} else {
				s.setErr(ErrorInfo{Type: usage.ErrModel})
			}
		}
	case "error":
		e := get(data, "error")
		if !e.IsObject() {
			// Spec shape: code, message and param at the top level.
			e = gjson.Result{Type: gjson.JSON, Raw: bstr(data)}
		}
		ei := errorObject(OpenAI, 0, data, e)
		s.setErr(ei)
	default:
		if len(typ) > 6 && typ[len(typ)-6:] == ".delta" {
			s.appendText(member(gjson.Result{Type: gjson.JSON, Raw: bstr(data)}, "delta"))
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

func (s *StreamState) appendText(r gjson.Result) {
	s.text = appendText(s.text, r, MaxOutputText)
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
