package config

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// env returns a getenv over m.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// same fails t unless got and want are equal, ignoring the resolved time zones.
func same(t *testing.T, got, want *Config) {
	t.Helper()
	g, w := strip(got), strip(want)
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("config mismatch\n got: %+v\nwant: %+v", g, w)
	}
}

// strip returns a copy of c without resolved time zones.
func strip(c *Config) Config {
	s := *c
	s.loc = nil
	s.Orgs = append([]Org(nil), c.Orgs...)
	for i := range s.Orgs {
		s.Orgs[i].loc = nil
	}
	return s
}

func TestDefault(t *testing.T) {
	c := Default(env(map[string]string{"OPENAI_API_KEY": "sk-o", "ANTHROPIC_API_KEY": "sk-a", "GEMINI_API_KEY": "g"}))
	want := &Config{
		ProxyListen:            ":8080",
		AdminListen:            ":9090",
		DataDir:                "./data",
		Timezone:               "UTC",
		FlushInterval:          time.Second,
		LogRetention:           720 * time.Hour,
		MaxLogs:                1000000,
		MaxRequestBytes:        33554432,
		MaxHeaderBytes:         65536,
		UpstreamTimeout:        600 * time.Second,
		UpstreamConnectTimeout: 10 * time.Second,
		ShutdownTimeout:        30 * time.Second,
		SMTP:                   SMTP{Port: 587},
		AuthThrottle:           AuthThrottle{MaxFailures: 10, Window: time.Minute},
		Fleet:                  Fleet{Role: "sidecar", Stream: "infermeter", Replicas: 1},
		Upstreams: []Upstream{
			{Name: "openai", Dialect: "openai", BaseURL: "https://api.openai.com", APIKey: "sk-o"},
			{Name: "anthropic", Dialect: "anthropic", BaseURL: "https://api.anthropic.com", APIKey: "sk-a"},
			{Name: "gemini", Dialect: "gemini", BaseURL: "https://generativelanguage.googleapis.com", APIKey: "g"},
		},
	}
	same(t, c, want)
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %s", err)
	}
	if got := c.Location(); got != time.UTC {
		t.Fatalf("Location() = %v, want UTC", got)
	}

	// Load without a path is the defaults; a nil getenv is an empty environment.
	l, err := Load("", nil)
	if err != nil {
		t.Fatalf("Load(\"\"): %s", err)
	}
	if l.Upstreams[0].APIKey != "" || l.ProxyListen != ":8080" {
		t.Fatalf("Load(\"\", nil) = %+v, want defaults without keys", l)
	}
}

func TestParseValid(t *testing.T) {
	f := func(name, in string, vars map[string]string, edit func(c *Config)) {
		t.Helper()
		t.Run(name, func(t *testing.T) {
			got, err := parse("config.yaml", []byte(in), env(vars))
			if err != nil {
				t.Fatalf("parse: %s", err)
			}
			want := Default(env(vars))
			edit(want)
			same(t, got, want)
		})
	}
	f("empty file keeps defaults", "", nil, func(*Config) {})
	f("comments only", "# nothing\n", nil, func(*Config) {})
	f("scalars and days", `
proxy_listen: "127.0.0.1:18080"
admin_listen: "[::1]:19090"
data_dir: /var/lib/infermeter
timezone: America/New_York
flush_interval: 250ms
log_retention: 1d12h
max_logs: 0
capture_bodies: true
max_request_bytes: 1024
max_header_bytes: 4096
upstream_timeout: 90s
upstream_connect_timeout: 2s
shutdown_timeout: 1.5d
pricing_file: prices.json
cors_origins: ["*", "https://finops.example.com"]
`, nil, func(c *Config) {
		c.ProxyListen = "127.0.0.1:18080"
		c.AdminListen = "[::1]:19090"
		c.DataDir = "/var/lib/infermeter"
		c.Timezone = "America/New_York"
		c.FlushInterval = 250 * time.Millisecond
		c.LogRetention = 36 * time.Hour
		c.MaxLogs = 0
		c.CaptureBodies = true
		c.MaxRequestBytes = 1024
		c.MaxHeaderBytes = 4096
		c.UpstreamTimeout = 90 * time.Second
		c.UpstreamConnectTimeout = 2 * time.Second
		c.ShutdownTimeout = 36 * time.Hour
		c.PricingFile = "prices.json"
		c.CORSOrigins = []string{"*", "https://finops.example.com"}
	})
	f("nested sections keep unset defaults", `
smtp: {host: mail.example.com, from: "Infermeter <im@example.com>"}
admin_tls: {cert: c.pem, key: k.pem}
fleet: {nats_url: "nats://nats:4222", role: both, replicas: 3}
`, nil, func(c *Config) {
		c.SMTP = SMTP{Host: "mail.example.com", Port: 587, From: "Infermeter <im@example.com>"}
		c.AdminTLS = AdminTLS{Cert: "c.pem", Key: "k.pem"}
		c.Fleet = Fleet{NATSURL: "nats://nats:4222", Role: "both", Stream: "infermeter", Replicas: 3}
	})
	f("upstreams replace the defaults, orgs get member defaults", `
upstreams:
  - name: sim
    dialect: openai
    base_url: http://localhost:8000/v1
orgs:
  - id: Acme.eu
    monthly_budget_usd: 12.5
    members:
      - id: m1
        api_key: k1
      - id: m2
        api_key: k2
        role: admin
        billing_mode: member_pays
        monthly_limit_usd: 3
`, nil, func(c *Config) {
		c.Upstreams = []Upstream{{Name: "sim", Dialect: "openai", BaseURL: "http://localhost:8000/v1"}}
		c.Orgs = []Org{{ID: "Acme.eu", MonthlyBudgetUSD: 12.5, Members: []Member{
			{ID: "m1", APIKey: "k1", Role: "member", BillingMode: "org_pays"},
			{ID: "m2", APIKey: "k2", Role: "admin", BillingMode: "member_pays", MonthlyLimitUSD: 3},
		}}}
	})
	f("env vars in every kind of field", `
max_logs: ${MAX_LOGS}
capture_bodies: ${CAPTURE}
flush_interval: ${FLUSH:-2s}
smtp:
  host: ${SMTP_HOST}
  port: ${SMTP_PORT}
  from: ${SMTP_FROM:-im@example.com}
  password: ${SMTP_PASSWORD}
`, map[string]string{"MAX_LOGS": "42", "CAPTURE": "true", "SMTP_HOST": "mx", "SMTP_PORT": "2525", "SMTP_PASSWORD": "p#w: \"x'"},
		func(c *Config) {
			c.MaxLogs = 42
			c.CaptureBodies = true
			c.FlushInterval = 2 * time.Second
			c.SMTP = SMTP{Host: "mx", Port: 2525, From: "im@example.com", Password: "p#w: \"x'"}
		})
	f("same port 0 on both listeners", "proxy_listen: 127.0.0.1:0\nadmin_listen: 127.0.0.1:0\n", nil, func(c *Config) {
		c.ProxyListen = "127.0.0.1:0"
		c.AdminListen = "127.0.0.1:0"
	})
	f("null keeps the default", "shutdown_timeout:\nsmtp:\n", nil, func(*Config) {})
	f("anchors and aliases", "data_dir: &d /srv/im\npricing_file: *d\n", nil, func(c *Config) {
		c.DataDir = "/srv/im"
		c.PricingFile = "/srv/im"
	})
}

func TestEnvExpansionIsSafe(t *testing.T) {
	// Values that would break the YAML if pasted into the text: comments, mapping separators,
	// quotes, newlines and a reference-like text.
	keys := []string{
		`abc#def`,
		`abc: def`,
		`a "quoted" 'key'`,
		"line1\nline2",
		`${NOT_EXPANDED_TWICE}`,
		` leading and trailing `,
		`true`,
	}
	for _, key := range keys {
		for _, form := range []string{`"${KEY}"`, `${KEY}`, `'${KEY}'`, "|-\n      ${KEY}"} {
			in := "upstreams:\n  - name: x\n    dialect: openai\n    base_url: https://h\n    api_key: " + form + "\n"
			c, err := parse("config.yaml", []byte(in), env(map[string]string{"KEY": key, "NOT_EXPANDED_TWICE": "oops"}))
			if err != nil {
				t.Fatalf("form %s, key %q: %s", form, key, err)
			}
			if got := c.Upstreams[0].APIKey; got != key {
				t.Fatalf("form %s: api_key = %q, want %q", form, got, key)
			}
		}
	}
}

func TestExpandEnv(t *testing.T) {
	vars := env(map[string]string{"A": "alpha", "B": "", "N_1": "n"})
	f := func(in, want, wantErr string) {
		t.Helper()
		got, err := expandEnv(in, vars)
		if wantErr != "" {
			if err == nil || err.Error() != wantErr {
				t.Fatalf("expandEnv(%q) error = %v, want %q", in, err, wantErr)
			}
			return
		}
		if err != nil || got != want {
			t.Fatalf("expandEnv(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	f("plain", "plain", "")
	f("${A}", "alpha", "")
	f("x-${A}-${N_1}-y", "x-alpha-n-y", "")
	f("${UNSET}", "", "")
	f("${UNSET:-dflt}", "dflt", "")
	f("${B:-empty uses default}", "empty uses default", "")
	f("${A:-unused}", "alpha", "")
	f("${UNSET:-}", "", "")
	f("$${A}", "${A}", "")
	f("$A and $ alone", "$A and $ alone", "")
	f("cost $5 ${A}", "cost $5 alpha", "")
	f("${A", "", `unterminated ${ in "${A"`)
	f("${}", "", "bad variable name in ${}")
	f("${1A}", "", "bad variable name in ${1A}")
	f("${A B}", "", "bad variable name in ${A B}")
}

func TestParseDuration(t *testing.T) {
	f := func(in string, want time.Duration, ok bool) {
		t.Helper()
		got, err := parseDuration(in)
		if ok && (err != nil || got != want) {
			t.Fatalf("parseDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
		if !ok && err == nil {
			t.Fatalf("parseDuration(%q) = %v, want an error", in, got)
		}
	}
	f("30d", 720*time.Hour, true)
	f("1d12h", 36*time.Hour, true)
	f("1.5d", 36*time.Hour, true)
	f("2d30m", 48*time.Hour+30*time.Minute, true)
	f("-1d", -24*time.Hour, true)
	f("90s", 90*time.Second, true)
	f("1h30m", 90*time.Minute, true)
	f("250ms", 250*time.Millisecond, true)
	f("0", 0, true)
	f("3x", 0, false)
	f("d", 0, false)
	f("1dd", 0, false)
	f("1.2.3d", 0, false)
	f("", 0, false)
	f("10", 0, false)
	f("99999999999999999999d", 0, false)
}

func TestUSDToNano(t *testing.T) {
	f := func(usd float64, want int64) {
		t.Helper()
		if got := USDToNano(usd); got != want {
			t.Fatalf("USDToNano(%v) = %d, want %d", usd, got, want)
		}
	}
	f(0, 0)
	f(1, 1_000_000_000)
	f(0.1, 100_000_000)
	f(12.345678901, 12_345_678_901)
	f(0.0000000005, 1)
	f(-0.0000000005, -1)
	f(0.0000000004, 0)
	f(0.00000000149, 1)
	f(2.5e-9, 3)
	f(-2.5e-9, -3)
	f(1000, 1_000_000_000_000)
	f(-7.25, -7_250_000_000)
	f(1e-20, 0)
	f(9e9, 9_000_000_000_000_000_000)
	f(1e10, math.MaxInt64)
	f(math.Inf(-1), -math.MaxInt64)
	f(math.NaN(), 0)
}

func TestResolvePath(t *testing.T) {
	f := func(flag string, vars map[string]string, want string) {
		t.Helper()
		if got := ResolvePath(flag, env(vars)); got != want {
			t.Fatalf("ResolvePath(%q, %v) = %q, want %q", flag, vars, got, want)
		}
	}
	f("a.yaml", map[string]string{"INFERMETER_CONFIG": "b.yaml"}, "a.yaml")
	f("", map[string]string{"INFERMETER_CONFIG": "b.yaml"}, "b.yaml")
	f("", nil, "")
	if got := ResolvePath("", nil); got != "" {
		t.Fatalf("ResolvePath with nil getenv = %q", got)
	}
}

func TestLocations(t *testing.T) {
	c, err := parse("config.yaml", []byte(`
timezone: Asia/Tokyo
orgs:
  - id: a
    timezone: Europe/Berlin
  - id: b
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		loc  *time.Location
		want string
	}{
		{"config", c.Location(), "Asia/Tokyo"},
		{"org with timezone", c.Orgs[0].Location(), "Europe/Berlin"},
		{"org without timezone", c.Orgs[1].Location(), "Asia/Tokyo"},
	} {
		if got := tc.loc.String(); got != tc.want {
			t.Errorf("%s: Location() = %q, want %q", tc.name, got, tc.want)
		}
	}
	var o Org
	if o.Location() != time.UTC {
		t.Errorf("unvalidated Org.Location() = %v, want UTC", o.Location())
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "im.yaml")
	if err := os.WriteFile(path, []byte("max_logs: 7\nproxy_listn: x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(path, nil)
	if want := path + `:2: unknown key "proxy_listn"`; err == nil || err.Error() != want {
		t.Fatalf("Load error = %v, want %q", err, want)
	}

	missing := filepath.Join(dir, "missing.yaml")
	_, err = Load(missing, nil)
	if want := `cannot read config "` + missing + `": open ` + missing + ": no such file or directory"; err == nil || err.Error() != want {
		t.Fatalf("Load error = %v, want %q", err, want)
	}
}

func TestLoadExample(t *testing.T) {
	vars := map[string]string{
		"OPENAI_API_KEY": "sk-openai",
		"ACME_ALICE_KEY": "im-alice",
		"ACME_BOB_KEY":   "im-bob",
		"SMTP_HOST":      "smtp.example.com",
		"SMTP_PASSWORD":  "pw#1: 'x'",
	}
	c, err := Load(filepath.Join("..", "examples", "infermeter.yaml"), env(vars))
	if err != nil {
		t.Fatalf("Load example: %s", err)
	}
	if c.LogRetention != 720*time.Hour || c.UpstreamConnectTimeout != 10*time.Second || c.MaxLogs != 1000000 {
		t.Errorf("durations/limits = %v %v %d", c.LogRetention, c.UpstreamConnectTimeout, c.MaxLogs)
	}
	wantSMTP := SMTP{Host: "smtp.example.com", Port: 587, Password: "pw#1: 'x'", From: "infermeter@example.com"}
	if c.SMTP != wantSMTP {
		t.Errorf("smtp = %+v, want %+v", c.SMTP, wantSMTP)
	}
	var names []string
	for _, u := range c.Upstreams {
		names = append(names, u.Name+"="+u.BaseURL+"|"+u.APIKey)
	}
	wantNames := "openai=https://api.openai.com|sk-openai anthropic=https://api.anthropic.com| " +
		"gemini=https://generativelanguage.googleapis.com| local=http://localhost:8000|"
	if got := strings.Join(names, " "); got != wantNames {
		t.Errorf("upstreams = %s\nwant        %s", got, wantNames)
	}
	if len(c.Orgs) != 1 || len(c.Orgs[0].Members) != 2 {
		t.Fatalf("orgs = %+v", c.Orgs)
	}
	o := c.Orgs[0]
	wantAlice := Member{ID: "uuid-1", Email: "alice@acme.example", Department: "research", BillingMode: "org_pays", Role: "admin", APIKey: "im-alice", MonthlyLimitUSD: 200}
	if o.ID != "acme" || o.MonthlyBudgetUSD != 1000 || o.Location().String() != "Europe/Berlin" || o.Members[0] != wantAlice {
		t.Errorf("org = %+v", o)
	}
	if m := o.Members[1]; m.Role != "member" || m.BillingMode != "member_pays" || m.APIKey != "im-bob" {
		t.Errorf("member 2 = %+v", m)
	}

	// Without the member keys in the environment the example does not validate.
	_, err = Load(filepath.Join("..", "examples", "infermeter.yaml"), nil)
	want := filepath.Join("..", "examples", "infermeter.yaml") + ": orgs[0].members[0].api_key: must not be empty"
	if err == nil || err.Error() != want {
		t.Fatalf("Load example without env: %v, want %q", err, want)
	}
}

func FuzzParse(f *testing.F) {
	example, err := os.ReadFile(filepath.Join("..", "examples", "infermeter.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(example)
	f.Add([]byte("upstreams:\n  - name: a\n    dialect: openai\n    base_url: http://x\n"))
	f.Add([]byte("flush_interval: ${F:-1d}\norgs: [{id: a, members: [{id: m, api_key: k}]}]\n"))
	f.Add([]byte("a: &x [*x]\n"))
	f.Add([]byte("---\n---\n"))
	vars := env(map[string]string{"ACME_ALICE_KEY": "a", "ACME_BOB_KEY": "b", "F": "2h"})
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := parse("config.yaml", data, vars)
		if err != nil {
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("multi-line error: %q", err)
			}
			return
		}
		if err := c.Validate(); err != nil {
			t.Fatalf("parsed config does not validate again: %s", err)
		}
	})
}
