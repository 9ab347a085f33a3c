package dialect

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

func readFixture(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkExtractBody(b *testing.B) {
	for _, c := range []struct {
		name string
		d    Dialect
		cat  usage.Category
	}{
		{"openai_chat_nonstream_reasoning_length.json", OpenAI, usage.CategoryChatCompletions},
		{"openai_responses_nonstream_cache_write.json", OpenAI, usage.CategoryResponses},
		{"anthropic_messages_nonstream.json", Anthropic, usage.CategoryChatCompletions},
		{"gemini_generate_content.json", Gemini, usage.CategoryChatCompletions},
	} {
		body := readFixture(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var u usage.Usage
			for b.Loop() {
				ExtractBody(c.d, c.cat, 200, body, &u)
			}
		})
	}
}

// streamThrough feeds body in 512-byte reads through sc and st.
func streamThrough(sc *SSEScanner, st *StreamState, d Dialect, cat usage.Category, body []byte, fn func(Event)) {
	sc.Reset()
	st.Reset(d, cat)
	for len(body) > 0 {
		n := min(512, len(body))
		sc.Feed(body[:n], fn)
		body = body[n:]
	}
	sc.Finish(fn)
}

func BenchmarkStream(b *testing.B) {
	for _, c := range []struct {
		name string
		d    Dialect
		cat  usage.Category
	}{
		{"openrouter_chat_stream_reasoning.sse", OpenAI, usage.CategoryChatCompletions},
		{"openai_responses_stream_docs_example.sse", OpenAI, usage.CategoryResponses},
		{"anthropic_messages_stream_compaction.sse", Anthropic, usage.CategoryChatCompletions},
	} {
		body := readFixture(b, c.name)
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			var sc SSEScanner
			var st StreamState
			var u usage.Usage
			fn := func(ev Event) { st.OnEvent(ev.Name, ev.Data) }
			for b.Loop() {
				streamThrough(&sc, &st, c.d, c.cat, body, fn)
				st.Result(&u)
			}
		})
	}
}

func BenchmarkGeminiArray(b *testing.B) {
	body := readFixture(b, "gemini_stream_json_array.json")
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	var as ArrayScanner
	var st StreamState
	var u usage.Usage
	fn := func(e []byte) { st.OnEvent(nil, e) }
	for b.Loop() {
		as.Reset()
		st.Reset(Gemini, usage.CategoryChatCompletions)
		for p := body; len(p) > 0; {
			n := min(256, len(p))
			as.Feed(p[:n], fn)
			p = p[n:]
		}
		st.Result(&u)
	}
}

func BenchmarkInjectIncludeUsage(b *testing.B) {
	body := []byte(`{"model":"gpt-4o","stream":true,"stream_options":{"include_obfuscation":false},"messages":[{"role":"user","content":"Hello there"}]}`)
	b.ReportAllocs()
	dst := make([]byte, 0, 1024)
	for b.Loop() {
		dst, _ = InjectIncludeUsage(dst[:0], body)
	}
}
