package main

import (
	"errors"
	"fmt"
	"io"
	"time"
)

// tally counts the requests of a run so far.
type tally struct {
	OK     int64 // answered 200, body read to its end
	Failed int64 // transport error or a status other than 200
	Shed   int64 // never sent: every worker was busy at its scheduled time
}

// sample is one reading of the process under test.
type sample struct {
	At         time.Duration // since the load started
	RSS        int64         // bytes (VmRSS)
	Goroutines float64       // go_goroutines of its /metrics
	// Heap is go_memstats_heap_inuse_bytes of its /metrics: shown beside
	// RSS to tell live heap from memory the runtime keeps; not judged.
	Heap int64
}

// reporter writes one line per report interval: elapsed time, requests so
// far, the rate achieved since the previous line, RSS, Go heap in use and
// goroutines.
// It is used by one goroutine.
type reporter struct {
	w      io.Writer
	prev   tally
	prevAt time.Duration
}

// line formats and writes the report at elapsed time at, with the totals t
// and the latest sample s, and returns the line (without the newline). The
// rate is the requests answered (ok or failed) since the previous line per
// second of the time between them.
func (r *reporter) line(at time.Duration, t tally, s sample) string {
	done := t.OK + t.Failed - r.prev.OK - r.prev.Failed
	var rate float64
	if span := at - r.prevAt; span > 0 {
		rate = float64(done) / span.Seconds()
	}
	l := fmt.Sprintf("%8s  ok %9d  failed %6d  shed %6d  rate %7.1f/s  rss %7.1f MiB  heap %7.1f MiB  goroutines %5.0f",
		at.Round(time.Second), t.OK, t.Failed, t.Shed, rate, mib(s.RSS), mib(s.Heap), s.Goroutines)
	r.prev, r.prevAt = t, at
	fmt.Fprintln(r.w, l)
	return l
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// tolerance is how much the last third may exceed the first: a relative
// share of the first third's maximum plus an absolute slack.
type tolerance struct {
	Rel float64
	Abs float64
}

// The tolerances of the verdict. RSS may grow by 10% plus 8 MiB (the Go heap
// and the store's pages move in steps of a few MiB); goroutines by 10% plus
// 25 (connections and streams in flight come and go with the schedule).
var (
	rssTolerance       = tolerance{Rel: 0.10, Abs: 8 << 20}
	goroutineTolerance = tolerance{Rel: 0.10, Abs: 25}
)

// minVerdictSamples is the fewest samples after the warm-up that a verdict
// needs (one per third).
const minVerdictSamples = 3

// errTooFewSamples is returned by judge when the run after the warm-up is
// too short to compare its first and last thirds.
var errTooFewSamples = errors.New("too few samples after the warm-up")

// flatness is the verdict on one series.
type flatness struct {
	Name     string
	FirstMax float64 // max of the first third after the warm-up
	LastMax  float64 // max of the last third
	Limit    float64 // FirstMax × (1 + Rel) + Abs
	Flat     bool    // LastMax <= Limit
}

// judge applies the flatness rule to the samples taken at or after warmup:
// they are split in thirds (by count; the middle third gets the remainder)
// and a series is flat when the last third's maximum is at most the first
// third's maximum × (1 + Rel) + Abs.
func judge(samples []sample, warmup time.Duration) (rss, goroutines flatness, err error) {
	var kept []sample
	for _, s := range samples {
		if s.At >= warmup {
			kept = append(kept, s)
		}
	}
	if len(kept) < minVerdictSamples {
		return rss, goroutines, fmt.Errorf("cannot judge flatness: %w: %d, want at least %d", errTooFewSamples, len(kept), minVerdictSamples)
	}
	k := len(kept) / 3
	first, last := kept[:k], kept[len(kept)-k:]
	rss = flat("rss", first, last, func(s sample) float64 { return float64(s.RSS) }, rssTolerance)
	goroutines = flat("goroutines", first, last, func(s sample) float64 { return s.Goroutines }, goroutineTolerance)
	return rss, goroutines, nil
}

func flat(name string, first, last []sample, v func(sample) float64, tol tolerance) flatness {
	f := flatness{Name: name}
	for _, s := range first {
		f.FirstMax = max(f.FirstMax, v(s))
	}
	for _, s := range last {
		f.LastMax = max(f.LastMax, v(s))
	}
	f.Limit = f.FirstMax + f.FirstMax*tol.Rel + tol.Abs
	f.Flat = f.LastMax <= f.Limit
	return f
}

// String renders the verdict of one series, in MiB for RSS.
func (f flatness) String() string {
	word := "flat"
	if !f.Flat {
		word = "NOT flat"
	}
	if f.Name == "rss" {
		return fmt.Sprintf("rss %s: last third max %.1f MiB, first third max %.1f MiB, limit %.1f MiB",
			word, f.LastMax/(1<<20), f.FirstMax/(1<<20), f.Limit/(1<<20))
	}
	return fmt.Sprintf("%s %s: last third max %.0f, first third max %.0f, limit %.0f", f.Name, word, f.LastMax, f.FirstMax, f.Limit)
}

// maxFailedShare is the largest share of failed or shed requests a passing
// soak may have: a run whose requests fail says nothing about leaks.
const maxFailedShare = 0.01

// loadOK reports whether the failed and shed requests stay within
// maxFailedShare of all scheduled ones (and at least one succeeded).
func loadOK(t tally) bool {
	all := t.OK + t.Failed + t.Shed
	return t.OK > 0 && float64(t.Failed+t.Shed) <= maxFailedShare*float64(all)
}

// minWarmup is the shortest automatic warm-up: at 2,000 req/s the Go heap
// of infermeter takes about three minutes of GC cycles to reach its steady
// size, and RSS follows its peaks.
const minWarmup = 3 * time.Minute

// minEnforcedRun is the shortest run whose flatness verdict decides the
// exit code. A shorter run (a smoke) ends inside or just after the warm-up:
// its verdict is printed as advisory.
const minEnforcedRun = 10 * time.Minute

// autoWarmup is the warm-up when -warmup is 0: a tenth of the run, but at
// least minWarmup and twice the time the store takes to fill max_logs
// request logs at the rate (until then its working set grows by design),
// and at most half the run.
func autoWarmup(d time.Duration, rate float64, maxLogs int) time.Duration {
	fill := time.Duration(float64(maxLogs) / rate * float64(time.Second))
	return min(max(d/10, 2*fill, minWarmup), d/2)
}
