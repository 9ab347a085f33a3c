package estimate

import (
	"strings"
	"sync"
	"testing"
)

func TestEncoding(t *testing.T) {
	f := func(model, want string) {
		t.Helper()
		if got := Encoding(model); got != want {
			t.Errorf("Encoding(%q) = %q, want %q", model, got, want)
		}
	}
	for _, m := range []string{"gpt-4o", "gpt-4o-mini", "openai/gpt-4o-2024-08-06", "GPT-4.1-nano", "gpt-5",
		"gpt-5-mini", "o1", "o3-mini", "o4-mini", "chatgpt-4o-latest", "ft:gpt-4o-mini:acme::abc",
		"claude-sonnet-4-5", "anthropic/claude-haiku-4-5", "gemini-2.5-flash", "", "unknown"} {
		f(m, O200kBase)
	}
	for _, m := range []string{"gpt-4", "gpt-4-turbo", "gpt-4-0613", "gpt-3.5-turbo", "gpt-35-turbo",
		"text-embedding-3-small", "text-embedding-ada-002", "openai/text-embedding-3-large", "ft:gpt-3.5-turbo:x",
		"davinci-002"} {
		f(m, Cl100kBase)
	}
}

func TestCount(t *testing.T) {
	e := New()
	f := func(model, text string, want int64) {
		t.Helper()
		if got := e.Count(model, []byte(text)); got != want {
			t.Errorf("Count(%q, %q) = %d, want %d", model, text, got, want)
		}
	}
	// Published values: OpenAI Cookbook, "How to count tokens with tiktoken"
	// (examples/How_to_count_tokens_with_tiktoken.ipynb):
	// num_tokens_from_string("tiktoken is great!", "cl100k_base") → 6, and
	// compare_encodings: "antidisestablishmentarianism" is 6 tokens in both
	// cl100k_base and o200k_base, "2 + 2 = 4" 7 tokens in both,
	// "お誕生日おめでとう" 9 tokens in cl100k_base and 8 in o200k_base.
	f("gpt-4", "tiktoken is great!", 6)
	f("gpt-3.5-turbo", "antidisestablishmentarianism", 6)
	f("gpt-4o", "antidisestablishmentarianism", 6)
	f("text-embedding-3-small", "2 + 2 = 4", 7)
	f("gpt-4o-mini", "2 + 2 = 4", 7)
	f("gpt-4", "お誕生日おめでとう", 9)
	f("gpt-4o", "お誕生日おめでとう", 8)

	// Regression values: the library's own output (tiktoken-go/tokenizer
	// v0.10.0), not a published source.
	f("gpt-4o", "tiktoken is great!", 6)
	f("claude-sonnet-4-5", "Hello, world! How are you today?", 9)
	f("gemini-2.5-flash", "lorem ipsum dolor sit amet", 6)
	f("gpt-3.5-turbo", "Hello, world! How are you today?", 9)

	// Empty text is 0 whatever the model.
	f("gpt-4o", "", 0)
	f("gpt-4", "", 0)
	if got := e.Count("gpt-4o", nil); got != 0 {
		t.Errorf("Count(nil) = %d", got)
	}
	// Invalid UTF-8 is counted, not rejected.
	f("gpt-4o", "\xff\xfe", 1)
}

func TestCountConcurrent(t *testing.T) {
	e := New()
	text := []byte(strings.Repeat("The quick brown fox jumps over the lazy dog. ", 20))
	want := New().Count("gpt-4o", text)
	var wg sync.WaitGroup
	got := make([]int64, 8)
	for i := range got {
		wg.Go(func() {
			model := "gpt-4o"
			if i%2 == 1 {
				model = "claude-haiku-4-5"
			}
			got[i] = e.Count(model, text)
		})
	}
	wg.Wait()
	for i, n := range got {
		if n != want {
			t.Errorf("goroutine %d counted %d, want %d", i, n, want)
		}
	}
}
