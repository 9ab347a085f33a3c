package pricing

import (
	"errors"
	"fmt"
	"strings"

	"github.com/infermeter/infermeter/meter/usage"
	"github.com/tidwall/gjson"
)

// sampleSpecKey is LiteLLM's schema documentation entry; it is not a model.
const sampleSpecKey = "sample_spec"

// maxShownValue bounds how much of an offending value an error message quotes.
const maxShownValue = 64

// parseEntries reads a LiteLLM model_prices document into prices keyed by
// model. When strict, any malformed rate is an error naming the model and the
// field; otherwise malformed fields and entries are skipped.
func parseEntries(data string, strict bool) (map[string]*Price, error) {
	if !gjson.Valid(data) {
		return nil, errors.New("not valid JSON")
	}
	root := gjson.Parse(data)
	if !root.IsObject() {
		return nil, errors.New("top level is not a JSON object")
	}
	// One backing array for every entry: ~1,800 small allocations fewer.
	n := 0
	root.ForEach(func(_, _ gjson.Result) bool { n++; return true })
	backing := make([]Price, 0, n)
	out := make(map[string]*Price, n)
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		key := k.String()
		if key == sampleSpecKey {
			return true
		}
		if !v.IsObject() {
			if strict {
				err = fmt.Errorf("model %q: entry is not a JSON object", key)
				return false
			}
			return true
		}
		backing = append(backing, newPrice(key))
		p := &backing[len(backing)-1]
		if e := parseEntry(p, v, strict); e != nil {
			err = fmt.Errorf("model %q: %w", key, e)
			return false
		}
		out[key] = p
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// parseEntry fills p from one catalog entry.
func parseEntry(p *Price, v gjson.Result, strict bool) error {
	var err error
	v.ForEach(func(k, f gjson.Result) bool {
		name := k.String()
		switch name {
		case "litellm_provider":
			if f.Type == gjson.String {
				p.provider = f.Str
			}
			return true
		case "mode":
			if f.Type == gjson.String {
				p.mode = f.Str
			}
			return true
		case "tiered_pricing":
			err = parseRanges(p, f, strict)
			return err == nil
		case "search_context_cost_per_query":
			if !f.IsObject() {
				if strict && f.Type != gjson.Null {
					err = fmt.Errorf("%s: %s is not a JSON object", name, shown(f))
					return false
				}
				return true
			}
			err = setRate(&p.webSearch, name+".search_context_size_medium", f.Get("search_context_size_medium"), strict)
			return err == nil
		}
		if dst := p.rateField(name); dst != nil {
			err = setRate(dst, name, f, strict)
			return err == nil
		}
		if dst := p.aboveField(name); dst != nil {
			err = setRate(dst, name, f, strict)
			return err == nil
		}
		return true
	})
	return err
}

// rateField returns where the plain (non-threshold) rate field name goes, or
// nil when the field is not one Cost uses.
func (p *Price) rateField(name string) *int64 {
	switch name {
	case "input_cost_per_token":
		return &p.in
	case "output_cost_per_token":
		return &p.out
	case "cache_read_input_token_cost":
		return &p.cacheRead
	case "cache_creation_input_token_cost":
		return &p.cacheWrite
	case "cache_creation_input_token_cost_above_1hr":
		return &p.cacheWrite1h
	case "input_cost_per_audio_token":
		return &p.inAudio
	case "input_cost_per_image_token":
		return &p.inImage
	case "output_cost_per_audio_token":
		return &p.outAudio
	case "output_cost_per_image_token":
		return &p.outImage
	case "output_cost_per_reasoning_token":
		return &p.reasoning
	case "input_cost_per_second":
		return &p.perSecond
	case "input_cost_per_token_priority":
		return &p.svc[usage.TierPriority].in
	case "output_cost_per_token_priority":
		return &p.svc[usage.TierPriority].out
	case "cache_read_input_token_cost_priority":
		return &p.svc[usage.TierPriority].cacheRead
	case "input_cost_per_token_flex":
		return &p.svc[usage.TierFlex].in
	case "output_cost_per_token_flex":
		return &p.svc[usage.TierFlex].out
	case "cache_read_input_token_cost_flex":
		return &p.svc[usage.TierFlex].cacheRead
	case "input_cost_per_token_batches":
		return &p.svc[usage.TierBatch].in
	case "output_cost_per_token_batches":
		return &p.svc[usage.TierBatch].out
	}
	return nil
}

// aboveField returns where a long-context field
// ("<rate>_above_<N>k_tokens") goes, creating its threshold tier, or nil when
// name is not one.
func (p *Price) aboveField(name string) *int64 {
	prefixes := [...]string{
		"input_cost_per_token_above_",
		"output_cost_per_token_above_",
		"cache_read_input_token_cost_above_",
		"cache_creation_input_token_cost_above_",
	}
	for i, prefix := range prefixes {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		threshold, ok := parseThreshold(rest)
		if !ok {
			return nil
		}
		t := p.aboveTier(threshold)
		switch i {
		case 0:
			return &t.in
		case 1:
			return &t.out
		case 2:
			return &t.cacheRead
		default:
			return &t.cacheWrite
		}
	}
	return nil
}

// aboveTier returns the tier of threshold, adding it in order if missing.
func (p *Price) aboveTier(threshold int64) *aboveTier {
	i := 0
	for ; i < len(p.above); i++ {
		if p.above[i].threshold == threshold {
			return &p.above[i]
		}
		if p.above[i].threshold > threshold {
			break
		}
	}
	p.above = append(p.above, aboveTier{})
	copy(p.above[i+1:], p.above[i:])
	p.above[i] = aboveTier{threshold: threshold, in: none, out: none, cacheRead: none, cacheWrite: none}
	return &p.above[i]
}

// parseThreshold reads "200k_tokens" (200000) or "1000_tokens" (1000).
func parseThreshold(s string) (int64, bool) {
	s, ok := strings.CutSuffix(s, "_tokens")
	if !ok {
		return 0, false
	}
	mult := int64(1)
	if t, ok := strings.CutSuffix(s, "k"); ok {
		s, mult = t, 1000
	}
	if s == "" || len(s) > 9 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int64(s[i]-'0')
	}
	return n * mult, true
}

// parseRanges reads tiered_pricing: [{input_cost_per_token,
// output_cost_per_token, cache_read_input_token_cost,
// output_cost_per_reasoning_token, range: [lo, hi]}]. Tiers without a token
// range (per-query tiers of search models) are skipped.
func parseRanges(p *Price, f gjson.Result, strict bool) error {
	if !f.IsArray() {
		if strict && f.Type != gjson.Null {
			return fmt.Errorf("tiered_pricing: %s is not an array", shown(f))
		}
		return nil
	}
	var err error
	i := -1
	f.ForEach(func(_, t gjson.Result) bool {
		i++
		if !t.IsObject() {
			if strict {
				err = fmt.Errorf("tiered_pricing[%d]: %s is not a JSON object", i, shown(t))
				return false
			}
			return true
		}
		rg := t.Get("range")
		if !rg.Exists() {
			return true
		}
		bounds := rg.Array()
		if len(bounds) != 2 || bounds[0].Type != gjson.Number || bounds[1].Type != gjson.Number ||
			bounds[0].Float() < 0 || bounds[1].Float() < bounds[0].Float() || bounds[1].Float() > 1e15 {
			if strict {
				err = fmt.Errorf("tiered_pricing[%d].range: %s is not a [low, high] token range", i, shown(rg))
				return false
			}
			return true
		}
		r := rangeTier{lo: int64(bounds[0].Float()), hi: int64(bounds[1].Float()), in: none, out: none, cacheRead: none, reasoning: none}
		fields := [...]struct {
			name string
			dst  *int64
		}{
			{"input_cost_per_token", &r.in},
			{"output_cost_per_token", &r.out},
			{"cache_read_input_token_cost", &r.cacheRead},
			{"output_cost_per_reasoning_token", &r.reasoning},
		}
		for _, fd := range fields {
			if err = setRate(fd.dst, fmt.Sprintf("tiered_pricing[%d].%s", i, fd.name), t.Get(fd.name), strict); err != nil {
				return false
			}
		}
		if len(p.ranges) > 0 && r.lo < p.ranges[len(p.ranges)-1].hi {
			if strict {
				err = fmt.Errorf("tiered_pricing[%d].range: %s overlaps the previous range", i, shown(rg))
				return false
			}
			return true
		}
		p.ranges = append(p.ranges, r)
		return true
	})
	return err
}

// setRate parses one rate value (a JSON number, or a string holding one) into
// *dst as pico-dollars. A missing or null value leaves *dst absent. When not
// strict, a malformed value is skipped.
func setRate(dst *int64, name string, f gjson.Result, strict bool) error {
	var text string
	switch f.Type {
	case gjson.Null:
		return nil
	case gjson.Number:
		text = f.Raw
	case gjson.String:
		text = f.Str
	default:
		if !strict {
			return nil
		}
		return fmt.Errorf("%s: %s is not a number", name, shown(f))
	}
	v, st := parsePico(text)
	if st == decimalOK {
		*dst = v
		return nil
	}
	if !strict {
		return nil
	}
	switch st {
	case decimalNegative:
		return fmt.Errorf("%s: %s is negative", name, shown(f))
	case decimalRange:
		return fmt.Errorf("%s: %s is out of range", name, shown(f))
	}
	return fmt.Errorf("%s: %s is not a number", name, shown(f))
}

// shown returns the JSON text of f, shortened for an error message.
func shown(f gjson.Result) string {
	if len(f.Raw) > maxShownValue {
		return f.Raw[:maxShownValue] + "…"
	}
	return f.Raw
}
