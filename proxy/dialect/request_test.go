package dialect

import (
	"errors"
	"reflect"
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

func TestCategoryOf(t *testing.T) {
	f := func(d Dialect, path string, want usage.Category) {
		t.Helper()
		if got := CategoryOf(d, []byte(path)); got != want {
			t.Errorf("CategoryOf(%v, %q) = %v, want %v", d, path, got, want)
		}
	}
	f(OpenAI, "/v1/chat/completions", usage.CategoryChatCompletions)
	f(OpenAI, "/openai/deployments/x/chat/completions", usage.CategoryChatCompletions)
	f(OpenAI, "/api/v1/chat/completions/", usage.CategoryChatCompletions)
	f(OpenAI, "/v1/completions", usage.CategoryCompletions)
	f(OpenAI, "/v1/responses", usage.CategoryResponses)
	f(OpenAI, "/v1/responses/resp_1/input_items", usage.CategoryResponses)
	f(OpenAI, "/v1/embeddings", usage.CategoryEmbeddings)
	f(OpenAI, "/v1/images/generations", usage.CategoryImageGeneration)
	f(OpenAI, "/v1/images/edits", usage.CategoryImageGeneration)
	f(OpenAI, "/v1/images/variations", usage.CategoryImageGeneration)
	f(OpenAI, "/v1/audio/transcriptions", usage.CategoryAudio)
	f(OpenAI, "/v1/audio/speech", usage.CategoryAudio)
	f(OpenAI, "/v1/moderations", usage.CategoryModeration)
	f(OpenAI, "/v1/models", usage.CategoryOther)
	f(OpenAI, "/v1/xchat/completions", usage.CategoryCompletions) // last segment "completions"
	f(OpenAI, "/v1/mycompletions", usage.CategoryOther)
	f(OpenAI, "", usage.CategoryOther)
	f(Anthropic, "/v1/messages", usage.CategoryChatCompletions)
	f(Anthropic, "/anthropic/v1/messages", usage.CategoryChatCompletions)
	f(Anthropic, "/v1/messages/count_tokens", usage.CategoryOther)
	f(Anthropic, "/v1/messages/batches", usage.CategoryOther)
	f(Anthropic, "/v1/models", usage.CategoryOther)
	f(Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", usage.CategoryChatCompletions)
	f(Gemini, "/v1beta/models/gemini-2.5-flash:streamGenerateContent", usage.CategoryChatCompletions)
	f(Gemini, "/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:generateContent", usage.CategoryChatCompletions)
	f(Gemini, "/v1beta/models/text-embedding-004:embedContent", usage.CategoryEmbeddings)
	f(Gemini, "/v1beta/models/text-embedding-004:batchEmbedContents", usage.CategoryEmbeddings)
	f(Gemini, "/v1beta/models/gemini-2.5-flash:countTokens", usage.CategoryOther)
	f(Gemini, "/v1beta/models", usage.CategoryOther)
	f(Gemini, "/v1beta/openai/chat/completions", usage.CategoryChatCompletions)
}

func TestParseDialect(t *testing.T) {
	for _, d := range []Dialect{OpenAI, Anthropic, Gemini} {
		got, ok := ParseDialect(d.String())
		if !ok || got != d {
			t.Errorf("ParseDialect(%q) = %v, %v", d.String(), got, ok)
		}
	}
	if _, ok := ParseDialect("bedrock"); ok {
		t.Error("ParseDialect(bedrock) ok")
	}
}

func TestInspectRequest(t *testing.T) {
	type want struct {
		Model           string
		Stream          bool
		StreamFormat    StreamFormat
		IncludeUsage    bool
		MaxOutputTokens int64
	}
	f := func(d Dialect, path, query, body string, w want) {
		t.Helper()
		ri := InspectRequest(d, []byte(path), []byte(query), []byte(body))
		got := want{string(ri.Model), ri.Stream, ri.StreamFormat, ri.IncludeUsage, ri.MaxOutputTokens}
		if got != w {
			t.Errorf("InspectRequest(%v, %q, %q, %s) = %+v, want %+v", d, path, query, body, got, w)
		}
	}
	f(OpenAI, "/v1/chat/completions", "", `{"model":"gpt-4o","stream":true,"max_tokens":100}`, want{"gpt-4o", true, SSE, false, 100})
	f(OpenAI, "/v1/chat/completions", "", `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":7,"max_tokens":9}`, want{"gpt-4o", true, SSE, true, 7})
	f(OpenAI, "/v1/chat/completions", "", `{"model":"gpt-4o","stream":false,"stream_options":{"include_usage":false}}`, want{"gpt-4o", false, SSE, false, 0})
	f(OpenAI, "/v1/responses", "", `{"model":"o3","stream":"true","max_output_tokens":50}`, want{"o3", false, SSE, false, 50})
	f(OpenAI, "/v1/chat/completions", "", `not json`, want{})
	f(OpenAI, "/v1/chat/completions", "", `{"model":"a\"b"}`, want{Model: `a"b`})
	f(Anthropic, "/v1/messages", "", `{"model":"claude-sonnet-4-5","max_tokens":1024,"stream":true}`, want{"claude-sonnet-4-5", true, SSE, false, 1024})
	f(Gemini, "/v1beta/models/gemini-2.5-flash:generateContent", "", `{"generationConfig":{"maxOutputTokens":256}}`, want{"gemini-2.5-flash", false, SSE, false, 256})
	f(Gemini, "/v1beta/models/gemini-flash-latest:streamGenerateContent", "", `{}`, want{"gemini-flash-latest", true, JSONArray, false, 0})
	f(Gemini, "/v1beta/models/gemini-flash-latest:streamGenerateContent", "key=k&alt=sse", `{}`, want{"gemini-flash-latest", true, SSE, false, 0})
	f(Gemini, "/v1beta/models/g:streamGenerateContent", "alt=ssex", ``, want{"g", true, JSONArray, false, 0})
	f(Gemini, "/v1/projects/p/locations/l/publishers/google/models/gemini-2.5-pro:generateContent", "", ``, want{Model: "gemini-2.5-pro"})
	f(Gemini, "/v1beta/openai/chat/completions", "", `{"model":"gemini-2.5-flash","stream":true}`, want{"gemini-2.5-flash", true, SSE, false, 0})
}

func TestNeedsUsageInjection(t *testing.T) {
	f := func(d Dialect, cat usage.Category, ri RequestInfo, want bool) {
		t.Helper()
		if got := NeedsUsageInjection(d, cat, ri); got != want {
			t.Errorf("NeedsUsageInjection(%v, %v, %+v) = %v", d, cat, ri, got)
		}
	}
	f(OpenAI, usage.CategoryChatCompletions, RequestInfo{Stream: true}, true)
	f(OpenAI, usage.CategoryCompletions, RequestInfo{Stream: true}, true)
	f(OpenAI, usage.CategoryChatCompletions, RequestInfo{Stream: true, IncludeUsage: true}, false)
	f(OpenAI, usage.CategoryChatCompletions, RequestInfo{}, false)
	f(OpenAI, usage.CategoryResponses, RequestInfo{Stream: true}, false)
	f(Anthropic, usage.CategoryChatCompletions, RequestInfo{Stream: true}, false)
	f(Gemini, usage.CategoryChatCompletions, RequestInfo{Stream: true}, false)
}

func TestInjectIncludeUsage(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		got, err := InjectIncludeUsage([]byte("prefix:"), []byte(in))
		if err != nil {
			t.Errorf("InjectIncludeUsage(%s): %v", in, err)
			return
		}
		if string(got) != "prefix:"+want {
			t.Errorf("InjectIncludeUsage(%s)\n got %s\nwant %s", in, got[len("prefix:"):], want)
		}
	}
	f(`{"model":"m","stream":true}`, `{"stream_options":{"include_usage":true},"model":"m","stream":true}`)
	f(` { "model" : "m" } `, ` {"stream_options":{"include_usage":true}, "model" : "m" } `)
	f(`{}`, `{"stream_options":{"include_usage":true}}`)
	f(`{ }`, `{"stream_options":{"include_usage":true} }`)
	f(`{"stream_options":{"include_obfuscation":false},"stream":true}`, `{"stream_options":{"include_usage":true,"include_obfuscation":false},"stream":true}`)
	f(`{"stream_options":{},"stream":true}`, `{"stream_options":{"include_usage":true},"stream":true}`)
	f(`{"stream_options":{"include_usage":false,"x":1}}`, `{"stream_options":{"include_usage":true,"x":1}}`)
	f(`{"stream_options":{"include_usage":true}}`, `{"stream_options":{"include_usage":true}}`)
	f(`{"stream_options":null,"stream":true}`, `{"stream_options":{"include_usage":true},"stream":true}`)
	f(`{"messages":[{"content":"stream_options"}],"stream":true}`, `{"stream_options":{"include_usage":true},"messages":[{"content":"stream_options"}],"stream":true}`)

	bad := func(in string, target error) {
		t.Helper()
		got, err := InjectIncludeUsage([]byte("keep"), []byte(in))
		if err == nil || string(got) != "keep" {
			t.Errorf("InjectIncludeUsage(%q) = %q, %v; want error", in, got, err)
			return
		}
		if target != nil && !errors.Is(err, target) {
			t.Errorf("InjectIncludeUsage(%q) error %v, want %v", in, err, target)
		}
	}
	bad(`{"model":`, ErrInvalidJSON)
	bad(``, ErrInvalidJSON)
	bad(`[1,2]`, ErrNotObject)
	bad(`"s"`, ErrNotObject)
}

func TestIsUsageOnlyChunk(t *testing.T) {
	f := func(in string, want bool) {
		t.Helper()
		if got := IsUsageOnlyChunk([]byte(in)); got != want {
			t.Errorf("IsUsageOnlyChunk(%s) = %v", in, got)
		}
	}
	f(`{"id":"x","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`, true)
	f(`{"id":"x","choices":[ ],"usage":{"prompt_tokens":1}}  `, true)
	f(`{"choices":[{"index":0,"delta":{}}],"usage":{"prompt_tokens":1}}`, false) // DeepSeek/OpenRouter: usage on a content chunk
	f(`{"choices":[],"usage":null}`, false)
	f(`{"choices":[{"delta":{"content":"hi"}}],"usage":null}`, false)
	f(`{"choices":[],"usage":{"prompt_tokens":1},"error":{"message":"x"}}`, false)
	f(`[DONE]`, false)
	f(``, false)
	f(`{"usage":{"prompt_tokens":1}}`, false)
}

func TestPromptText(t *testing.T) {
	f := func(d Dialect, body, want string) {
		t.Helper()
		if got := string(PromptText(d, []byte(body), nil)); got != want {
			t.Errorf("PromptText(%v, %s) = %q, want %q", d, body, got, want)
		}
	}
	f(OpenAI, `{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Hi\nthere"},{"type":"image_url","image_url":{"url":"x"}}]}]}`, "Be brief.\nHi\nthere")
	f(OpenAI, `{"prompt":"Say \u00e9"}`, "Say é")
	f(OpenAI, `{"prompt":["a","b"]}`, "a\nb")
	f(OpenAI, `{"instructions":"I","input":"Hello"}`, "I\nHello")
	f(OpenAI, `{"input":[{"role":"user","content":[{"type":"input_text","text":"Q"}]}]}`, "Q")
	f(Anthropic, `{"system":[{"type":"text","text":"S"}],"messages":[{"role":"user","content":"U"},{"role":"assistant","content":[{"type":"text","text":"A"}]}]}`, "S\nU\nA")
	f(Gemini, `{"systemInstruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"text":"U1"},{"text":"U2"}]}]}`, "S\nU1\nU2")
	f(Gemini, `{"model":"g","messages":[{"role":"user","content":"compat"}]}`, "compat")
	f(OpenAI, `garbage`, "")
}

func TestOutputTextOf(t *testing.T) {
	f := func(d Dialect, cat usage.Category, body, want string) {
		t.Helper()
		if got := string(OutputTextOf(d, cat, []byte(body), nil)); got != want {
			t.Errorf("OutputTextOf(%v, %v, %s) = %q, want %q", d, cat, body, got, want)
		}
	}
	f(OpenAI, usage.CategoryChatCompletions, `{"choices":[{"message":{"content":"Hi \"x\"","tool_calls":[{"function":{"arguments":"{}"}}]}}]}`, `Hi "x"{}`)
	f(OpenAI, usage.CategoryCompletions, `{"choices":[{"text":"abc"}]}`, "abc")
	f(OpenAI, usage.CategoryResponses, `{"output":[{"type":"reasoning","summary":[{"text":"R"}]},{"type":"message","content":[{"type":"output_text","text":"T"}]}]}`, "RT")
	f(OpenAI, usage.CategoryAudio, `{"text":"spoken"}`, "spoken")
	f(Anthropic, usage.CategoryChatCompletions, `{"content":[{"type":"text","text":"A"},{"type":"tool_use","input":{"city":"SF"}}]}`, `A{"city":"SF"}`)
	f(Gemini, usage.CategoryChatCompletions, `{"candidates":[{"content":{"parts":[{"text":"G1"},{"text":"G2"}]}}]}`, "G1G2")
}

func TestStreamOutputText(t *testing.T) {
	f := func(d Dialect, cat usage.Category, events [][2]string, want string) {
		t.Helper()
		var st StreamState
		st.Reset(d, cat)
		for _, e := range events {
			st.OnEvent([]byte(e[0]), []byte(e[1]))
		}
		if got := string(st.OutputText()); got != want {
			t.Errorf("OutputText = %q, want %q", got, want)
		}
	}
	f(OpenAI, usage.CategoryChatCompletions, [][2]string{
		{"", `{"choices":[{"delta":{"content":"Hel"}}]}`},
		{"", `{"choices":[{"delta":{"content":"lo\n"}}]}`},
		{"", `[DONE]`},
	}, "Hello\n")
	f(Anthropic, usage.CategoryChatCompletions, [][2]string{
		{"content_block_delta", `{"type":"content_block_delta","delta":{"type":"text_delta","text":"A"}}`},
		{"", `{"type":"content_block_delta","delta":{"type":"input_json_delta","partial_json":"{\"a\""}}`},
	}, `A{"a"`)
	f(OpenAI, usage.CategoryResponses, [][2]string{
		{"response.output_text.delta", `{"type":"response.output_text.delta","delta":"R"}`},
	}, "R")
	f(Gemini, usage.CategoryChatCompletions, [][2]string{
		{"", `{"candidates":[{"content":{"parts":[{"text":"G"}]}}]}`},
	}, "G")
}

func TestInspectRequestAliases(t *testing.T) {
	body := []byte(`{"model":"gpt-4o"}`)
	ri := InspectRequest(OpenAI, nil, nil, body)
	if !reflect.DeepEqual(ri.Model, []byte("gpt-4o")) || &ri.Model[0] != &body[10] {
		t.Fatalf("Model %q does not alias the body", ri.Model)
	}
}

// TestIsUsageOnlyChunkTruncated: a chunk cut inside "choices" (the proxy
// hands the scanner's unterminated tail to Finish) is not the usage chunk,
// and does not panic.
func TestIsUsageOnlyChunkTruncated(t *testing.T) {
	for _, in := range []string{`{"usage":{},"choices":[`, `{"usage":{"prompt_tokens":1},"choices":[ `, `{"choices":[],"usage":`} {
		if IsUsageOnlyChunk([]byte(in)) {
			t.Errorf("IsUsageOnlyChunk(%s) = true", in)
		}
	}
	// Names compare unescaped, as gjson compares them.
	if !IsUsageOnlyChunk([]byte(`{"choices":[],"us\u0061ge":{"prompt_tokens":1}}`)) {
		t.Error("escaped name not matched")
	}
}
