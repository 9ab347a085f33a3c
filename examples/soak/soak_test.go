package main

import (
	"bytes"
	"context"
	"errors"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/examples/childproc"
	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestDrive runs the core of soak for about 5 seconds at a low rate straight
// against the in-process simulator, with a report line every second.
func TestDrive(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := sim.New(sim.Options{Gap: time.Millisecond, MaxRecorded: -1})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })

	const rate, d = 40, 5 * time.Second
	p := params{
		Duration: d, Interval: time.Second, SampleEvery: 100 * time.Millisecond,
		Rate: rate, StreamShare: 0.5, Concurrency: 64, Keys: soakKeys, Seed: 7,
	}
	var calls int
	sampleFn := func() (sample, error) {
		calls++
		b, err := os.ReadFile("/proc/self/status")
		if err != nil {
			return sample{}, err
		}
		m, err := childproc.ParseStatus(b)
		return sample{RSS: m.RSS, Goroutines: float64(calls), Heap: 1 << 20}, err
	}
	var out bytes.Buffer
	res := drive(context.Background(), p, ln.Addr().String(), sampleFn, &out)

	want := tally{OK: rate * 5}
	if res.Total != want {
		t.Errorf("totals = %+v, want %+v\n%s", res.Total, want, out.String())
	}
	if got := s.Count(); got != want.OK {
		t.Errorf("simulator served %d requests, want %d", got, want.OK)
	}
	if res.SampleErr != nil {
		t.Errorf("sample error: %s", res.SampleErr)
	}
	if len(res.Samples) != calls || calls == 0 {
		t.Errorf("%d samples kept of %d taken", len(res.Samples), calls)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	// A line per elapsed second (up to 5) and maybe a final one: at least the
	// final one, each with more requests than the one before, the last with
	// the totals.
	if len(lines) == 0 || len(lines) > 6 {
		t.Fatalf("%d report lines, want 1..6:\n%s", len(lines), out.String())
	}
	prevOK := -1
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) != 17 || f[1] != "ok" || f[3] != "failed" || f[5] != "shed" || f[7] != "rate" || f[9] != "rss" || f[12] != "heap" || f[13] != "1.0" || f[15] != "goroutines" {
			t.Fatalf("report line %q: unexpected layout", l)
		}
		ok, err := strconv.Atoi(f[2])
		if err != nil || ok <= prevOK {
			t.Errorf("report line %q: ok %q not above the previous line's %d", l, f[2], prevOK)
		}
		prevOK = ok
		if f[4] != "0" || f[6] != "0" {
			t.Errorf("report line %q: failed or shed requests", l)
		}
	}
	if prevOK != int(want.OK) {
		t.Errorf("last report line says ok %d, want %d", prevOK, want.OK)
	}
}

// TestReporterLines checks the report lines on given inputs: the rate is the
// requests answered since the previous line over the time since it.
func TestReporterLines(t *testing.T) {
	var out bytes.Buffer
	r := &reporter{w: &out}
	steps := []struct {
		at   time.Duration
		t    tally
		s    sample
		want string
	}{
		{time.Minute, tally{OK: 119_000, Failed: 1000}, sample{RSS: 100 << 20, Goroutines: 250, Heap: 40 << 20},
			"    1m0s  ok    119000  failed   1000  shed      0  rate  2000.0/s  rss   100.0 MiB  heap    40.0 MiB  goroutines   250"},
		{2 * time.Minute, tally{OK: 239_000, Failed: 1000, Shed: 3}, sample{RSS: 101<<20 + 1<<19, Goroutines: 251, Heap: 41 << 20},
			"    2m0s  ok    239000  failed   1000  shed      3  rate  2000.0/s  rss   101.5 MiB  heap    41.0 MiB  goroutines   251"},
		{2*time.Minute + 30*time.Second, tally{OK: 239_300, Failed: 1000, Shed: 3}, sample{RSS: 99 << 20, Goroutines: 12, Heap: 1 << 19},
			"   2m30s  ok    239300  failed   1000  shed      3  rate    10.0/s  rss    99.0 MiB  heap     0.5 MiB  goroutines    12"},
		{2*time.Minute + 30*time.Second, tally{OK: 239_300, Failed: 1000, Shed: 3}, sample{},
			"   2m30s  ok    239300  failed   1000  shed      3  rate     0.0/s  rss     0.0 MiB  heap     0.0 MiB  goroutines     0"},
	}
	var want strings.Builder
	for _, st := range steps {
		if got := r.line(st.at, st.t, st.s); got != st.want {
			t.Errorf("line at %s:\n got %q\nwant %q", st.at, got, st.want)
		}
		want.WriteString(st.want + "\n")
	}
	if out.String() != want.String() {
		t.Errorf("written:\n%s\nwant:\n%s", out.String(), want.String())
	}
}

func TestJudge(t *testing.T) {
	const mb = 1 << 20
	// series builds samples one second apart from RSS values in MiB; the
	// goroutines are g for every sample, except the last which is gLast.
	series := func(g, gLast float64, rssMiB ...int64) []sample {
		out := make([]sample, len(rssMiB))
		for i, v := range rssMiB {
			out[i] = sample{At: time.Duration(i) * time.Second, RSS: v * mb, Goroutines: g}
		}
		out[len(out)-1].Goroutines = gLast
		return out
	}
	f := func(name string, samples []sample, warmup time.Duration, wantRSS, wantG flatness) {
		t.Helper()
		rss, g, err := judge(samples, warmup)
		if err != nil {
			t.Errorf("%s: %s", name, err)
			return
		}
		if !sameFlatness(rss, wantRSS) {
			t.Errorf("%s: rss = %+v, want %+v", name, rss, wantRSS)
		}
		if !sameFlatness(g, wantG) {
			t.Errorf("%s: goroutines = %+v, want %+v", name, g, wantG)
		}
	}
	// Warm-up growth (the first 3 s) is left out; after it, flat.
	f("flat after warm-up", series(100, 100, 10, 50, 90, 100, 104, 100, 102, 105, 101), 3*time.Second,
		flatness{Name: "rss", FirstMax: 104 * mb, LastMax: 105 * mb, Limit: 104*mb*1.1 + 8*mb, Flat: true},
		flatness{Name: "goroutines", FirstMax: 100, LastMax: 100, Limit: 135, Flat: true})
	// Exactly at the limit is flat: 100 × 1.1 + 8 = 118; goroutines 100 × 1.1 + 25 = 135.
	f("at the limit", series(100, 135, 100, 100, 100, 118, 118, 118), 0,
		flatness{Name: "rss", FirstMax: 100 * mb, LastMax: 118 * mb, Limit: 118 * mb, Flat: true},
		flatness{Name: "goroutines", FirstMax: 100, LastMax: 135, Limit: 135, Flat: true})
	// One over the limit is not.
	f("just over", series(100, 136, 100, 100, 100, 119, 119, 119), 0,
		flatness{Name: "rss", FirstMax: 100 * mb, LastMax: 119 * mb, Limit: 118 * mb, Flat: false},
		flatness{Name: "goroutines", FirstMax: 100, LastMax: 136, Limit: 135, Flat: false})
	// A steady leak: 10 MiB a sample.
	f("leak", series(50, 50, 100, 110, 120, 130, 140, 150, 160, 170, 180), 0,
		flatness{Name: "rss", FirstMax: 120 * mb, LastMax: 180 * mb, Limit: 120*mb*1.1 + 8*mb, Flat: false},
		flatness{Name: "goroutines", FirstMax: 50, LastMax: 50, Limit: 80, Flat: true})
	// 7 samples: thirds of 2, the middle 3 ignored; a peak in the middle is fine.
	f("middle peak", series(10, 10, 100, 100, 300, 300, 300, 100, 100), 0,
		flatness{Name: "rss", FirstMax: 100 * mb, LastMax: 100 * mb, Limit: 118 * mb, Flat: true},
		flatness{Name: "goroutines", FirstMax: 10, LastMax: 10, Limit: 36, Flat: true})

	if _, _, err := judge(series(1, 1, 100, 100, 100, 100), 2*time.Second); !errors.Is(err, errTooFewSamples) {
		t.Errorf("2 samples after the warm-up: err = %v, want errTooFewSamples", err)
	}
	if _, _, err := judge(nil, 0); !errors.Is(err, errTooFewSamples) {
		t.Errorf("no samples: err = %v, want errTooFewSamples", err)
	}
}

// sameFlatness compares two verdicts, the limits to a millionth (they are
// computed in floating point).
func sameFlatness(a, b flatness) bool {
	return a.Name == b.Name && a.FirstMax == b.FirstMax && a.LastMax == b.LastMax && a.Flat == b.Flat &&
		math.Abs(a.Limit-b.Limit) <= 1e-6*math.Abs(b.Limit)
}

func TestLoadOK(t *testing.T) {
	for _, c := range []struct {
		t    tally
		want bool
	}{
		{tally{OK: 990, Failed: 5, Shed: 5}, true}, // 1% exactly
		{tally{OK: 989, Failed: 6, Shed: 5}, false},
		{tally{OK: 1000}, true},
		{tally{}, false},
		{tally{Failed: 1}, false},
	} {
		if got := loadOK(c.t); got != c.want {
			t.Errorf("loadOK(%+v) = %t, want %t", c.t, got, c.want)
		}
	}
}

func TestAutoWarmup(t *testing.T) {
	for _, c := range []struct {
		d       time.Duration
		rate    float64
		maxLogs int
		want    time.Duration
	}{
		{60 * time.Minute, 2000, 50_000, 6 * time.Minute},      // a tenth of the run
		{30 * time.Minute, 2000, 50_000, 3 * time.Minute},      // at least 3 minutes
		{30 * time.Minute, 100, 50_000, 15 * time.Minute},      // twice the 500 s to fill max_logs, at most half the run
		{30 * time.Minute, 200, 50_000, 250 * 2 * time.Second}, // twice the 250 s to fill max_logs
		{2 * time.Minute, 2000, 50_000, time.Minute},           // at most half the run
		{10 * time.Minute, 2000, 0, 3 * time.Minute},
	} {
		if got := autoWarmup(c.d, c.rate, c.maxLogs); got != c.want {
			t.Errorf("autoWarmup(%s, %v, %d) = %s, want %s", c.d, c.rate, c.maxLogs, got, c.want)
		}
	}
}

func TestChildYAMLParses(t *testing.T) {
	y := childYAML(childConfig{SimAddr: "127.0.0.1:1", Keys: soakKeys, MaxLogs: 50_000}, "127.0.0.1:2", "127.0.0.1:3", t.TempDir())
	for _, want := range []string{`proxy_listen: "127.0.0.1:2"`, `admin_listen: "127.0.0.1:3"`, "max_logs: 50000", `base_url: "http://127.0.0.1:1"`, `api_key: "im-soak-3"`} {
		if !strings.Contains(y, want) {
			t.Errorf("config lacks %q:\n%s", want, y)
		}
	}
}

func TestFlagsValidate(t *testing.T) {
	good := flags{bin: "bin/infermeter", duration: 30 * time.Minute, rate: 2000, streamShare: 0.3, interval: time.Minute, concurrency: 1024, maxLogs: 50_000}
	if err := good.validate(); err != nil {
		t.Fatalf("defaults: %s", err)
	}
	f := func(mut func(*flags), want string) {
		t.Helper()
		c := good
		mut(&c)
		if err := c.validate(); err == nil || err.Error() != want {
			t.Errorf("validate() = %v, want %s", err, want)
		}
	}
	f(func(c *flags) { c.duration = 3 * time.Hour }, "invalid -duration 3h0m0s: want more than 0 and at most 2h0m0s")
	f(func(c *flags) { c.rate = 0 }, "invalid -rate 0: want more than 0 and at most 50000")
	f(func(c *flags) { c.streamShare = 1.5 }, "invalid -stream-share 1.5: want 0..1")
	f(func(c *flags) { c.interval = time.Hour }, "invalid -interval 1h0m0s: want more than 0 and at most -duration")
	f(func(c *flags) { c.warmup = 30 * time.Minute }, "invalid -warmup 30m0s: want 0 (auto) or less than -duration")
	f(func(c *flags) { c.concurrency = 0 }, "invalid -concurrency 0: want 1..10000")
}
