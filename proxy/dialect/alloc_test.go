//go:build !race

package dialect

import (
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

func TestAllocsExtractBody(t *testing.T) {
	for _, c := range []struct {
		name string
		d    Dialect
		cat  usage.Category
	}{
		{"openai_chat_nonstream_docs_example.json", OpenAI, usage.CategoryChatCompletions},
		{"openrouter_chat_nonstream.json", OpenAI, usage.CategoryChatCompletions},
		{"openai_responses_nonstream_cache_write.json", OpenAI, usage.CategoryResponses},
		{"anthropic_messages_nonstream.json", Anthropic, usage.CategoryChatCompletions},
		{"gemini_generate_content.json", Gemini, usage.CategoryChatCompletions},
		{"openai_error_429_insufficient_quota.json", OpenAI, usage.CategoryChatCompletions},
	} {
		body := readFixture(t, c.name)
		var u usage.Usage
		if n := testing.AllocsPerRun(100, func() { ExtractBody(c.d, c.cat, 200, body, &u) }); n != 0 {
			t.Errorf("ExtractBody(%s) allocates %.1f times", c.name, n)
		}
	}
}

func TestAllocsStream(t *testing.T) {
	for _, c := range []struct {
		name string
		d    Dialect
		cat  usage.Category
	}{
		{"openai_chat_stream_no_usage.sse", OpenAI, usage.CategoryChatCompletions},
		{"openrouter_chat_stream_reasoning.sse", OpenAI, usage.CategoryChatCompletions},
		{"openai_responses_stream_docs_example.sse", OpenAI, usage.CategoryResponses},
		{"anthropic_messages_stream_compaction.sse", Anthropic, usage.CategoryChatCompletions},
		{"mistral_chat_stream.sse", OpenAI, usage.CategoryChatCompletions},
	} {
		body := readFixture(t, c.name)
		var sc SSEScanner
		var st StreamState
		var u usage.Usage
		fn := func(ev Event) { st.OnEvent(ev.Name, ev.Data) }
		streamThrough(&sc, &st, c.d, c.cat, body, fn) // warm the buffers
		if n := testing.AllocsPerRun(50, func() {
			streamThrough(&sc, &st, c.d, c.cat, body, fn)
			st.Result(&u)
		}); n != 0 {
			t.Errorf("stream %s allocates %.1f times", c.name, n)
		}
	}
}

func TestAllocsRequest(t *testing.T) {
	body := []byte(`{"model":"gpt-4o","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"Hi"}]}`)
	dst := make([]byte, 0, 512)
	path := []byte("/v1/chat/completions")
	chunk := []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`)
	if n := testing.AllocsPerRun(100, func() {
		ri := InspectRequest(OpenAI, path, nil, body)
		_ = CategoryOf(OpenAI, path)
		if NeedsUsageInjection(OpenAI, usage.CategoryChatCompletions, ri) {
			dst, _ = InjectIncludeUsage(dst[:0], body)
		}
		_ = IsUsageOnlyChunk(chunk)
	}); n != 0 {
		t.Errorf("request inspection allocates %.1f times", n)
	}
}

// TestAllocsStreamUsageNull: a stream with "usage":null in every chunk,
// checked for the usage-only chunk after each event as the proxy does.
func TestAllocsStreamUsageNull(t *testing.T) {
	for _, c := range []struct {
		name string
		body []byte
	}{
		{"simulator", usageNullStream(20)},
		{"openai_completions_stream_include_usage.sse", readFixture(t, "openai_completions_stream_include_usage.sse")},
	} {
		var sc SSEScanner
		var st StreamState
		var u usage.Usage
		dropped := 0
		fn := func(ev Event) {
			st.OnEvent(ev.Name, ev.Data)
			if st.LastWasUsageOnly() || IsUsageOnlyChunk(ev.Data) {
				dropped++
			}
		}
		streamThrough(&sc, &st, OpenAI, usage.CategoryChatCompletions, c.body, fn)
		if n := testing.AllocsPerRun(50, func() {
			streamThrough(&sc, &st, OpenAI, usage.CategoryChatCompletions, c.body, fn)
			st.Result(&u)
		}); n != 0 {
			t.Errorf("stream %s allocates %.1f times", c.name, n)
		}
		if dropped == 0 || !u.Reported() {
			t.Errorf("stream %s: no usage-only chunk or no usage", c.name)
		}
	}
}

// TestAllocsGeminiArray: Gemini chunks read through nested paths
// (candidates.0.content.parts) and usageMetadata.
func TestAllocsGeminiArray(t *testing.T) {
	body := readFixture(t, "gemini_stream_json_array.json")
	var as ArrayScanner
	var st StreamState
	var u usage.Usage
	fn := func(e []byte) { st.OnEvent(nil, e) }
	run := func() {
		as.Reset()
		st.Reset(Gemini, usage.CategoryChatCompletions)
		as.Feed(body, fn)
		st.Result(&u)
	}
	run()
	if n := testing.AllocsPerRun(50, run); n != 0 {
		t.Errorf("gemini array stream allocates %.1f times", n)
	}
}
