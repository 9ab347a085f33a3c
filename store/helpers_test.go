package store

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// baseID is an event ID of 2025-01-01T00:00:00Z in unix nanoseconds.
const baseID = uint64(1735689600) * 1e9

func openTest(t testing.TB, dir string, opt Options) *Store {
	t.Helper()
	opt.NoSync = true
	s, err := Open(dir, opt)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// fullEvent returns an event with every field set to a non-zero value.
func fullEvent(id uint64) meter.Event {
	return meter.Event{
		ID:           id,
		Time:         int64(id) - 1_234_567,
		Org:          "acme",
		User:         "uuid-1",
		Department:   "research",
		BillingMode:  "member_pays",
		Upstream:     "anthropic",
		Model:        "anthropic/claude-3-5-sonnet-20241022",
		Tags:         "env=prod,team=search",
		Category:     usage.CategoryResponses,
		Stream:       true,
		Status:       529,
		ErrorType:    usage.ErrModel,
		ErrorMessage: "Overloaded: \x00binary\xff and \"quotes\"",
		Usage: usage.Usage{
			Input:             usage.Of(1200),
			CacheRead:         usage.Of(1000),
			CacheWrite:        usage.Of(0), // reported zero
			CacheWrite1h:      usage.Of(7),
			InputAudio:        usage.Of(3),
			InputImage:        usage.Of(4),
			Output:            usage.Of(345),
			Reasoning:         usage.Of(100),
			OutputAudio:       usage.Of(5),
			OutputImage:       usage.Of(6),
			AudioMillis:       usage.Of(7000),
			WebSearchRequests: usage.Of(2),
			ProviderCostNano:  usage.Of(-9), // negative survives
			Tier:              usage.TierPriority,
			Source:            usage.SourceEstimated,
		},
		CostNano:      123_456_789,
		Priced:        true,
		LatencyMicros: 1_500_000,
		TTFTMicros:    250_000,
		RequestBytes:  4096,
		ResponseBytes: 1 << 40,

		ProviderRequestID: "req_01JABCDEF\x00\xff",
		PromptHash:        0xfedcba9876543210,
	}
}

// genEvents returns n realistic events of org with IDs from start, 1 ms
// apart, drawn from a fixed seed.
func genEvents(org string, start uint64, n int, seed uint64) []meter.Event {
	rnd := rand.New(rand.NewPCG(seed, 7))
	models := []string{"openai/gpt-4o", "openai/gpt-4o-mini", "anthropic/claude-3-5-sonnet-20241022", "gemini/gemini-2.0-flash"}
	depts := []string{"research", "sales", "platform"}
	tags := []string{"", "env=prod", "env=prod,team=search", "env=dev"}
	out := make([]meter.Event, n)
	for i := range out {
		id := start + uint64(i)*1e6
		e := meter.Event{
			ID:            id,
			Time:          int64(id) - int64(rnd.IntN(3e9)),
			Org:           org,
			User:          fmt.Sprintf("user-%02d", rnd.IntN(50)),
			Department:    depts[rnd.IntN(len(depts))],
			BillingMode:   "org_pays",
			Model:         models[rnd.IntN(len(models))],
			Tags:          tags[rnd.IntN(len(tags))],
			Category:      usage.CategoryChatCompletions,
			Stream:        rnd.IntN(2) == 0,
			Status:        200,
			Priced:        true,
			LatencyMicros: int64(rnd.IntN(3e6)),
			TTFTMicros:    int64(rnd.IntN(5e5)),
			RequestBytes:  int64(rnd.IntN(20000)),
			ResponseBytes: int64(rnd.IntN(8000)),
		}
		e.Upstream, _, _ = cutSlash(e.Model)
		e.Usage.Input = usage.Of(int64(rnd.IntN(4000)))
		e.Usage.Output = usage.Of(int64(rnd.IntN(1000)))
		if rnd.IntN(3) == 0 {
			e.Usage.CacheRead = usage.Of(int64(rnd.IntN(1000)))
		}
		e.Usage.Source = usage.SourceProvider
		e.CostNano = int64(rnd.IntN(5e7))
		if rnd.IntN(50) == 0 {
			e.Status, e.ErrorType, e.ErrorMessage = 429, usage.ErrRateLimit, "Rate limit reached"
			e.Usage = usage.Usage{}
		}
		out[i] = e
	}
	return out
}

func cutSlash(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func ids(evs []meter.Event) []uint64 {
	out := make([]uint64, len(evs))
	for i := range evs {
		out[i] = evs[i].ID
	}
	return out
}
