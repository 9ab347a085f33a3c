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

// usageNullStream builds an OpenAI chat completions stream the way the
// simulator (examples/simulator/sim) writes one when the request asked for
// stream_options.include_usage: a role chunk, n content chunks and a finish
// chunk, each with "usage":null, then the usage-only chunk ("choices":[])
// and data: [DONE].
func usageNullStream(n int) []byte {
	const head = `data: {"id":"chatcmpl-sim0123456789abcdef","object":"chat.completion.chunk","created":1767225600,"model":"gpt-4o","service_tier":"default","system_fingerprint":"fp_sim","choices":[`
	const tail = `,"usage":null}` + "\n\n"
	words := []string{"The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog."}
	b := []byte(head + `{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}]` + tail)
	for i := range n {
		b = append(b, head+`{"index":0,"delta":{"content":"`...)
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, words[i%len(words)]...)
		b = append(b, `"},"logprobs":null,"finish_reason":null}]`+tail...)
	}
	b = append(b, head+`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`+tail...)
	b = append(b, head+`],"usage":{"prompt_tokens":25,"completion_tokens":50,"total_tokens":75,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0,"cache_write_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}}`+"\n\n"...)
	return append(b, "data: [DONE]\n\n"...)
}

// BenchmarkStreamUsageNull is an OpenAI stream with "usage":null in every
// chunk (what the proxy's include_usage injection produces), metered alone
// and with the per-chunk usage-only check the proxy makes to drop the extra
// chunk for clients that did not ask for usage.
func BenchmarkStreamUsageNull(b *testing.B) {
	for _, c := range []struct {
		name string
		body []byte
		cat  usage.Category
	}{
		{"sim_chat_50", usageNullStream(50), usage.CategoryChatCompletions},
		{"openai_completions_stream_include_usage.sse", readFixture(b, "openai_completions_stream_include_usage.sse"), usage.CategoryCompletions},
	} {
		var sc SSEScanner
		var st StreamState
		var u usage.Usage
		dropped := 0
		for _, m := range []struct {
			name string
			fn   func(Event)
		}{
			{"OnEvent", func(ev Event) { st.OnEvent(ev.Name, ev.Data) }},
			{"OnEvent+IsUsageOnlyChunk", func(ev Event) {
				st.OnEvent(ev.Name, ev.Data)
				if IsUsageOnlyChunk(ev.Data) {
					dropped++
				}
			}},
			{"OnEvent+LastWasUsageOnly", func(ev Event) {
				st.OnEvent(ev.Name, ev.Data)
				if st.LastWasUsageOnly() {
					dropped++
				}
			}},
		} {
			b.Run(c.name+"/"+m.name, func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(c.body)))
				for b.Loop() {
					streamThrough(&sc, &st, OpenAI, c.cat, c.body, m.fn)
					st.Result(&u)
				}
				if !u.Reported() {
					b.Fatal("no usage")
				}
			})
		}
		_ = dropped
	}
}
