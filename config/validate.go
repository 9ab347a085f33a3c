package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// maxUSD is the largest budget or limit accepted, in USD.
const maxUSD = 1e9

// Validate fills the member defaults (role member, billing_mode org_pays), resolves the time
// zones returned by Location, and returns the first problem as one line naming the key path,
// for example `upstreams[1].dialect: "opanai" is not one of openai, anthropic, gemini`. Secrets
// never appear in its errors. Validate must not run concurrently with readers of c.
func (c *Config) Validate() error {
	if err := checkListen("proxy_listen", c.ProxyListen); err != nil {
		return err
	}
	if err := checkListen("admin_listen", c.AdminListen); err != nil {
		return err
	}
	if c.AdminListen == c.ProxyListen && !strings.HasSuffix(c.ProxyListen, ":0") {
		return fmt.Errorf("admin_listen: %q is the same as proxy_listen", c.AdminListen)
	}
	if c.DataDir == "" {
		return fmt.Errorf("data_dir: must not be empty")
	}
	loc, err := loadLocation("timezone", c.Timezone)
	if err != nil {
		return err
	}
	if c.FlushInterval < 10*time.Millisecond || c.FlushInterval > time.Hour {
		return fmt.Errorf("flush_interval: must be between 10ms and 1h, got %s", c.FlushInterval)
	}
	if c.LogRetention <= 0 {
		return fmt.Errorf("log_retention: must be > 0, got %s", c.LogRetention)
	}
	if c.MaxLogs < 0 {
		return fmt.Errorf("max_logs: must be >= 0, got %d", c.MaxLogs)
	}
	if c.MaxRequestBytes <= 0 {
		return fmt.Errorf("max_request_bytes: must be > 0, got %d", c.MaxRequestBytes)
	}
	if c.MaxHeaderBytes <= 0 {
		return fmt.Errorf("max_header_bytes: must be > 0, got %d", c.MaxHeaderBytes)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"upstream_timeout", c.UpstreamTimeout},
		{"upstream_connect_timeout", c.UpstreamConnectTimeout},
		{"shutdown_timeout", c.ShutdownTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("%s: must be > 0, got %s", d.key, d.v)
		}
	}
	for i, o := range c.CORSOrigins {
		if err := checkOrigin(o); err != nil {
			return fmt.Errorf("cors_origins[%d]: %w", i, err)
		}
	}
	if err := c.SMTP.validate(); err != nil {
		return err
	}
	if (c.AdminTLS.Cert == "") != (c.AdminTLS.Key == "") {
		return fmt.Errorf("admin_tls: cert and key must be set together")
	}
	if n := c.AuthThrottle.MaxFailures; n < 1 || n > 1_000_000 {
		return fmt.Errorf("auth_throttle.max_failures: must be 1..1000000, got %d", n)
	}
	if w := c.AuthThrottle.Window; w < time.Second || w > 24*time.Hour {
		return fmt.Errorf("auth_throttle.window: must be 1s..24h, got %s", w)
	}
	if _, _, err := c.AuthThrottle.Prefixes(); err != nil {
		return err
	}
	if err := c.Fleet.validate(); err != nil {
		return err
	}
	if err := c.validateUpstreams(); err != nil {
		return err
	}
	if err := c.validateOrgs(loc); err != nil {
		return err
	}
	c.loc = loc
	return nil
}

// validate checks the SMTP settings, which matter only when Host is set.
func (s *SMTP) validate() error {
	if s.Host == "" {
		return nil
	}
	if s.Port < 1 || s.Port > 65535 {
		return fmt.Errorf("smtp.port: must be between 1 and 65535, got %d", s.Port)
	}
	if s.From == "" {
		return fmt.Errorf("smtp.from: must be set when smtp.host is set")
	}
	if _, err := mail.ParseAddress(s.From); err != nil {
		return fmt.Errorf("smtp.from: %q is not an email address", s.From)
	}
	return nil
}

// validate checks the fleet settings, which matter only when NATSURL is set.
func (f *Fleet) validate() error {
	if f.NATSURL == "" {
		return nil
	}
	switch f.Role {
	case "sidecar", "aggregator", "both":
	default:
		return fmt.Errorf("fleet.role: %q is not one of sidecar, aggregator, both", f.Role)
	}
	if f.Stream == "" || strings.ContainsAny(f.Stream, " \t.*>/\\") {
		return fmt.Errorf("fleet.stream: %q is not a JetStream stream name", f.Stream)
	}
	if f.Replicas < 1 || f.Replicas > 5 {
		return fmt.Errorf("fleet.replicas: must be between 1 and 5, got %d", f.Replicas)
	}
	return nil
}

// validateUpstreams checks the upstream list.
func (c *Config) validateUpstreams() error {
	if len(c.Upstreams) == 0 {
		return fmt.Errorf("upstreams: at least one upstream is required")
	}
	seen := make(map[string]int, len(c.Upstreams))
	for i, u := range c.Upstreams {
		key := fmt.Sprintf("upstreams[%d]", i)
		switch {
		case u.Name == "":
			return fmt.Errorf("%s.name: must not be empty", key)
		case !isName(u.Name, false):
			return fmt.Errorf("%s.name: %q must be made of a-z, 0-9, _ and -", key, u.Name)
		case isReserved(u.Name):
			return fmt.Errorf("%s.name: %q is reserved (a path the proxy routes itself)", key, u.Name)
		}
		if j, ok := seen[u.Name]; ok {
			return fmt.Errorf("%s.name: %q is already used by upstreams[%d]", key, u.Name, j)
		}
		seen[u.Name] = i
		switch u.Dialect {
		case "openai", "anthropic", "gemini":
		default:
			return fmt.Errorf("%s.dialect: %q is not one of openai, anthropic, gemini", key, u.Dialect)
		}
		if err := checkBaseURL(u.BaseURL); err != nil {
			return fmt.Errorf("%s.base_url: %w", key, err)
		}
	}
	return nil
}

// validateOrgs checks the orgs and their members and resolves their time zones; def is the
// default time zone.
func (c *Config) validateOrgs(def *time.Location) error {
	orgs := make(map[string]int, len(c.Orgs))
	keys := make(map[string]string)
	for i := range c.Orgs {
		o := &c.Orgs[i]
		key := fmt.Sprintf("orgs[%d]", i)
		switch {
		case o.ID == "":
			return fmt.Errorf("%s.id: must not be empty", key)
		case !isName(o.ID, true):
			return fmt.Errorf("%s.id: %q must be made of A-Z, a-z, 0-9, _, . and -", key, o.ID)
		}
		if j, ok := orgs[o.ID]; ok {
			return fmt.Errorf("%s.id: %q is already used by orgs[%d]", key, o.ID, j)
		}
		orgs[o.ID] = i
		loc := def
		if o.Timezone != "" {
			var err error
			if loc, err = loadLocation(key+".timezone", o.Timezone); err != nil {
				return err
			}
		}
		if err := checkUSD(key+".monthly_budget_usd", o.MonthlyBudgetUSD); err != nil {
			return err
		}
		members := make(map[string]int, len(o.Members))
		for j := range o.Members {
			m := &o.Members[j]
			mkey := fmt.Sprintf("%s.members[%d]", key, j)
			if m.ID == "" {
				return fmt.Errorf("%s.id: must not be empty", mkey)
			}
			if k, ok := members[m.ID]; ok {
				return fmt.Errorf("%s.id: %q is already used by %s.members[%d]", mkey, m.ID, key, k)
			}
			members[m.ID] = j
			if m.Email != "" {
				if _, err := mail.ParseAddress(m.Email); err != nil {
					return fmt.Errorf("%s.email: %q is not an email address", mkey, m.Email)
				}
			}
			if m.BillingMode == "" {
				m.BillingMode = "org_pays"
			}
			if m.BillingMode != "org_pays" && m.BillingMode != "member_pays" {
				return fmt.Errorf("%s.billing_mode: %q is not one of org_pays, member_pays", mkey, m.BillingMode)
			}
			if m.Role == "" {
				m.Role = "member"
			}
			if m.Role != "admin" && m.Role != "member" {
				return fmt.Errorf("%s.role: %q is not one of admin, member", mkey, m.Role)
			}
			if m.APIKey == "" {
				return fmt.Errorf("%s.api_key: must not be empty", mkey)
			}
			if other, ok := keys[m.APIKey]; ok {
				return fmt.Errorf("%s.api_key: same key as %s", mkey, other)
			}
			keys[m.APIKey] = mkey
			if err := checkUSD(mkey+".monthly_limit_usd", m.MonthlyLimitUSD); err != nil {
				return err
			}
		}
		o.loc = loc
	}
	return nil
}

// checkListen checks that addr is host:port with a numeric port.
func checkListen(key, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if p, perr := strconv.Atoi(port); perr != nil || p < 0 || p > 65535 {
			err = fmt.Errorf("bad port")
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %q is not host:port", key, addr)
	}
	return nil
}

// loadLocation loads the IANA time zone name for key.
func loadLocation(key, name string) (*time.Location, error) {
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %q is not a known time zone", key, name)
	}
	return loc, nil
}

// checkBaseURL checks that s is an absolute http or https URL.
func checkBaseURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	return nil
}

// checkOrigin checks that s is "*" or an http(s) origin: scheme and host, nothing after.
func checkOrigin(s string) error {
	if s == "*" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return fmt.Errorf("%q is not \"*\" or an origin like https://example.com", s)
	}
	return nil
}

// checkUSD checks that usd is an amount between 0 and maxUSD.
func checkUSD(key string, usd float64) error {
	if !(usd >= 0 && usd <= maxUSD) { // also false for NaN
		return fmt.Errorf("%s: must be between 0 and 1000000000, got %v", key, usd)
	}
	return nil
}

// isName reports whether s is made of a-z, 0-9, '_' and '-' (and also A-Z and '.' when wide).
func isName(s string, wide bool) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_', r == '-':
		case wide && (r >= 'A' && r <= 'Z' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// isReserved reports whether name is a first path segment the proxy or admin routes itself.
func isReserved(name string) bool {
	switch name {
	case "v1", "v1beta", "v1alpha", "api", "ws", "metrics", "healthz", "readyz":
		return true
	}
	return false
}
