package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// hotPathPackages and hotPathBenchmarks are the go benchmarks of the hot
// path: extraction (proxy/dialect), pricing (meter/pricing), recording
// (meter) and the store's batched writes (store).
var (
	hotPathPackages   = []string{"./proxy/dialect", "./meter/pricing", "./meter", "./store"}
	hotPathBenchmarks = "^Benchmark(ExtractBody|Stream|LookupCached|Cost|Record|Apply)$"
)

// goBench is one line of `go test -bench` output.
type goBench struct {
	Pkg  string
	Name string // without the Benchmark prefix and the -GOMAXPROCS suffix
	N    int64
	// Metrics maps a unit (ns/op, B/op, allocs/op, MB/s, events/s...) to
	// its value.
	Metrics map[string]float64
	Units   []string // in the order printed
}

// Metric returns the value of unit and whether the line has it.
func (b *goBench) Metric(unit string) (float64, bool) {
	v, ok := b.Metrics[unit]
	return v, ok
}

// parseGoBench reads `go test -bench` output: "pkg:" lines name the package
// of the benchmark lines after them; other lines are ignored.
func parseGoBench(out []byte) []goBench {
	var res []goBench
	pkg := ""
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		if !strings.HasPrefix(line, "Benchmark") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || len(f)%2 != 0 {
			continue
		}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := goBench{Pkg: pkg, Name: benchName(f[0]), N: n, Metrics: map[string]float64{}}
		ok := true
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				ok = false
				break
			}
			b.Metrics[f[i+1]] = v
			b.Units = append(b.Units, f[i+1])
		}
		if ok {
			res = append(res, b)
		}
	}
	return res
}

// benchName strips "Benchmark" and the "-N" GOMAXPROCS suffix.
func benchName(s string) string {
	s = strings.TrimPrefix(s, "Benchmark")
	if i := strings.LastIndexByte(s, '-'); i > 0 {
		if _, err := strconv.Atoi(s[i+1:]); err == nil {
			s = s[:i]
		}
	}
	return s
}

// runGoBench runs the hot-path benchmarks in the module at root, one
// package at a time (-p 1) so they do not compete for the CPU.
func runGoBench(ctx context.Context, goCmd, root, benchtime string, timeout time.Duration) ([]goBench, string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	args := append([]string{"test", "-p", "1", "-count", "1", "-run", "^$", "-bench", hotPathBenchmarks,
		"-benchmem", "-benchtime", benchtime, "-timeout", timeout.String()}, hotPathPackages...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	command := goCmd + " " + strings.Join(args, " ")
	if err != nil {
		return parseGoBench(out), command, fmt.Errorf("cannot run the go benchmarks: %w: %s", err, tail(out, 1500))
	}
	return parseGoBench(out), command, nil
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return strings.TrimSpace(string(b))
}
