package dialect

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infermeter/infermeter/meter/usage"
)

// TestLastWasUsageOnly checks, event by event over every OpenAI and Gemini
// stream fixture and the simulator-shaped stream, that
// StreamState.LastWasUsageOnly equals IsUsageOnlyChunk of the event's data.
func TestLastWasUsageOnly(t *testing.T) {
	type stream struct {
		name string
		d    Dialect
		cat  usage.Category
		body []byte
	}
	streams := []stream{{"sim", OpenAI, usage.CategoryChatCompletions, usageNullStream(5)}}
	paths, _ := filepath.Glob(filepath.Join(fixtureDir, "*.want.json"))
	for _, wp := range paths {
		g := loadGolden(t, wp)
		d, cat := g.dialectCat(t)
		if g.Mode != "sse" && g.Mode != "jsonl" || d == Anthropic || cat == usage.CategoryResponses {
			continue
		}
		name := strings.TrimSuffix(filepath.Base(wp), ".want.json")
		b, err := os.ReadFile(filepath.Join(fixtureDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if g.Mode == "jsonl" {
			// Frame the lines as SSE events.
			var sse []byte
			for _, line := range bytes.Split(b, []byte("\n")) {
				sse = append(append(append(sse, "data: "...), line...), "\n\n"...)
			}
			b = sse
		}
		streams = append(streams, stream{name, d, cat, b})
	}
	usageChunks := 0
	for _, s := range streams {
		var st StreamState
		st.Reset(s.d, s.cat)
		if st.LastWasUsageOnly() {
			t.Fatalf("%s: true before any event", s.name)
		}
		var sc SSEScanner
		fn := func(ev Event) {
			st.OnEvent(ev.Name, ev.Data)
			want := IsUsageOnlyChunk(ev.Data)
			if got := st.LastWasUsageOnly(); got != want {
				t.Fatalf("%s: LastWasUsageOnly = %v, IsUsageOnlyChunk = %v for %q", s.name, got, want, ev.Data)
			}
			if want {
				usageChunks++
			}
		}
		sc.Feed(s.body, fn)
		sc.Finish(fn)
	}
	// The simulator stream, openai_completions_stream_include_usage.sse and
	// xai_chat_stream.jsonl end with the usage-only chunk.
	if usageChunks != 3 {
		t.Fatalf("%d usage-only chunks seen, want 3", usageChunks)
	}

	var st StreamState
	st.Reset(OpenAI, usage.CategoryChatCompletions)
	st.OnEvent(nil, []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))
	if !st.LastWasUsageOnly() {
		t.Fatal("usage-only chunk not reported")
	}
	st.OnEvent(nil, []byte(`[DONE]`))
	if st.LastWasUsageOnly() {
		t.Fatal("stale after a non-JSON event")
	}
	st.OnEvent(nil, []byte(`{"choices":[],"usage":{"prompt_tokens":1}}`))
	st.Reset(OpenAI, usage.CategoryChatCompletions)
	if st.LastWasUsageOnly() {
		t.Fatal("stale after Reset")
	}
	st.Reset(Anthropic, usage.CategoryChatCompletions)
	st.OnEvent([]byte("message_delta"), []byte(`{"type":"message_delta","choices":[],"usage":{"output_tokens":1}}`))
	if st.LastWasUsageOnly() {
		t.Fatal("true for an Anthropic stream")
	}
}

// TestStreamKeySemantics: stream chunks are read by their top-level
// members, as ExtractBody reads bodies: the first member of a name wins,
// names compare unescaped, and a name elsewhere in the chunk (nested, or
// text) does not count.
func TestStreamKeySemantics(t *testing.T) {
	f := func(d Dialect, events []string, want map[string]int64, wantText string) {
		t.Helper()
		var st StreamState
		st.Reset(d, usage.CategoryChatCompletions)
		for _, e := range events {
			st.OnEvent(nil, []byte(e))
		}
		var u usage.Usage
		st.Result(&u)
		if got := usageMap(&u); len(got) != len(want) || string(st.OutputText()) != wantText {
			t.Errorf("got %v %q, want %v %q", got, st.OutputText(), want, wantText)
			return
		}
		for k, v := range want {
			if usageMap(&u)[k] != v {
				t.Errorf("got %v, want %v", usageMap(&u), want)
			}
		}
	}
	type m = map[string]int64
	f(OpenAI, []string{`{"choices":[{"delta":{"content":"a"}}],"usage":null,"usage":{"prompt_tokens":9}}`}, m{}, "a")
	f(OpenAI, []string{`{"choices":[],"us\u0061ge":{"prompt_tokens":3,"completion_tokens":1}}`}, m{"input": 3, "output": 1}, "")
	f(OpenAI, []string{`{"x_groq":{"id":"r"},"x_groq":{"usage":{"prompt_tokens":5,"completion_tokens":2}}}`}, m{"input": 5, "output": 2}, "")
	// A transcription delta whose text is "choices" is still text.
	f(OpenAI, []string{`{"type":"transcript.text.delta","delta":"choices","meta":{"choices":1}}`}, m{}, "choices")
	// Gemini: usageMetadata nested in something else is not the usage.
	f(Gemini, []string{`{"candidates":[{"content":{"parts":[{"text":"g"}]},"usageMetadata":{"promptTokenCount":99}}],"usage":{"prompt_tokens":4,"completion_tokens":2}}`}, m{"input": 4, "output": 2}, "g")
}
