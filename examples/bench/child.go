package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/infermeter/infermeter/examples/childproc"
)

// adminKey is the key of the one member of the benchmark org, an admin, so
// it sees the whole org in the analytics routes.
const adminKey = "im-bench-admin-key"

// childConfig is what a child infermeter is started with.
type childConfig struct {
	Bin     string
	Dir     string // its own directory: config, log, data
	DataDir string // "" means Dir/data
	SimAddr string
	MaxLogs int
	// FlushInterval is the config's flush_interval; "" means "1s".
	FlushInterval string
}

// child is one infermeter process started by the harness.
type child struct {
	*childproc.Process
}

// childYAML is the YAML config of a child.
func childYAML(cc childConfig, proxyAddr, adminAddr string) string {
	data := cc.DataDir
	if data == "" {
		data = filepath.Join(cc.Dir, "data")
	}
	var b strings.Builder
	fmt.Fprintf(&b, "proxy_listen: %q\nadmin_listen: %q\ndata_dir: %q\n", proxyAddr, adminAddr, data)
	flush := cc.FlushInterval
	if flush == "" {
		flush = "1s"
	}
	fmt.Fprintf(&b, "timezone: \"UTC\"\nflush_interval: %q\nlog_retention: \"3650d\"\nshutdown_timeout: \"10s\"\n", flush)
	fmt.Fprintf(&b, "max_logs: %d\n", cc.MaxLogs)
	b.WriteString("upstreams:\n")
	for _, u := range []string{"openai", "anthropic", "gemini"} {
		fmt.Fprintf(&b, "  - {name: %s, dialect: %s, base_url: %q, api_key: \"sk-sim-%s\"}\n", u, u, "http://"+cc.SimAddr, u)
	}
	b.WriteString("orgs:\n  - id: " + benchOrg + "\n    name: \"Acme Inc\"\n    timezone: \"UTC\"\n    members:\n")
	fmt.Fprintf(&b, "      - {id: %s, email: \"bench@acme.example\", department: research, role: admin, api_key: %q}\n", memberID(0), adminKey)
	return b.String()
}

// startChild starts infermeter with a config written into cc.Dir and waits
// until /readyz answers 200 (at most readyTimeout; see childproc.Start).
func startChild(cc childConfig, readyTimeout time.Duration) (*child, error) {
	p, err := childproc.Start(cc.Bin, cc.Dir, func(proxyAddr, adminAddr string) string {
		return childYAML(cc, proxyAddr, adminAddr)
	}, readyTimeout)
	if err != nil {
		return nil, err
	}
	return &child{p}, nil
}

// stop sends SIGTERM and waits (at most 60s, then SIGKILL).
func (c *child) stop() {
	if c != nil {
		_ = c.Stop(60 * time.Second)
	}
}

// scrapeMetrics returns the value of each named metric of the child's
// /metrics, summed over its label sets (absent ones are left out).
func (c *child) scrapeMetrics(names ...string) (map[string]float64, error) {
	body, err := c.Metrics()
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, n := range names {
		if v, ok := childproc.MetricValue(body, n); ok {
			out[n] = v
		}
	}
	return out, nil
}
