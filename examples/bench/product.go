package main

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// productBenchmarks are the go benchmarks of the product's other promises:
// the live feed never slows the proxy (a feed client that never reads is
// dropped, and proxied requests take as long as without one), and an
// export streams with flat memory (1M requests peak no higher than 100k).
//
// The feed benchmark runs three times and keeps the fastest run of each
// case: sequential loopback requests on a shared machine are noisy, and the
// best of three compares the cases rather than the background load.
var productBenchmarks = []struct {
	pkg, re, benchtime, count string
}{
	{".", "^BenchmarkProxyFeed$", "1s", "3"},
	{"./api", "^BenchmarkExportCSV1M$", "1x", "1"},
}

// runProductBench runs productBenchmarks one after the other and returns
// their lines and the commands.
func runProductBench(ctx context.Context, goCmd, root string, timeout time.Duration) ([]goBench, []string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res []goBench
	var cmds []string
	for _, b := range productBenchmarks {
		args := []string{"test", "-count", b.count, "-run", "^$", "-bench", b.re, "-benchmem", "-benchtime", b.benchtime, "-timeout", timeout.String(), b.pkg}
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		cmds = append(cmds, goCmd+" "+strings.Join(args, " "))
		res = append(res, fastest(parseGoBench(out))...)
		if err != nil {
			return res, cmds, fmt.Errorf("cannot run %s in %s: %w: %s", b.re, b.pkg, err, tail(out, 1500))
		}
	}
	return res, cmds, nil
}

// fastest keeps, of the lines of each benchmark name, the one with the
// least ns/op, in the order the names first appear.
func fastest(lines []goBench) []goBench {
	var out []goBench
	at := map[string]int{}
	for _, b := range lines {
		i, ok := at[b.Name]
		switch {
		case !ok:
			at[b.Name] = len(out)
			out = append(out, b)
		case b.Metrics["ns/op"] < out[i].Metrics["ns/op"]:
			out[i] = b
		}
	}
	return out
}

// product returns the product benchmark named name.
func (r *report) product(name string) *goBench {
	for i := range r.Product {
		if r.Product[i].Name == name {
			return &r.Product[i]
		}
	}
	return nil
}

// productTargets are the target rows of the product benchmarks.
func (r *report) productTargets() []targetRow {
	var rows []targetRow
	none, stuck := r.product("ProxyFeed/no_client"), r.product("ProxyFeed/stuck_client")
	var v float64
	ok := none != nil && stuck != nil && stuck.Metrics["ns/op"] > 0
	if ok {
		v = none.Metrics["ns/op"] / stuck.Metrics["ns/op"]
	}
	t := lower("proxy throughput with a feed client that never reads, vs none (c1)", "≥ 95% (unchanged)", v, 0.95, ok, fmtPct)
	if ok {
		t.Measured += fmt.Sprintf(" (%.0f vs %.0f µs per request; the stuck client was dropped %.0f times)",
			stuck.Metrics["ns/op"]/1e3, none.Metrics["ns/op"]/1e3, stuck.Metrics["dropped"])
		if stuck.Metrics["dropped"] < 1 {
			t.Result, t.Margin = "MISS", "the stuck client was not dropped"
		}
	}
	rows = append(rows, t)
	small, big := r.product("ExportCSV1M/rows=100000"), r.product("ExportCSV1M/rows=1000000")
	ok = small != nil && big != nil && big.Metrics["rss-peak-MB"] > 0
	var grow float64
	if ok {
		grow = (big.Metrics["rss-peak-MB"] - small.Metrics["rss-peak-MB"]) * (1 << 20)
	}
	t = upper("export of 1M requests (CSV): peak RSS above that of 100k", "≤ 16 MB (flat)", grow, 16<<20, ok, fmtMB)
	if ok {
		t.Measured += fmt.Sprintf(" (peak %.1f MB for 1M rows, a %.0f MB body; %.1f MB for 100k)",
			big.Metrics["rss-peak-MB"], big.Metrics["body-MB"], small.Metrics["rss-peak-MB"])
	}
	return append(rows, t)
}
