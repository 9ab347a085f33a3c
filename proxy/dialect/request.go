package dialect

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/tidwall/gjson"

	"github.com/infermeter/infermeter/meter/usage"
)

// StreamFormat is the framing of a streamed response.
type StreamFormat uint8

// Stream formats.
const (
	// SSE is text/event-stream (every dialect, Gemini with alt=sse).
	SSE StreamFormat = iota
	// JSONArray is one JSON array written incrementally (Gemini
	// streamGenerateContent without alt=sse); split it with ArrayScanner.
	JSONArray
)

// RequestInfo describes a request. Its byte slices alias the inputs of
// InspectRequest.
type RequestInfo struct {
	// Model is the body's "model", or for Gemini the {model} of the path
	// .../models/{model}:method. Empty when absent.
	Model []byte
	// Stream is true for "stream": true, or Gemini :streamGenerateContent.
	Stream bool
	// StreamFormat is the framing of the streamed response.
	StreamFormat StreamFormat
	// IncludeUsage is true when stream_options.include_usage is already true.
	IncludeUsage bool
	// MaxOutputTokens is max_completion_tokens, max_tokens,
	// max_output_tokens or generationConfig.maxOutputTokens; 0 if absent.
	MaxOutputTokens int64
}

// InspectRequest reads the request facts the proxy needs from the path, the
// raw query string (without '?') and the body. It never fails: a malformed
// body yields the zero values. It does not allocate and is safe for
// concurrent use.
func InspectRequest(d Dialect, path, query, body []byte) RequestInfo {
	var ri RequestInfo
	if d == Gemini {
		last := path[bytes.LastIndexByte(path, '/')+1:]
		if c := bytes.LastIndexByte(last, ':'); c >= 0 {
			if i := bytes.LastIndex(path, []byte("models/")); i >= 0 {
				start := i + len("models/")
				end := len(path) - len(last) + c
				if end > start {
					ri.Model = path[start:end]
				}
			}
			if string(last[c+1:]) == "streamGenerateContent" {
				ri.Stream = true
				ri.StreamFormat = JSONArray
				if queryHas(query, "alt", "sse") {
					ri.StreamFormat = SSE
				}
			}
			if m := get(body, "generationConfig.maxOutputTokens"); m.Type == gjson.Number {
				ri.MaxOutputTokens = max(m.Int(), 0)
			}
			return ri
		}
		// Gemini's OpenAI-compatible endpoint: an OpenAI body.
	}
	if m := get(body, "model"); m.Type == gjson.String {
		ri.Model = strBytes(body, m)
	}
	ri.Stream = get(body, "stream").Type == gjson.True
	ri.IncludeUsage = get(body, "stream_options.include_usage").Type == gjson.True
	for _, k := range [...]string{"max_completion_tokens", "max_tokens", "max_output_tokens"} {
		if m := get(body, k); m.Type == gjson.Number {
			ri.MaxOutputTokens = max(m.Int(), 0)
			break
		}
	}
	return ri
}

// queryHas reports whether the raw query has key=value.
func queryHas(q []byte, key, value string) bool {
	for len(q) > 0 {
		var kv []byte
		if i := bytes.IndexByte(q, '&'); i >= 0 {
			kv, q = q[:i], q[i+1:]
		} else {
			kv, q = q, nil
		}
		if len(kv) == len(key)+1+len(value) && string(kv[:len(key)]) == key && kv[len(key)] == '=' && string(kv[len(key)+1:]) == value {
			return true
		}
	}
	return false
}

// NeedsUsageInjection reports whether a request must get
// stream_options.include_usage set before forwarding: streamed OpenAI chat
// completions and completions that did not ask for it themselves.
func NeedsUsageInjection(d Dialect, cat usage.Category, ri RequestInfo) bool {
	return d == OpenAI && ri.Stream && !ri.IncludeUsage &&
		(cat == usage.CategoryChatCompletions || cat == usage.CategoryCompletions)
}

// Errors of InjectIncludeUsage, wrapped; test with errors.Is.
var (
	// ErrInvalidJSON: the request body is not valid JSON.
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrNotObject: the request body is valid JSON but not an object.
	ErrNotObject = errors.New("request body is not a JSON object")
)

// InjectIncludeUsage appends to dst the body with
// stream_options.include_usage set to true, keeping every other byte
// (including other stream_options) as it was. It returns an error for a body
// that is not a valid JSON object. It allocates only when dst must grow.
func InjectIncludeUsage(dst, body []byte) ([]byte, error) {
	if !gjson.Valid(bstr(body)) {
		return dst, fmt.Errorf("cannot inject include_usage: %w", ErrInvalidJSON)
	}
	open := bytes.IndexByte(body, '{')
	if open < 0 || len(bytes.TrimSpace(body[:open])) != 0 {
		return dst, fmt.Errorf("cannot inject include_usage: %w", ErrNotObject)
	}
	so := get(body, "stream_options")
	switch {
	case !so.Exists():
		return insertMember(dst, body, open, `"stream_options":{"include_usage":true}`), nil
	case so.IsObject():
		iu := so.Get("include_usage")
		if iu.Exists() {
			at := offset(body, iu.Raw)
			if at < 0 {
				break
			}
			dst = append(dst, body[:at]...)
			dst = append(dst, "true"...)
			return append(dst, body[at+len(iu.Raw):]...), nil
		}
		at := offset(body, so.Raw)
		if at < 0 {
			break
		}
		return insertMember(dst, body, at, `"include_usage":true`), nil
	default:
		// null or a non-object: replace the value.
		at := offset(body, so.Raw)
		if at < 0 {
			break
		}
		dst = append(dst, body[:at]...)
		dst = append(dst, `{"include_usage":true}`...)
		return append(dst, body[at+len(so.Raw):]...), nil
	}
	return dst, fmt.Errorf("cannot inject include_usage: %w", ErrInvalidJSON)
}

// insertMember appends body with member inserted as the first member of the
// object whose '{' is at open.
func insertMember(dst, body []byte, open int, member string) []byte {
	dst = append(dst, body[:open+1]...)
	dst = append(dst, member...)
	rest := body[open+1:]
	if t := bytes.TrimLeft(rest, " \t\r\n"); len(t) > 0 && t[0] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, rest...)
}

// IsUsageOnlyChunk reports whether a chat/completions stream chunk is the
// extra chunk an injected include_usage produces: "choices": [] and a
// non-null "usage" (and no error). The proxy drops it for clients that did
// not ask for usage. It reads data in one walk over its top-level members;
// a StreamState that has just consumed the chunk knows the answer without
// it (StreamState.LastWasUsageOnly).
func IsUsageOnlyChunk(data []byte) bool {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return false
	}
	var choices, uj, errV string
	for it := walk(bstr(data)); it.next(); {
		switch it.key {
		case "choices":
			first(&choices, it.val)
		case "usage":
			first(&uj, it.val)
		case "error":
			first(&errV, it.val)
		}
	}
	return usageOnly(choices, uj, errV)
}

// PromptText appends to dst the text of a request body (messages, system,
// instructions, prompt, input, contents parts), separated by newlines, for
// token estimation. It allocates only when dst must grow.
func PromptText(d Dialect, body []byte, dst []byte) []byte {
	const limit = 16 << 20
	add := func(r gjson.Result) {
		if r.Type == gjson.String && len(r.Raw) > 2 {
			if len(dst) > 0 {
				dst = append(dst, '\n')
			}
			dst = appendText(dst, r, limit)
		}
	}
	// parts adds a string, or the "text" of each block of an array, or the
	// nested "content" of each item (Responses input items).
	var parts func(r gjson.Result)
	parts = func(r gjson.Result) {
		switch {
		case r.Type == gjson.String:
			add(r)
		case r.IsArray():
			r.ForEach(func(_, v gjson.Result) bool {
				if v.Type == gjson.String {
					add(v)
					return true
				}
				add(v.Get("text"))
				add(v.Get("input_text"))
				if c := v.Get("content"); c.Exists() {
					parts(c)
				}
				if p := v.Get("parts"); p.Exists() {
					parts(p)
				}
				return true
			})
		case r.IsObject():
			add(r.Get("text"))
			if p := r.Get("parts"); p.Exists() {
				parts(p)
			}
		}
	}
	switch d {
	case Gemini:
		if get(body, "contents").Exists() || get(body, "systemInstruction").Exists() {
			parts(get(body, "systemInstruction"))
			parts(get(body, "contents"))
			return dst
		}
		fallthrough // Gemini's OpenAI-compatible endpoint
	default:
		parts(get(body, "system"))
		parts(get(body, "instructions"))
		parts(get(body, "messages"))
		parts(get(body, "prompt"))
		parts(get(body, "input"))
	}
	return dst
}

// OutputTextOf appends to dst the generated text of a non-streamed response
// body (content, reasoning, tool-call arguments), for token estimation.
func OutputTextOf(d Dialect, cat usage.Category, body []byte, dst []byte) []byte {
	const limit = MaxOutputText
	switch d {
	case Anthropic:
		get(body, "content").ForEach(func(_, b gjson.Result) bool {
			dst = appendText(dst, b.Get("text"), limit)
			dst = appendText(dst, b.Get("thinking"), limit)
			if in := b.Get("input"); in.IsObject() {
				dst = append(dst, in.Raw[:min(len(in.Raw), max(limit-len(dst), 0))]...)
			}
			return true
		})
		return dst
	case Gemini:
		if c := get(body, "candidates"); c.Exists() {
			c.ForEach(func(_, cand gjson.Result) bool {
				cand.Get("content.parts").ForEach(func(_, p gjson.Result) bool {
					dst = appendText(dst, p.Get("text"), limit)
					return true
				})
				return true
			})
			return dst
		}
	}
	if cat == usage.CategoryResponses {
		get(body, "output").ForEach(func(_, item gjson.Result) bool {
			item.Get("content").ForEach(func(_, c gjson.Result) bool {
				dst = appendText(dst, c.Get("text"), limit)
				return true
			})
			item.Get("summary").ForEach(func(_, c gjson.Result) bool {
				dst = appendText(dst, c.Get("text"), limit)
				return true
			})
			dst = appendText(dst, item.Get("arguments"), limit)
			return true
		})
		return dst
	}
	get(body, "choices").ForEach(func(_, c gjson.Result) bool {
		m := c.Get("message")
		dst = appendText(dst, m.Get("content"), limit)
		dst = appendText(dst, m.Get("reasoning_content"), limit)
		dst = appendText(dst, m.Get("reasoning"), limit)
		m.Get("tool_calls").ForEach(func(_, tc gjson.Result) bool {
			dst = appendText(dst, tc.Get("function.arguments"), limit)
			return true
		})
		dst = appendText(dst, c.Get("text"), limit)
		return true
	})
	dst = appendText(dst, get(body, "text"), limit) // audio transcription
	return dst
}
