package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/infermeter/infermeter/examples/simulator/sim"
)

// TestBadConfigExitsWithOneLine runs the binary on bad configs: each exits
// non-zero with one line naming the key, and never starts half-way.
func TestBadConfigExitsWithOneLine(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	badPrices := filepath.Join(dir, "prices.json")
	if err := os.WriteFile(badPrices, []byte(`{"my-model": {"input_cost_per_token": "abc"}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, yaml, want string
	}{
		{"unknown key", "proxy_listn: \":1\"\n", `unknown key "proxy_listn"`},
		{"bad dialect", "upstreams:\n  - {name: a, dialect: opanai, base_url: \"http://127.0.0.1:1\"}\n",
			`upstreams[0].dialect: "opanai" is not one of openai, anthropic, gemini`},
		{"malformed YAML", "orgs: [\n", "c.yaml:"},
		{"bad pricing file", "pricing_file: " + badPrices + "\n",
			`model "my-model": input_cost_per_token: "abc" is not a number`},
		{"missing pricing file", "pricing_file: " + filepath.Join(dir, "nope.json") + "\n", "nope.json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.yaml")
			text := c.yaml + "data_dir: " + filepath.Join(t.TempDir(), "data") + "\nproxy_listen: \"127.0.0.1:0\"\nadmin_listen: \"127.0.0.1:0\"\n"
			if strings.HasPrefix(c.yaml, "proxy_listn") || strings.HasPrefix(c.yaml, "orgs") {
				text = c.yaml
			}
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(bin, "-config", path).CombinedOutput()
			if err == nil {
				t.Fatalf("started on a bad config: %s", out)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 1 || !strings.Contains(lines[0], c.want) || !strings.HasPrefix(lines[0], "infermeter: ") {
				t.Fatalf("output %q, want one line containing %q", out, c.want)
			}
		})
	}
}

func TestCheckFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := buildBinary(t)
	out, err := exec.Command(bin, "-check").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "infermeter: embedded defaults is valid: 3 upstreams, 0 orgs" {
		t.Fatalf("-check on defaults: %v %q", err, out)
	}
	cmd := exec.Command(bin, "-check")
	cmd.Env = append(os.Environ(), "INFERMETER_CONFIG="+filepath.Join("examples", "demo.yaml"))
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "examples/demo.yaml is valid: 3 upstreams, 1 orgs") {
		t.Fatalf("-check with INFERMETER_CONFIG: %v %q", err, out)
	}
}

// TestRestartKeepsTotals closes a running instance and starts another on
// the same data: the totals are rebuilt from the store.
func TestRestartKeepsTotals(t *testing.T) {
	_, base := startSim(t, sim.Options{})
	dataDir := t.TempDir()
	cfg := testConfig(t, base, dataDir, "")
	a, proxyURL, _ := startApp(t, cfg, appOptions{})
	for i := 0; i < 5; i++ {
		st, body, _ := call(t, "POST", proxyURL+"/v1/chat/completions",
			map[string]string{"Authorization": "Bearer " + keyAlice, "X-Sim-Input-Tokens": "10", "X-Sim-Output-Tokens": "4"},
			`{"model":"gpt-4o-mini","messages":[]}`)
		if st != 200 {
			t.Fatalf("%d %s", st, body)
		}
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	cfg = testConfig(t, base, dataDir, "")
	_, _, admin := startApp(t, cfg, appOptions{})
	st, j := adminGet(t, admin, keyAlice, "/api/organizations/acme/usage?group_by=model")
	// 5 × (10×150 + 4×600) nano = 19500.
	if st != 200 || j.Get("overview.requests").Int() != 5 || j.Get("overview.input_tokens").Int() != 50 ||
		nanoOf(t, j.Get("overview.cost_usd")) != 19500 {
		t.Fatalf("after a restart: %d %s", st, j.Raw)
	}
	if n := len(j.Get("usage.by_model").Array()); n != 1 {
		t.Fatalf("%d model rows", n)
	}
}
