package pricing_test

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/infermeter/infermeter/meter/pricing"
	"github.com/infermeter/infermeter/meter/usage"
)

func TestEmbeddedCatalog(t *testing.T) {
	c := loadDefault(t)
	// 1,804 top-level keys in the file, minus sample_spec.
	if got := c.Len(); got != 1803 {
		t.Fatalf("Len() = %d, want 1803", got)
	}
	var keys []string
	c.Each(func(key string, p *pricing.Price) {
		if p.Key() != key {
			t.Errorf("Each: key %q holds price of %q", key, p.Key())
		}
		keys = append(keys, key)
	})
	if len(keys) != c.Len() {
		t.Fatalf("Each visited %d models, want %d", len(keys), c.Len())
	}
	if !slices.IsSorted(keys) {
		t.Fatal("Each did not visit keys in order")
	}
	if slices.Contains(keys, "sample_spec") {
		t.Fatal("sample_spec is in the catalog")
	}

	// The embedded file is also clean under the strict reader.
	data, err := os.ReadFile("litellm_model_prices.json")
	if err != nil {
		t.Fatal(err)
	}
	strict, err := pricing.Parse(data)
	if err != nil {
		t.Fatalf("Parse(embedded file): %v", err)
	}
	if strict.Len() != 1803 {
		t.Fatalf("Parse(embedded file).Len() = %d, want 1803", strict.Len())
	}
}

func TestLookup(t *testing.T) {
	c := loadDefault(t)
	f := func(upstream, provider, model, wantKey string) {
		t.Helper()
		// Twice: the resolution, then the cached answer.
		for range 2 {
			p, ok := c.Lookup(upstream, provider, model)
			got := ""
			if ok {
				got = p.Key()
			}
			if got != wantKey {
				t.Errorf("Lookup(%q, %q, %q) = %q, want %q", upstream, provider, model, got, wantKey)
			}
			if ok != (p != nil) {
				t.Errorf("Lookup(%q, %q, %q): ok=%v with price %v", upstream, provider, model, ok, p)
			}
		}
	}
	f("openai", "openai", "gpt-4o", "gpt-4o")
	// A dated snapshot finds its own entry when the catalog has one...
	f("openai", "openai", "gpt-4o-2024-08-06", "gpt-4o-2024-08-06")
	// ...and the base model when it does not.
	f("openai", "openai", "gpt-4o-2099-12-31", "gpt-4o")
	f("openai", "openai", "gpt-4o-latest", "gpt-4o")
	f("anthropic", "anthropic", "claude-3-5-sonnet-20241022", "claude-3-5-sonnet-20241022")
	f("anthropic", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5")
	f("anthropic", "anthropic", "claude-sonnet-4-5-20991231", "claude-sonnet-4-5")
	f("anthropic", "anthropic", "claude-3-5-sonnet-latest", "claude-3-5-sonnet-latest")
	// Vertex "@" versions.
	f("anthropic", "anthropic", "claude-3-5-sonnet@20241022", "claude-3-5-sonnet-20241022")
	f("anthropic", "anthropic", "claude-sonnet-4-5@20991231", "claude-sonnet-4-5")
	// The provider's entry wins over the bare (Vertex) one.
	f("gemini", "gemini", "gemini-2.5-flash", "gemini/gemini-2.5-flash")
	f("google", "google", "gemini-2.5-flash", "gemini/gemini-2.5-flash")
	f("gemini", "gemini", "models/gemini-2.5-pro", "gemini/gemini-2.5-pro")
	f("vertex", "vertex", "gemini-2.5-pro", "gemini-2.5-pro")
	// The upstream's own entry wins over the bare one.
	f("deepseek", "openai", "deepseek-chat", "deepseek/deepseek-chat")
	f("my-deepseek", "openai", "deepseek-chat", "deepseek-chat")
	f("groq", "openai", "llama-3.1-8b-instant", "groq/llama-3.1-8b-instant")
	// OpenRouter model ids.
	f("openrouter", "openai", "openai/gpt-4o", "openrouter/openai/gpt-4o")
	f("my-router", "openai", "openai/gpt-4o", "gpt-4o")
	// Not priced: never a silent $0.
	f("openai", "openai", "no-such-model", "")
	f("openai", "openai", "", "")
	f("", "", "", "")
	f("my-groq", "openai", "llama-3.1-8b-instant", "")
	// Priced only per pixel: not something Cost can apply.
	f("openai", "openai", "1024-x-1024/dall-e-2", "")
	f("openai", "openai", "models/", "")
	f("openai", "openai", "-latest", "")
	f("openai", "openai", "@20241022", "")
}

func TestLookupConcurrent(t *testing.T) {
	c := loadDefault(t)
	models := []struct{ upstream, provider, model, want string }{
		{"openai", "openai", "gpt-4o", "gpt-4o"},
		{"anthropic", "anthropic", "claude-sonnet-4-5", "claude-sonnet-4-5"},
		{"gemini", "gemini", "models/gemini-2.5-pro", "gemini/gemini-2.5-pro"},
		{"openai", "openai", "unknown-model", ""},
	}
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				m := models[(g+i)%len(models)]
				p, ok := c.Lookup(m.upstream, m.provider, m.model)
				got := ""
				if ok {
					got = p.Key()
				}
				if got != m.want {
					select {
					case errs <- fmt.Sprintf("Lookup(%q) = %q, want %q", m.model, got, m.want):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestLoadOverride(t *testing.T) {
	c, err := pricing.Load("testdata/override.json")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	// Two new keys: my-model and my-groq/llama-3.1-8b-instant.
	if got := c.Len(); got != 1805 {
		t.Fatalf("Len() = %d, want 1805", got)
	}

	f := func(upstream, provider, model string, u usage.Usage, wantKey string, wantNano int64, wantCacheRead bool) {
		t.Helper()
		p, ok := c.Lookup(upstream, provider, model)
		if !ok {
			t.Fatalf("Lookup(%q, %q, %q): not found", upstream, provider, model)
		}
		if p.Key() != wantKey {
			t.Fatalf("Key() = %q, want %q", p.Key(), wantKey)
		}
		if got := p.Cost(&u); got != wantNano {
			t.Errorf("%s: Cost = %d, want %d", wantKey, got, wantNano)
		}
		if got := p.HasCacheRead(); got != wantCacheRead {
			t.Errorf("%s: HasCacheRead() = %v, want %v", wantKey, got, wantCacheRead)
		}
	}
	cached := usage.Usage{Input: of(2000), CacheRead: of(1500), Output: of(100)}
	// The override replaces gpt-4o as a whole: in 5e-06, out 2e-05 and no
	// cache-read rate any more, so cached tokens bill at the input rate:
	// 2000 × 5e-06 = 10_000_000 nano; 100 × 2e-05 = 2_000_000.
	f("openai", "openai", "gpt-4o", cached, "gpt-4o", 12_000_000, false)
	// Other entries are untouched (gpt-4o-2024-08-06 as in TestCost).
	f("openai", "openai", "gpt-4o-2024-08-06", cached, "gpt-4o-2024-08-06", 4_125_000, true)
	// A new model (its input rate written as a string): in 1e-06, cache read
	// 1e-07, out 2e-06: 500 × 1e-06 = 500_000; 1500 × 1e-07 = 150_000;
	// 100 × 2e-06 = 200_000.
	f("my-upstream", "openai", "my-model", cached, "my-model", 850_000, true)
	// An upstream-specific entry wins: 1000 × 1e-07 + 1000 × 1e-07 = 200_000 nano.
	f("my-groq", "openai", "llama-3.1-8b-instant", usage.Usage{Input: of(1000), Output: of(1000)},
		"my-groq/llama-3.1-8b-instant", 200_000, false)
	// The embedded groq entry still serves the "groq" upstream:
	// 1000 × 5e-08 + 1000 × 8e-08 = 130_000 nano.
	f("groq", "openai", "llama-3.1-8b-instant", usage.Usage{Input: of(1000), Output: of(1000)},
		"groq/llama-3.1-8b-instant", 130_000, false)
}

func TestLoadErrors(t *testing.T) {
	f := func(path, want string) {
		t.Helper()
		c, err := pricing.Load(path)
		if err == nil {
			t.Fatalf("Load(%q) = %d models, want error %q", path, c.Len(), want)
		}
		if err.Error() != want {
			t.Fatalf("Load(%q) error =\n  %s\nwant\n  %s", path, err, want)
		}
	}
	f("testdata/bad_number.json",
		`cannot load pricing file "testdata/bad_number.json": model "my-model": input_cost_per_token: "abc" is not a number`)
	f("testdata/bad_negative.json",
		`cannot load pricing file "testdata/bad_negative.json": model "my-model": output_cost_per_token: -2e-06 is negative`)
	f("testdata/bad_json.json",
		`cannot load pricing file "testdata/bad_json.json": not valid JSON`)

	_, err := pricing.Load("testdata/missing.json")
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load(missing file) error = %v, want fs.ErrNotExist", err)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		name, data, want string
	}{
		{"empty", ``, `not valid JSON`},
		{"truncated", `{"m": {"input_cost_per_token": 1e-06`, `not valid JSON`},
		{"array", `[]`, `top level is not a JSON object`},
		{"entry not object", `{"m": 1}`, `model "m": entry is not a JSON object`},
		{"string", `{"m": {"input_cost_per_token": "abc"}}`, `model "m": input_cost_per_token: "abc" is not a number`},
		{"bool", `{"m": {"input_cost_per_token": true}}`, `model "m": input_cost_per_token: true is not a number`},
		{"object", `{"m": {"output_cost_per_token": {"a": 1}}}`, `model "m": output_cost_per_token: {"a": 1} is not a number`},
		{"negative", `{"m": {"output_cost_per_token": -1e-06}}`, `model "m": output_cost_per_token: -1e-06 is negative`},
		{"negative string", `{"m": {"cache_read_input_token_cost": "-0.5"}}`, `model "m": cache_read_input_token_cost: "-0.5" is negative`},
		{"out of range", `{"m": {"input_cost_per_token": 1e300}}`, `model "m": input_cost_per_token: 1e300 is out of range`},
		{"above threshold", `{"m": {"input_cost_per_token_above_200k_tokens": "x"}}`, `model "m": input_cost_per_token_above_200k_tokens: "x" is not a number`},
		{"tier", `{"m": {"output_cost_per_token_priority": []}}`, `model "m": output_cost_per_token_priority: [] is not a number`},
		{"search context", `{"m": {"search_context_cost_per_query": {"search_context_size_medium": "x"}}}`, `model "m": search_context_cost_per_query.search_context_size_medium: "x" is not a number`},
		{"search context type", `{"m": {"search_context_cost_per_query": 1}}`, `model "m": search_context_cost_per_query: 1 is not a JSON object`},
		{"tiered not array", `{"m": {"tiered_pricing": {}}}`, `model "m": tiered_pricing: {} is not an array`},
		{"tiered element", `{"m": {"tiered_pricing": [1]}}`, `model "m": tiered_pricing[0]: 1 is not a JSON object`},
		{"tiered rate", `{"m": {"tiered_pricing": [{"range": [0, 10], "input_cost_per_token": 1e-06}, {"range": [10, 20], "input_cost_per_token": "x"}]}}`, `model "m": tiered_pricing[1].input_cost_per_token: "x" is not a number`},
		{"tiered range", `{"m": {"tiered_pricing": [{"range": [10], "input_cost_per_token": 1e-06}]}}`, `model "m": tiered_pricing[0].range: [10] is not a [low, high] token range`},
		{"tiered overlap", `{"m": {"tiered_pricing": [{"range": [0, 10]}, {"range": [5, 20]}]}}`, `model "m": tiered_pricing[1].range: [5, 20] overlaps the previous range`},
		{"long value", `{"m": {"input_cost_per_token": "` + strings.Repeat("a", 72) + `"}}`,
			`model "m": input_cost_per_token: "` + strings.Repeat("a", 63) + `… is not a number`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := pricing.Parse([]byte(tc.data))
			if err == nil {
				t.Fatalf("Parse = %d models, want error %q", c.Len(), tc.want)
			}
			if err.Error() != tc.want {
				t.Fatalf("Parse error =\n  %s\nwant\n  %s", err, tc.want)
			}
		})
	}
}

func TestParseAccepts(t *testing.T) {
	// Numeric strings, nulls, integers, unknown fields, sample_spec and
	// per-query tiers are accepted.
	data := `{
		"sample_spec": {"input_cost_per_token": "documentation"},
		"a": {"input_cost_per_token": "2.5e-06", "output_cost_per_token": 1, "max_tokens": "lots"},
		"b": {"input_cost_per_token": null, "output_cost_per_token": 3.75e-06, "supports_vision": true},
		"c": {"tiered_pricing": [{"input_cost_per_query": 0.005, "max_results_range": [0, 25]}], "input_cost_per_query": 0.005}
	}`
	c, err := pricing.Parse([]byte(data))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Len() != 3 {
		t.Fatalf("Len() = %d, want 3", c.Len())
	}
	f := func(model string, wantOK bool, wantIn, wantOut int64) {
		t.Helper()
		p, ok := c.Lookup("", "", model)
		if ok != wantOK {
			t.Fatalf("Lookup(%q) ok = %v, want %v", model, ok, wantOK)
		}
		if !ok {
			return
		}
		if p.InputRatePico() != wantIn || p.OutputRatePico() != wantOut {
			t.Errorf("%s: rates %d/%d, want %d/%d", model, p.InputRatePico(), p.OutputRatePico(), wantIn, wantOut)
		}
	}
	f("a", true, 2_500_000, 1_000_000_000_000)
	f("b", true, 0, 3_750_000)
	f("c", false, 0, 0) // priced per query only
}
