package dialect

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

// seedFixtures adds every payload fixture with the given suffixes to f.
func seedFixtures(f *testing.F, suffixes ...string) {
	entries, err := os.ReadDir(fixtureDir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if notPayloads[name] || strings.HasSuffix(name, ".want.json") {
			continue
		}
		for _, s := range suffixes {
			if strings.HasSuffix(name, s) {
				b, err := os.ReadFile(filepath.Join(fixtureDir, name))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
}

func checkCounts(t *testing.T, u *usage.Usage) {
	t.Helper()
	for _, c := range []usage.Count{u.Input, u.CacheRead, u.CacheWrite, u.CacheWrite1h, u.InputAudio, u.InputImage,
		u.Output, u.Reasoning, u.OutputAudio, u.OutputImage, u.AudioMillis, u.WebSearchRequests, u.ProviderCostNano} {
		if c.N < 0 || (!c.OK && c.N != 0) {
			t.Fatalf("bad count %+v in %+v", c, u)
		}
	}
}

func FuzzSSEScanner(f *testing.F) {
	seedFixtures(f, ".sse")
	f.Add([]byte("data: a\r\r\n\r\n: c\rdata:b\n\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var raw []byte
		var ref []ownedEvent
		var sc SSEScanner
		fn := func(ev Event) {
			raw = append(raw, ev.Raw...)
			ref = append(ref, ownedEvent{string(ev.Name), string(ev.Data), string(ev.Raw)})
		}
		sc.Feed(in, fn)
		sc.Finish(fn)
		if !bytes.Equal(raw, in) {
			t.Fatalf("Raw concatenation %q != input %q", raw, in)
		}
		// Chunking-invariant: split in three at data-derived points.
		i, j := 0, 0
		if len(in) > 0 {
			i = int(in[0]) % (len(in) + 1)
			j = i + int(in[len(in)-1])%(len(in)-i+1)
		}
		got := collectEvents([][]byte{in[:i], in[i:j], in[j:]})
		if len(got) != len(ref) {
			t.Fatalf("split %d,%d: %d events, want %d", i, j, len(got), len(ref))
		}
		for k := range got {
			if got[k] != ref[k] {
				t.Fatalf("split %d,%d: event %d %q, want %q", i, j, k, got[k], ref[k])
			}
		}
	})
}

func FuzzArrayScanner(f *testing.F) {
	seedFixtures(f, "gemini_stream_json_array.json")
	f.Add([]byte(`[{"a":"}\"{"},{"b":[1,{"c":2}]}]`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var whole [][]byte
		var a ArrayScanner
		a.Feed(in, func(e []byte) { whole = append(whole, bytes.Clone(e)) })
		var total int
		for _, e := range whole {
			if len(e) == 0 || (e[0] != '{' && e[0] != '[') {
				t.Fatalf("element %q does not start a container", e)
			}
			total += len(e)
		}
		if total > len(in) {
			t.Fatalf("elements longer than the input")
		}
		a.Reset()
		k := 0
		for i := range in {
			a.Feed(in[i:i+1], func(e []byte) {
				if k >= len(whole) || !bytes.Equal(e, whole[k]) {
					t.Fatalf("1-byte chunks: element %d %q differs", k, e)
				}
				k++
			})
		}
		if k != len(whole) {
			t.Fatalf("1-byte chunks gave %d elements, want %d", k, len(whole))
		}
	})
}

func FuzzExtractBody(f *testing.F) {
	seedFixtures(f, ".json")
	f.Add([]byte("<html><title>502</title></html>"))
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, d := range []Dialect{OpenAI, Anthropic, Gemini} {
			for _, cat := range []usage.Category{usage.CategoryChatCompletions, usage.CategoryResponses, usage.CategoryEmbeddings, usage.CategoryAudio} {
				for _, status := range []int{200, 429, 502} {
					var u usage.Usage
					ei := ExtractBody(d, cat, status, body, &u)
					checkCounts(t, &u)
					if status >= 400 && ei.Type == usage.ErrNone {
						t.Fatalf("status %d classified as success", status)
					}
					if len(ei.Message) > MaxErrorMessage {
						t.Fatalf("message of %d bytes", len(ei.Message))
					}
				}
			}
			_ = OutputTextOf(d, usage.CategoryChatCompletions, body, nil)
			_ = PromptText(d, body, nil)
			_ = InspectRequest(d, []byte("/v1beta/models/m:streamGenerateContent"), []byte("alt=sse"), body)
		}
		if out, err := InjectIncludeUsage(nil, body); err == nil {
			ri := InspectRequest(OpenAI, nil, nil, out)
			if !ri.IncludeUsage {
				t.Fatalf("after injection include_usage is not true: %s", out)
			}
		}
		_ = IsUsageOnlyChunk(body)
	})
}

// fuzzStream runs a stream body through the scanners and StreamState of d.
func fuzzStream(f *testing.F, d Dialect, seeds ...string) {
	for _, s := range seeds {
		seedFixtures(f, s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, cat := range []usage.Category{usage.CategoryChatCompletions, usage.CategoryResponses, usage.CategoryAudio} {
			var st StreamState
			st.Reset(d, cat)
			var sc SSEScanner
			fn := func(ev Event) { st.OnEvent(ev.Name, ev.Data) }
			sc.Feed(body, fn)
			sc.Finish(fn)
			for _, line := range bytes.Split(body, []byte("\n")) {
				st.OnEvent(nil, line)
			}
			var as ArrayScanner
			as.Feed(body, func(e []byte) { st.OnEvent(nil, e) })
			var u usage.Usage
			ei := st.Result(&u)
			checkCounts(t, &u)
			if len(ei.Message) > MaxErrorMessage || len(st.OutputText()) > MaxOutputText {
				t.Fatalf("unbounded output")
			}
		}
	})
}

func FuzzStreamOpenAI(f *testing.F) {
	fuzzStream(f, OpenAI, "openai_chat_stream_no_usage.sse", "openai_responses_stream_docs_example.sse", "openrouter_chat_stream_with_midstream_error.sse",
		"openai_responses_stream_error_insufficient_quota.jsonl", "xai_chat_stream.jsonl", "groq_chat_stream_tool_call.jsonl", "openai_images_stream_docs_example.sse")
}

func FuzzStreamAnthropic(f *testing.F) {
	fuzzStream(f, Anthropic, "anthropic_messages_stream_basic.sse", "anthropic_messages_stream_compaction.sse",
		"anthropic_stream_error_overloaded.sse", "anthropic_messages_stream_server_tool_cache.jsonl")
}

func FuzzStreamGemini(f *testing.F) {
	fuzzStream(f, Gemini, "gemini_stream_json_array.json", "gemini_stream_thinking.jsonl", "gemini_error_429.json")
}
