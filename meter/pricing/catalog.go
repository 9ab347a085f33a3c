// Package pricing is the price catalog: it turns a request's normalised
// usage.Usage into a cost.
//
// The default catalog is LiteLLM's model_prices_and_context_window.json,
// embedded at build time (see SOURCE.md and LITELLM_LICENSE); an optional
// pricing_file in the same schema overrides or extends it. The JSON is parsed
// once, at start, into compact structs holding integer rates: pico-dollars
// (1e-12 USD) per unit, read exactly from the decimal text, never through a
// float. Costs are integer nano-dollars (1e-9 USD), rounded half-up once per
// request.
//
// Hot-path promise: once a (upstream, provider, model) triple has been looked
// up, Catalog.Lookup of it again is lock-free and allocation-free, and
// Price.Cost never allocates.
//
// Known limitations: usage.Usage carries no image count, so rates per image,
// per pixel, per character, per query (other than server-side web search) and
// per second of video are not applied; a model priced only that way is not
// priced (Lookup reports ok=false). Web searches are priced at
// search_context_size_medium.
package pricing

import (
	_ "embed"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

//go:embed litellm_model_prices.json
var embeddedCatalog string

// maxCached bounds the lookup cache: the model comes from client requests, so
// distinct triples beyond this are resolved on every call instead of growing
// memory without bound.
const maxCached = 8192

// Catalog is a set of model prices with a lookup cache. It is immutable after
// Load or Parse (apart from the cache) and safe for concurrent use; it must
// not be copied.
type Catalog struct {
	prices map[string]*Price
	keys   []string // sorted

	cache  sync.Map // lookupKey → *Price (nil: not priced)
	cached atomic.Int64
}

// lookupKey is the cache key of one Lookup.
type lookupKey struct {
	upstream, provider, model string
}

// Load returns the embedded catalog, overridden and extended by the LiteLLM
// schema file at overridePath when it is not "". An override entry replaces
// the embedded entry of the same key as a whole (fields are not merged: a
// rate the override leaves out is absent, and falls back as documented on
// Price.Cost). The embedded catalog is read leniently (malformed fields are
// skipped); the override file strictly: invalid JSON or a malformed, negative
// or out-of-range rate is an error naming the model and the field.
func Load(overridePath string) (*Catalog, error) {
	prices, err := parseEntries(embeddedCatalog, false)
	if err != nil {
		return nil, fmt.Errorf("cannot parse embedded pricing catalog: %w", err)
	}
	if overridePath != "" {
		data, err := os.ReadFile(overridePath)
		if err != nil {
			return nil, fmt.Errorf("cannot load pricing file %q: %w", overridePath, err)
		}
		over, err := parseEntries(string(data), true)
		if err != nil {
			return nil, fmt.Errorf("cannot load pricing file %q: %w", overridePath, err)
		}
		for k, p := range over {
			prices[k] = p
		}
	}
	return newCatalog(prices), nil
}

// Parse returns a catalog of exactly the entries of data, a LiteLLM
// model_prices JSON document, read strictly as Load reads an override file.
// Parse does not retain data.
func Parse(data []byte) (*Catalog, error) {
	prices, err := parseEntries(string(data), true)
	if err != nil {
		return nil, err
	}
	return newCatalog(prices), nil
}

func newCatalog(prices map[string]*Price) *Catalog {
	keys := make([]string, 0, len(prices))
	for k := range prices {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return &Catalog{prices: prices, keys: keys}
}

// Len returns the number of models in the catalog (LiteLLM's sample_spec is
// not one).
func (c *Catalog) Len() int { return len(c.prices) }

// Each calls fn for every model of the catalog in key order, including
// entries that Lookup does not return because they have no rate Cost can
// apply. p is shared and read-only; fn may keep it.
func (c *Catalog) Each(fn func(key string, p *Price)) {
	for _, k := range c.keys {
		fn(k, c.prices[k])
	}
}

// Lookup finds the price of model as served by the configured upstream
// (e.g. "openai", "my-groq") speaking dialect or provider hint provider
// ("openai", "anthropic", "gemini"). It tries, for the model as given and
// then for its normalised forms (without a "models/" prefix, with "@" of a
// Vertex version turned into "-", without a dated or "-latest" suffix,
// without a vendor prefix such as OpenRouter's "openai/"):
// "{upstream}/{model}", "{provider}/{model}", LiteLLM's prefix for provider
// (e.g. "gemini/{model}"), then "{model}". Entries without a rate Cost can
// apply are skipped. ok is false when no entry prices the model; the caller
// must then record the request as unpriced, not as free.
//
// Lookup does not retain its arguments (it copies them into its cache). A
// repeated lookup of the same triple is lock-free and allocation-free.
func (c *Catalog) Lookup(upstream, provider, model string) (*Price, bool) {
	k := lookupKey{upstream, provider, model}
	if v, ok := c.cache.Load(k); ok {
		p := v.(*Price)
		return p, p != nil
	}
	p := c.resolve(upstream, provider, model)
	if c.cached.Load() < maxCached {
		k = lookupKey{strings.Clone(upstream), strings.Clone(provider), strings.Clone(model)}
		if _, loaded := c.cache.LoadOrStore(k, p); !loaded {
			c.cached.Add(1)
		}
	}
	return p, p != nil
}

// resolve runs the lookup order documented on Lookup, without the cache.
func (c *Catalog) resolve(upstream, provider, model string) *Price {
	var names [8]string
	n := 0
	add := func(s string) {
		if s == "" || slices.Contains(names[:n], s) {
			return
		}
		names[n] = s
		n++
	}
	add(model)
	m := strings.TrimPrefix(model, "models/")
	add(m)
	if i := strings.LastIndexByte(m, '@'); i > 0 {
		add(m[:i] + "-" + m[i+1:])
	}
	add(stripVersion(m))
	if i := strings.IndexByte(m, '/'); i > 0 {
		v := m[i+1:]
		add(v)
		add(stripVersion(v))
	}
	alias := litellmPrefix(provider)
	for _, name := range names[:n] {
		for _, prefix := range [...]string{upstream, provider, alias} {
			if prefix == "" {
				continue
			}
			if p := c.priced(prefix + "/" + name); p != nil {
				return p
			}
		}
		if p := c.priced(name); p != nil {
			return p
		}
	}
	return nil
}

// priced returns the entry of key when it has a rate Cost can apply.
func (c *Catalog) priced(key string) *Price {
	p := c.prices[key]
	if p == nil || !p.priceable() {
		return nil
	}
	return p
}

// litellmPrefix maps a provider hint to LiteLLM's key prefix when they differ.
func litellmPrefix(provider string) string {
	switch provider {
	case "google", "google-ai-studio", "googleai":
		return "gemini"
	case "vertex", "vertexai", "google-vertex":
		return "vertex_ai"
	}
	return ""
}

// stripVersion removes a dated snapshot suffix ("-2024-08-06", "-20241022",
// "@20241022") or "-latest" from model, or returns model unchanged.
func stripVersion(model string) string {
	if s, ok := strings.CutSuffix(model, "-latest"); ok && s != "" {
		return s
	}
	// "-YYYY-MM-DD"
	if n := len(model); n > 11 && model[n-11] == '-' && model[n-6] == '-' && model[n-3] == '-' &&
		digits(model[n-10:n-6]) && digits(model[n-5:n-3]) && digits(model[n-2:]) {
		return model[:n-11]
	}
	// "-YYYYMMDD" or "@YYYYMMDD"
	if n := len(model); n > 9 && (model[n-9] == '-' || model[n-9] == '@') && digits(model[n-8:]) {
		return model[:n-9]
	}
	return model
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
