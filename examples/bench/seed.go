package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// benchOrg is the one org of every scenario.
const benchOrg = "acme"

// seedModels are the models of the seeded stores, as "{upstream}/{model}".
// The 5M-cell store uses all 50; the 10M-log store the first 10.
var seedModels = [...]string{
	"openai/gpt-4o-mini", "anthropic/claude-sonnet-4-5", "openai/gpt-4o", "gemini/gemini-2.5-flash",
	"openai/gpt-4.1-mini", "anthropic/claude-haiku-4-5", "gemini/gemini-2.5-pro", "openai/o4-mini",
	"openai/gpt-4.1", "anthropic/claude-opus-4-1",
	"openai/gpt-4o-mini-2024-07-18", "openai/gpt-4o-2024-08-06", "openai/gpt-4o-2024-11-20",
	"openai/gpt-4.1-2025-04-14", "openai/gpt-4.1-mini-2025-04-14", "openai/gpt-4.1-nano",
	"openai/gpt-4.1-nano-2025-04-14", "openai/o3", "openai/o3-2025-04-16", "openai/o3-mini",
	"openai/o4-mini-2025-04-16", "openai/gpt-5", "openai/gpt-5-mini", "openai/gpt-5-nano",
	"openai/text-embedding-3-small", "openai/text-embedding-3-large", "openai/gpt-4o-audio-preview",
	"anthropic/claude-sonnet-4-5-20250929", "anthropic/claude-haiku-4-5-20251001",
	"anthropic/claude-opus-4-1-20250805", "anthropic/claude-sonnet-4-20250514",
	"anthropic/claude-opus-4-20250514", "anthropic/claude-3-7-sonnet-20250219",
	"anthropic/claude-3-5-haiku-20241022", "anthropic/claude-3-5-sonnet-20241022",
	"gemini/gemini-2.5-flash-lite", "gemini/gemini-2.0-flash", "gemini/gemini-2.0-flash-lite",
	"gemini/gemini-1.5-pro", "gemini/gemini-1.5-flash", "gemini/gemini-2.5-flash-preview-05-20",
	"gemini/gemini-2.5-pro-preview-06-05", "gemini/text-embedding-004",
	"openrouter/meta-llama/llama-3.3-70b-instruct", "openrouter/deepseek/deepseek-chat",
	"groq/llama-3.1-8b-instant", "groq/llama-3.3-70b-versatile", "mistral/mistral-large-latest",
	"mistral/mistral-small-latest", "xai/grok-3-mini",
}

var (
	seedDepartments = [...]string{"research", "platform", "sales", "support", "marketing", "finance", "legal", "data"}
	seedTags        = [...]string{"", "env=prod", "env=prod,team=search", "env=dev"}
)

// memberID is the id of seeded member i.
func memberID(i int) string {
	s := strconv.Itoa(i)
	return "member-" + strings.Repeat("0", max(0, 5-len(s))) + s
}

// seedStats describes one seeding.
type seedStats struct {
	Cells    int
	Logs     int
	Took     time.Duration
	FileSize int64
	// DeepCursor is a request-log cursor in the middle of the seeded logs.
	DeepCursor string
}

// applyBatch is how many cells or events one Apply carries while seeding.
const applyBatch = 20000

// seedCells fills a new store in dir with members × models cells of one
// hour (the current one, UTC), written with Apply in batches.
func seedCells(dir string, members, models int, deadline time.Time) (seedStats, error) {
	var st seedStats
	start := time.Now()
	s, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		return st, err
	}
	hour := meter.HourStart(time.Now().UnixNano(), time.UTC)
	rnd := rand.New(rand.NewPCG(1, 2))
	batch := make([]meter.CellRecord, 0, applyBatch)
	flush := func() error {
		if len(batch) == 0 {
			return nil
		}
		if err := s.Apply(batch, nil); err != nil {
			return err
		}
		st.Cells += len(batch)
		batch = batch[:0]
		return nil
	}
	models = min(models, len(seedModels))
	for m := 0; m < members && err == nil; m++ {
		user := memberID(m)
		dept := seedDepartments[m%len(seedDepartments)]
		for j := 0; j < models; j++ {
			var c meter.Cell
			c.Requests = 1 + rnd.Int64N(20)
			c.InputTokens = c.Requests * (200 + rnd.Int64N(3000))
			c.OutputTokens = c.Requests * (20 + rnd.Int64N(800))
			c.CachedTokens = c.InputTokens / 4
			c.CostNano = c.InputTokens*150 + c.OutputTokens*600
			c.LatencyMicros = c.Requests * (300_000 + rnd.Int64N(2_000_000))
			c.LatencyBuckets[meter.LatencyBucket(c.LatencyMicros/c.Requests)] = uint32(c.Requests)
			batch = append(batch, meter.CellRecord{
				Key: meter.CellKey{Org: benchOrg, User: user, Model: seedModels[j], Department: dept,
					BillingMode: "org_pays", Category: usage.CategoryChatCompletions, Hour: hour},
				Cell: c,
			})
			if len(batch) == applyBatch {
				if err = flush(); err != nil {
					break
				}
			}
		}
		if time.Now().After(deadline) {
			break
		}
	}
	if err == nil {
		err = flush()
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	st.Took = time.Since(start)
	st.FileSize = fileSize(dir)
	return st, err
}

// seedLogs fills a new store in dir with n request logs spread evenly over
// the 30 days before now (members members, models models, realistic fields)
// and the hourly cells that aggregate them exactly as the meter would (UTC
// hours). Events are generated in time order; the cells of an hour are
// written with the events of that hour, so the cells are complete once the
// hour is past.
func seedLogs(dir string, n, members, models int, deadline time.Time) (seedStats, error) {
	var st seedStats
	start := time.Now()
	s, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		return st, err
	}
	models = min(models, len(seedModels))
	end := time.Now().Add(-time.Minute).UnixNano()
	span := int64(30 * 24 * time.Hour)
	first := end - span
	step := max(span/int64(max(n, 1)), 1)
	rnd := rand.New(rand.NewPCG(3, 4))

	cells := map[meter.CellKey]*meter.Cell{}
	events := make([]meter.Event, 0, applyBatch)
	recs := make([]meter.CellRecord, 0, 4096)
	curHour := int64(-1)
	var firstID, lastID uint64
	flush := func(withCells bool) error {
		recs = recs[:0]
		if withCells {
			for k, c := range cells {
				recs = append(recs, meter.CellRecord{Key: k, Cell: *c})
			}
		}
		if len(events) == 0 && len(recs) == 0 {
			return nil
		}
		if err := s.Apply(recs, events); err != nil {
			return err
		}
		st.Logs += len(events)
		st.Cells += len(recs)
		events = events[:0]
		if withCells {
			clear(cells)
		}
		return nil
	}
	for i := 0; i < n; i++ {
		t := first + int64(i)*step + rnd.Int64N(step)
		ev := seedEvent(rnd, t, members, models)
		if firstID == 0 {
			firstID = ev.ID
		}
		lastID = ev.ID
		if h := meter.HourStart(t, time.UTC); h != curHour {
			if err = flush(true); err != nil {
				break
			}
			curHour = h
			if time.Now().After(deadline) {
				break
			}
		}
		k := meter.KeyOf(&ev, time.UTC)
		k.Hour = curHour
		c := cells[k]
		if c == nil {
			c = new(meter.Cell)
			cells[k] = c
		}
		c.Add(&ev)
		events = append(events, ev)
		if len(events) == applyBatch {
			// Flush the events; the cells of this hour go with its last batch.
			if err = flush(false); err != nil {
				break
			}
		}
	}
	if err == nil {
		err = flush(true)
	}
	if err == nil && st.Logs > 2 {
		// A page of one log ending at the middle of the stored ones gives
		// a cursor there.
		mid := firstID + (lastID-firstID)/2
		_, st.DeepCursor, err = s.Logs(store.LogQuery{Org: benchOrg, EndID: mid, Limit: 1})
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	st.Took = time.Since(start)
	st.FileSize = fileSize(dir)
	return st, err
}

// seedEvent returns a realistic request log at time t (unix nanoseconds,
// also its ID).
func seedEvent(rnd *rand.Rand, t int64, members, models int) meter.Event {
	m := rnd.IntN(members)
	model := seedModels[rnd.IntN(models)]
	upstream, _, _ := strings.Cut(model, "/")
	ev := meter.Event{
		ID:            uint64(t),
		Time:          t,
		Org:           benchOrg,
		User:          memberID(m),
		Department:    seedDepartments[m%len(seedDepartments)],
		BillingMode:   "org_pays",
		Upstream:      upstream,
		Model:         model,
		Tags:          seedTags[m%len(seedTags)],
		Category:      usage.CategoryChatCompletions,
		Stream:        rnd.IntN(10) < 3,
		Status:        200,
		Priced:        true,
		LatencyMicros: 200_000 + rnd.Int64N(4_000_000),
		RequestBytes:  300 + rnd.Int64N(20_000),
		ResponseBytes: 400 + rnd.Int64N(6_000),
	}
	if m%10 == 0 {
		ev.BillingMode = "member_pays"
	}
	if ev.Stream {
		ev.TTFTMicros = 80_000 + rnd.Int64N(700_000)
	}
	if upstream == "openai" || upstream == "anthropic" {
		ev.ProviderRequestID = fmt.Sprintf("req_%016x%016x", rnd.Uint64(), rnd.Uint64())
	}
	switch r := rnd.IntN(1000); {
	case r < 20:
		ev.Status, ev.ErrorType = 429, usage.ErrRateLimit
		ev.ErrorMessage = "Rate limit reached for requests per min (RPM): Limit 500, Used 500, Requested 1."
		ev.LatencyMicros /= 10
		return ev
	case r < 25:
		ev.Status, ev.ErrorType = 500, usage.ErrOther
		ev.ErrorMessage = "The server had an error while processing your request. Sorry about that!"
		ev.LatencyMicros /= 10
		return ev
	}
	ev.Usage.Input = usage.Of(200 + rnd.Int64N(4000))
	ev.Usage.Output = usage.Of(20 + rnd.Int64N(1000))
	if rnd.IntN(3) == 0 {
		ev.Usage.CacheRead = usage.Of(ev.Usage.Input.Value() / 2)
	}
	ev.Usage.Source = usage.SourceProvider
	ev.CostNano = ev.Usage.Input.Value()*150 + ev.Usage.Output.Value()*600
	return ev
}

// fileSize returns the size of the store file in dir, or 0.
func fileSize(dir string) int64 {
	fi, err := os.Stat(dir + string(os.PathSeparator) + store.FileName)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// sustainedResult is the store's sustained write rate with the production
// settings (an fsync per commit).
type sustainedResult struct {
	Batch   int
	Batches int
	Events  int
	Took    time.Duration // in Apply only
	Slowest time.Duration // the slowest Apply
}

// EventsPerSec is the sustained rate.
func (s *sustainedResult) EventsPerSec() float64 {
	if s.Took <= 0 {
		return 0
	}
	return float64(s.Events) / s.Took.Seconds()
}

// storeSustained opens a new store in dir as infermeter does (fsync after
// each commit) and applies batches of batch realistic events with their
// cells, as one flush of a sidecar seeing batch events per flush interval,
// until maxBatches or maxDur. Generating the events is not timed.
func storeSustained(dir string, batch, maxBatches int, maxDur time.Duration) (sustainedResult, error) {
	r := sustainedResult{Batch: batch}
	s, err := store.Open(dir, store.Options{})
	if err != nil {
		return r, err
	}
	rnd := rand.New(rand.NewPCG(5, 6))
	t := time.Now().Add(-time.Hour).UnixNano()
	events := make([]meter.Event, 0, batch)
	cells := map[meter.CellKey]*meter.Cell{}
	var recs []meter.CellRecord
	stop := time.Now().Add(maxDur)
	for r.Batches < maxBatches && time.Now().Before(stop) {
		events = events[:0]
		for range batch {
			t += 1000 + rnd.Int64N(1000)
			ev := seedEvent(rnd, t, 200, 10)
			k := meter.KeyOf(&ev, time.UTC)
			c := cells[k]
			if c == nil {
				c = new(meter.Cell)
				cells[k] = c
			}
			c.Add(&ev)
			events = append(events, ev)
		}
		recs = recs[:0]
		for k, c := range cells {
			recs = append(recs, meter.CellRecord{Key: k, Cell: *c})
		}
		t0 := time.Now()
		if err = s.Apply(recs, events); err != nil {
			break
		}
		d := time.Since(t0)
		r.Took += d
		r.Slowest = max(r.Slowest, d)
		r.Batches++
		r.Events += len(events)
	}
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return r, err
}
