package config

import (
	"strings"
	"testing"
)

// up is a valid upstreams section, to append orgs or change one key.
const up = "upstreams:\n  - {name: openai, dialect: openai, base_url: \"https://api.openai.com\"}\n"

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		// Malformed YAML, strictness and types: the line comes from the parser.
		{"unclosed flow", "cors_origins: [a\n", `config.yaml:1: sequence end token ']' not found`},
		{"duplicate key", "max_logs: 1\nmax_logs: 2\n", `config.yaml:2: mapping key "max_logs" already defined at [1:1]`},
		{"two documents", "max_logs: 1\n---\nmax_logs: 2\n", `config.yaml:3: only one YAML document is allowed`},
		{"not a mapping", "- a\n", `config.yaml:1: a sequence is not a mapping`},
		{"unknown top-level key", "max_logs: 1\n\nproxy_listn: \":8080\"\n", `config.yaml:3: unknown key "proxy_listn"`},
		{"unknown nested key", "smtp:\n  hots: x\n", `config.yaml:2: smtp: unknown key "hots"`},
		{"unknown key in list", "upstreams:\n  - name: a\n    dialekt: openai\n", `config.yaml:3: upstreams[0]: unknown key "dialekt"`},
		{"string for int", "max_logs: lots\n", `config.yaml:1: max_logs: "lots" is not an integer`},
		{"string for bool", "capture_bodies: \"yes please\"\n", `config.yaml:1: capture_bodies: "yes please" is not true or false`},
		{"int overflow", "max_logs: 99999999999999999999\n", `config.yaml:1: max_logs: "99999999999999999999" is out of range for an integer`},
		{"scalar for section", "smtp: 5\n", `config.yaml:1: smtp: an int is not a mapping`},
		{"nested type", "smtp:\n  port: high\n", `config.yaml:2: smtp.port: "high" is not an integer`},
		{"secret not printed", "upstreams:\n  - api_key: [1]\n", `config.yaml:2: upstreams[0].api_key: a sequence is not a string`},
		{"bad duration", "flush_interval: 3x\n", `config.yaml:1: flush_interval: "3x" is not a duration (like 90s, 1h30m or 30d)`},
		{"duration without unit", "\nupstream_timeout: 600\n", `config.yaml:2: upstream_timeout: "600" is not a duration (like 90s, 1h30m or 30d)`},
		{"bad env reference", "data_dir: ${DATA\n", `config.yaml:1: data_dir: unterminated ${ in "${DATA"`},
		{"bad env in a secret", "smtp:\n  password: \"s3cret${\"\n", `config.yaml:2: smtp.password: bad ${VAR} reference`},
		{"secret type error", "smtp:\n  password: {s3cret: 1}\n", `config.yaml:2: smtp.password: a mapping is not a string`},
		{"bad env name", "smtp:\n  host: \"${1X}\"\n", `config.yaml:2: smtp.host: bad variable name in ${1X}`},

		// Validate: one line naming the key path.
		{"listen not host:port", "proxy_listen: \"8080\"\n", `config.yaml: proxy_listen: "8080" is not host:port`},
		{"listen bad port", "admin_listen: \":http\"\n", `config.yaml: admin_listen: ":http" is not host:port`},
		{"same listeners", "admin_listen: \":8080\"\n", `config.yaml: admin_listen: ":8080" is the same as proxy_listen`},
		{"empty data_dir", "data_dir: \"\"\n", `config.yaml: data_dir: must not be empty`},
		{"bad timezone", "timezone: Mars/Olympus\n", `config.yaml: timezone: "Mars/Olympus" is not a known time zone`},
		{"flush too short", "flush_interval: 5ms\n", `config.yaml: flush_interval: must be between 10ms and 1h, got 5ms`},
		{"flush too long", "flush_interval: 1d\n", `config.yaml: flush_interval: must be between 10ms and 1h, got 24h0m0s`},
		{"retention zero", "log_retention: 0s\n", `config.yaml: log_retention: must be > 0, got 0s`},
		{"negative max_logs", "max_logs: -1\n", `config.yaml: max_logs: must be >= 0, got -1`},
		{"zero body limit", "max_request_bytes: 0\n", `config.yaml: max_request_bytes: must be > 0, got 0`},
		{"zero header limit", "max_header_bytes: 0\n", `config.yaml: max_header_bytes: must be > 0, got 0`},
		{"negative timeout", "upstream_timeout: -1s\n", `config.yaml: upstream_timeout: must be > 0, got -1s`},
		{"zero connect timeout", "upstream_connect_timeout: 0s\n", `config.yaml: upstream_connect_timeout: must be > 0, got 0s`},
		{"zero shutdown timeout", "shutdown_timeout: 0d\n", `config.yaml: shutdown_timeout: must be > 0, got 0s`},
		{"bad cors origin", "cors_origins: [\"*\", \"https://a.example/path\"]\n", `config.yaml: cors_origins[1]: "https://a.example/path" is not "*" or an origin like https://example.com`},
		{"smtp bad port", "smtp: {host: mx, port: 0, from: a@b.c}\n", `config.yaml: smtp.port: must be between 1 and 65535, got 0`},
		{"smtp without from", "smtp: {host: mx}\n", `config.yaml: smtp.from: must be set when smtp.host is set`},
		{"smtp bad from", "smtp: {host: mx, from: nobody}\n", `config.yaml: smtp.from: "nobody" is not an email address`},
		{"tls cert only", "admin_tls: {cert: c.pem}\n", `config.yaml: admin_tls: cert and key must be set together`},
		{"throttle max 0", "auth_throttle: {max_failures: 0}\n", `config.yaml: auth_throttle.max_failures: must be 1..1000000, got 0`},
		{"throttle window", "auth_throttle: {window: 500ms}\n", `config.yaml: auth_throttle.window: must be 1s..24h, got 500ms`},
		{"throttle exempt", "auth_throttle: {exempt: [\"10.0.0.0/33\"]}\n", `config.yaml: auth_throttle.exempt[0]: "10.0.0.0/33" is not an address or a CIDR prefix`},
		{"throttle proxies", "auth_throttle: {trusted_proxies: [\"ingress\"]}\n", `config.yaml: auth_throttle.trusted_proxies[0]: "ingress" is not an address or a CIDR prefix`},
		{"fleet role", "fleet: {nats_url: \"nats://n:4222\", role: leader}\n", `config.yaml: fleet.role: "leader" is not one of sidecar, aggregator, both`},
		{"fleet stream", "fleet: {nats_url: \"nats://n:4222\", stream: a.b}\n", `config.yaml: fleet.stream: "a.b" is not a JetStream stream name`},
		{"fleet replicas", "fleet: {nats_url: \"nats://n:4222\", replicas: 7}\n", `config.yaml: fleet.replicas: must be between 1 and 5, got 7`},
		{"no upstreams", "upstreams: []\n", `config.yaml: upstreams: at least one upstream is required`},
		{"upstream name empty", "upstreams:\n  - {dialect: openai, base_url: \"http://x\"}\n", `config.yaml: upstreams[0].name: must not be empty`},
		{"upstream name chars", "upstreams:\n  - {name: Open.AI, dialect: openai, base_url: \"http://x\"}\n", `config.yaml: upstreams[0].name: "Open.AI" must be made of a-z, 0-9, _ and -`},
		{"upstream name reserved", "upstreams:\n  - {name: v1beta, dialect: gemini, base_url: \"http://x\"}\n", `config.yaml: upstreams[0].name: "v1beta" is reserved (a path the proxy routes itself)`},
		{"upstream name twice", up + "  - {name: openai, dialect: openai, base_url: \"http://x\"}\n", `config.yaml: upstreams[1].name: "openai" is already used by upstreams[0]`},
		{"dialect typo", up + "  - {name: b, dialect: opanai, base_url: \"http://x\"}\n", `config.yaml: upstreams[1].dialect: "opanai" is not one of openai, anthropic, gemini`},
		{"base_url relative", up + "  - {name: b, dialect: openai, base_url: \"/v1\"}\n", `config.yaml: upstreams[1].base_url: "/v1" is not an absolute http(s) URL`},
		{"base_url scheme", up + "  - {name: b, dialect: openai, base_url: \"ftp://x\"}\n", `config.yaml: upstreams[1].base_url: "ftp://x" is not an absolute http(s) URL`},
		{"org id empty", up + "orgs:\n  - name: x\n", `config.yaml: orgs[0].id: must not be empty`},
		{"org id chars", up + "orgs:\n  - id: \"a b\"\n", `config.yaml: orgs[0].id: "a b" must be made of A-Z, a-z, 0-9, _, . and -`},
		{"org id twice", up + "orgs:\n  - id: a\n  - id: a\n", `config.yaml: orgs[1].id: "a" is already used by orgs[0]`},
		{"org timezone", up + "orgs:\n  - {id: a, timezone: Mars/Olympus}\n", `config.yaml: orgs[0].timezone: "Mars/Olympus" is not a known time zone`},
		{"org budget negative", up + "orgs:\n  - {id: a, monthly_budget_usd: -5}\n", `config.yaml: orgs[0].monthly_budget_usd: must be between 0 and 1000000000, got -5`},
		{"org budget nan", up + "orgs:\n  - {id: a, monthly_budget_usd: .nan}\n", `config.yaml: orgs[0].monthly_budget_usd: must be between 0 and 1000000000, got NaN`},
		{"member id empty", up + "orgs:\n  - id: a\n    members:\n      - {api_key: k}\n", `config.yaml: orgs[0].members[0].id: must not be empty`},
		{"member id twice", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: k1}\n      - {id: m, api_key: k2}\n", `config.yaml: orgs[0].members[1].id: "m" is already used by orgs[0].members[0]`},
		{"member email", up + "orgs:\n  - id: a\n    members:\n      - {id: m, email: nope, api_key: k}\n", `config.yaml: orgs[0].members[0].email: "nope" is not an email address`},
		{"member billing mode", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: k, billing_mode: free}\n", `config.yaml: orgs[0].members[0].billing_mode: "free" is not one of org_pays, member_pays`},
		{"member role", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: k, role: owner}\n", `config.yaml: orgs[0].members[0].role: "owner" is not one of admin, member`},
		{"member key empty", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: \"${UNSET_KEY}\"}\n", `config.yaml: orgs[0].members[0].api_key: must not be empty`},
		{"member key twice in org", up + "orgs:\n  - id: a\n    members:\n      - {id: m0, api_key: s3cret}\n      - {id: m1, api_key: other}\n      - {id: m2, api_key: s3cret}\n", `config.yaml: orgs[0].members[2].api_key: same key as orgs[0].members[0]`},
		{"member key twice across orgs", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: s3cret}\n  - id: b\n    members:\n      - {id: m, api_key: s3cret}\n", `config.yaml: orgs[1].members[0].api_key: same key as orgs[0].members[0]`},
		{"member limit negative", up + "orgs:\n  - id: a\n    members:\n      - {id: m, api_key: k, monthly_limit_usd: -1}\n", `config.yaml: orgs[0].members[0].monthly_limit_usd: must be between 0 and 1000000000, got -1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("config.yaml", []byte(tc.in), nil)
			if err == nil {
				t.Fatalf("parse(%q) succeeded, want %q", tc.in, tc.want)
			}
			if got := err.Error(); got != tc.want {
				t.Fatalf("parse(%q)\n got: %s\nwant: %s", tc.in, got, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Fatalf("error leaks a secret: %s", err)
			}
		})
	}
}
