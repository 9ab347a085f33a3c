package config

import (
	"fmt"
	"math"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
	_ "time/tzdata" // time zones must load in containers without a zoneinfo directory
)

// EnvConfigPath is the environment variable naming the config file when -config is not given.
const EnvConfigPath = "INFERMETER_CONFIG"

// Config is the whole infermeter configuration. The yaml tags are the keys of the file.
type Config struct {
	// ProxyListen is the host:port of the proxy listener. Default ":8080".
	ProxyListen string `yaml:"proxy_listen"`
	// AdminListen is the host:port of the admin listener (API, dashboard, /metrics).
	// Default ":9090".
	AdminListen string `yaml:"admin_listen"`
	// DataDir is the directory of the buntdb files. Default "./data".
	DataDir string `yaml:"data_dir"`
	// Timezone is the IANA time zone of orgs that set none. Default "UTC".
	Timezone string `yaml:"timezone"`
	// FlushInterval is the store batch period, between 10ms and 1h. Default 1s.
	FlushInterval time.Duration `yaml:"flush_interval"`
	// LogRetention is how long request logs are kept; rollups are kept forever. Default 30d.
	LogRetention time.Duration `yaml:"log_retention"`
	// MaxLogs is the most request logs kept, oldest dropped first; 0 means no bound.
	// Default 1000000.
	MaxLogs int `yaml:"max_logs"`
	// CaptureBodies keeps request and response bodies (secrets redacted). Default false.
	CaptureBodies bool `yaml:"capture_bodies"`
	// MaxRequestBytes is the largest request body accepted; larger ones get 413.
	// Default 33554432 (32 MiB).
	MaxRequestBytes int `yaml:"max_request_bytes"`
	// MaxHeaderBytes is the largest request header accepted. Default 65536.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// UpstreamTimeout bounds a whole upstream response, streams included. Default 600s.
	UpstreamTimeout time.Duration `yaml:"upstream_timeout"`
	// UpstreamConnectTimeout bounds connecting to an upstream. Default 10s.
	UpstreamConnectTimeout time.Duration `yaml:"upstream_connect_timeout"`
	// ShutdownTimeout bounds draining in-flight requests at SIGTERM. Default 30s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// PricingFile is an optional LiteLLM model_prices JSON file of extra or overriding prices.
	PricingFile string `yaml:"pricing_file"`
	// CORSOrigins are the origins allowed on the admin API: "*" or "https://host[:port]".
	// Empty (the default) turns CORS off.
	CORSOrigins []string `yaml:"cors_origins"`
	// SMTP is the mail server of alerts and scheduled reports.
	SMTP SMTP `yaml:"smtp"`
	// AdminTLS turns TLS on for the admin listener when both files are set.
	AdminTLS AdminTLS `yaml:"admin_tls"`
	// AuthThrottle is the failed-authentication throttle of both listeners.
	AuthThrottle AuthThrottle `yaml:"auth_throttle"`
	// Fleet is the NATS JetStream fleet mode, off when NATSURL is empty.
	Fleet Fleet `yaml:"fleet"`
	// Upstreams are the providers, in order: the first of a dialect owns its unprefixed paths.
	Upstreams []Upstream `yaml:"upstreams"`
	// Orgs are the organisations and members declared in the file (upserted at start).
	Orgs []Org `yaml:"orgs"`

	loc *time.Location
}

// SMTP is the mail server configuration. Mail is off when Host is empty.
type SMTP struct {
	// Host is the SMTP server host name.
	Host string `yaml:"host"`
	// Port is the SMTP server port, 1..65535. Default 587.
	Port int `yaml:"port"`
	// Username is the optional login name.
	Username string `yaml:"username"`
	// Password is the optional login password (a secret).
	Password string `yaml:"password"`
	// From is the sender address, required when Host is set.
	From string `yaml:"from"`
}

// AuthThrottle configures the failed-authentication throttle: a client address that sends
// MaxFailures unknown keys within Window gets 429 on every request until the window ends.
type AuthThrottle struct {
	// MaxFailures is how many unknown keys a client may send in a window, 1..1000000.
	// Default 10.
	MaxFailures int `yaml:"max_failures"`
	// Window is how long a client's count lasts from its first failure, 1s..24h. Default 1m.
	Window time.Duration `yaml:"window"`
	// Exempt lists addresses or CIDR prefixes never throttled. Absent: 127.0.0.1 and ::1 (the
	// app of the sidecar's own pod); [] exempts nobody.
	Exempt []string `yaml:"exempt"`
	// TrustedProxies lists addresses or CIDR prefixes of proxies (an ingress, a load balancer)
	// whose X-Forwarded-For names the client; empty (the default) ignores that header.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// Prefixes returns Exempt (nil when absent) and TrustedProxies as prefixes; an address is a
// prefix of its full length. Validate checks that they parse.
func (a *AuthThrottle) Prefixes() (exempt, trusted []netip.Prefix, err error) {
	conv := func(key string, in []string) ([]netip.Prefix, error) {
		if in == nil {
			return nil, nil
		}
		out := make([]netip.Prefix, 0, len(in))
		for i, s := range in {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				addr, aerr := netip.ParseAddr(s)
				if aerr != nil {
					return nil, fmt.Errorf("auth_throttle.%s[%d]: %q is not an address or a CIDR prefix", key, i, s)
				}
				p = netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen())
			}
			out = append(out, p.Masked())
		}
		return out, nil
	}
	if exempt, err = conv("exempt", a.Exempt); err != nil {
		return nil, nil, err
	}
	if trusted, err = conv("trusted_proxies", a.TrustedProxies); err != nil {
		return nil, nil, err
	}
	return exempt, trusted, nil
}

// AdminTLS names the certificate and key files of the admin listener.
type AdminTLS struct {
	// Cert is the PEM certificate (chain) file.
	Cert string `yaml:"cert"`
	// Key is the PEM private key file.
	Key string `yaml:"key"`
}

// Fleet configures fleet mode, in which several instances share one view through NATS.
type Fleet struct {
	// NATSURL is the NATS server URL; empty turns fleet mode off.
	NATSURL string `yaml:"nats_url"`
	// Role is sidecar (publishes events), aggregator (consumes them) or both. Default sidecar.
	Role string `yaml:"role"`
	// InstanceID names this instance in the fleet; empty means the host name.
	InstanceID string `yaml:"instance_id"`
	// Stream is the JetStream stream name. Default "infermeter".
	Stream string `yaml:"stream"`
	// Replicas is the JetStream replica count of the stream, 1..5. Default 1.
	Replicas int `yaml:"replicas"`
}

// Upstream is one provider the proxy forwards to.
type Upstream struct {
	// Name is the path prefix and model namespace ("/openai/...", "openai/gpt-4o").
	Name string `yaml:"name"`
	// Dialect is the wire format: openai, anthropic or gemini.
	Dialect string `yaml:"dialect"`
	// BaseURL is the absolute http(s) URL requests are forwarded to.
	BaseURL string `yaml:"base_url"`
	// APIKey replaces the member's key upstream; empty passes the client's own credentials.
	APIKey string `yaml:"api_key"`
}

// Org is an organisation with its members.
type Org struct {
	// ID is the org identifier used in API paths, made of [A-Za-z0-9_.-].
	ID string `yaml:"id"`
	// Name is the display name.
	Name string `yaml:"name"`
	// Timezone is the IANA time zone of the org's days and months; empty uses Config.Timezone.
	Timezone string `yaml:"timezone"`
	// MonthlyBudgetUSD is the org's monthly budget in USD; 0 means none.
	MonthlyBudgetUSD float64 `yaml:"monthly_budget_usd"`
	// Members are the org's members.
	Members []Member `yaml:"members"`

	loc *time.Location
}

// Member is one user, team or service of an org, authenticated by its API key.
type Member struct {
	// ID identifies the member within its org.
	ID string `yaml:"id"`
	// Email is the optional contact address.
	Email string `yaml:"email"`
	// Department is the default department of the member's requests.
	Department string `yaml:"department"`
	// BillingMode is org_pays or member_pays. Default org_pays.
	BillingMode string `yaml:"billing_mode"`
	// Role is admin (sees the whole org) or member (sees its own requests). Default member.
	Role string `yaml:"role"`
	// APIKey is the member's infermeter key (a secret), unique across all orgs.
	APIKey string `yaml:"api_key"`
	// MonthlyLimitUSD is a hard monthly limit in USD (429 once reached); 0 means none.
	MonthlyLimitUSD float64 `yaml:"monthly_limit_usd"`
}

// Default returns the embedded defaults, the configuration used without a config file. The
// upstream keys are read with getenv (OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY); a nil
// getenv is an empty environment.
func Default(getenv func(string) string) *Config {
	getenv = orEmpty(getenv)
	return &Config{
		ProxyListen:            ":8080",
		AdminListen:            ":9090",
		DataDir:                "./data",
		Timezone:               "UTC",
		FlushInterval:          time.Second,
		LogRetention:           30 * 24 * time.Hour,
		MaxLogs:                1000000,
		MaxRequestBytes:        32 << 20,
		MaxHeaderBytes:         64 << 10,
		UpstreamTimeout:        600 * time.Second,
		UpstreamConnectTimeout: 10 * time.Second,
		ShutdownTimeout:        30 * time.Second,
		SMTP:                   SMTP{Port: 587},
		AuthThrottle:           AuthThrottle{MaxFailures: 10, Window: time.Minute},
		Fleet:                  Fleet{Role: "sidecar", Stream: "infermeter", Replicas: 1},
		Upstreams: []Upstream{
			{Name: "openai", Dialect: "openai", BaseURL: "https://api.openai.com", APIKey: getenv("OPENAI_API_KEY")},
			{Name: "anthropic", Dialect: "anthropic", BaseURL: "https://api.anthropic.com", APIKey: getenv("ANTHROPIC_API_KEY")},
			{Name: "gemini", Dialect: "gemini", BaseURL: "https://generativelanguage.googleapis.com", APIKey: getenv("GEMINI_API_KEY")},
		},
		loc: time.UTC,
	}
}

// Load reads, expands, decodes and validates the config file at path; getenv resolves ${VAR}
// (nil is an empty environment). An empty path returns Default(getenv). Every error is one line
// starting with the path, and the line number when it is known.
func Load(path string, getenv func(string) string) (*Config, error) {
	if path == "" {
		return Default(getenv), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read config %q: %w", path, err)
	}
	return parse(path, data, getenv)
}

// ResolvePath returns the config file path: the -config flag value when set, else
// $INFERMETER_CONFIG, else "" (run on defaults).
func ResolvePath(flag string, getenv func(string) string) string {
	if flag != "" {
		return flag
	}
	return orEmpty(getenv)(EnvConfigPath)
}

// Location returns the default time zone, resolved by Validate (UTC before it is called).
func (c *Config) Location() *time.Location {
	if c.loc == nil {
		return time.UTC
	}
	return c.loc
}

// Location returns the org's time zone, or the config's default when the org sets none. It is
// resolved by Validate (UTC before it is called).
func (o *Org) Location() *time.Location {
	if o.loc == nil {
		return time.UTC
	}
	return o.loc
}

// maxUSDToNano is the largest magnitude USDToNano converts without saturating.
const maxUSDToNano = 9.2e9

// USDToNano converts USD to integer nano-dollars, rounding half away from zero on the decimal
// digits of usd's shortest representation (so 0.0000000005 is 1 and -0.0000000005 is -1).
// NaN is 0; beyond ±9.2 billion USD the result saturates at ±math.MaxInt64.
func USDToNano(usd float64) int64 {
	switch {
	case math.IsNaN(usd):
		return 0
	case usd > maxUSDToNano:
		return math.MaxInt64
	case usd < -maxUSDToNano:
		return -math.MaxInt64
	}
	s := strconv.FormatFloat(math.Abs(usd), 'f', -1, 64)
	whole, frac, _ := strings.Cut(s, ".")
	frac += strings.Repeat("0", max(0, 10-len(frac)))
	w, _ := strconv.ParseInt(whole, 10, 64) // digits only and below 9.2e9 by the checks above
	f, _ := strconv.ParseInt(frac[:9], 10, 64)
	n := w*1e9 + f
	if frac[9] >= '5' {
		n++
	}
	if usd < 0 {
		return -n
	}
	return n
}

// orEmpty returns getenv, or an empty environment when it is nil.
func orEmpty(getenv func(string) string) func(string) string {
	if getenv == nil {
		return func(string) string { return "" }
	}
	return getenv
}
