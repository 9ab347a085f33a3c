package alert

import (
	"fmt"
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Rule types and actions.
const (
	TypeSpending    = "spending"
	TypeUsage       = "usage"
	TypeErrorRate   = "error_rate"
	TypeLatency     = "latency"
	TypeMemberLimit = "member_limit"

	ActionEmail   = "email"
	ActionWebhook = "webhook"
)

// Bounds of a rule.
const (
	MaxNameLen    = 200
	MaxRecipients = 50
)

// typeMetrics lists the metrics each type of rule may use.
var typeMetrics = map[string][]string{
	TypeSpending:    {DailySpend, MonthlySpend, HourlySpend},
	TypeUsage:       {Requests, Tokens},
	TypeErrorRate:   {ErrorRate},
	TypeLatency:     {AvgLatencyMs, P95LatencyMs},
	TypeMemberLimit: {MemberSpendPct},
}

// Types lists the rule types.
var Types = []string{TypeSpending, TypeUsage, TypeErrorRate, TypeLatency, TypeMemberLimit}

// Rule is one alert rule. Values are immutable once created.
type Rule struct {
	ID string `json:"id"`
	// Org is the org the rule watches.
	Org string `json:"org_id"`
	// User is the member whose own traffic the rule watches (a member's
	// rule), or "" for the whole org (an admin's rule).
	User string `json:"user_id"`
	// CreatedBy is the member who created the rule.
	CreatedBy  string   `json:"created_by"`
	Name       string   `json:"name"`
	Type       string   `json:"type"`
	Condition  string   `json:"condition"`
	Action     string   `json:"action"`
	Recipients []string `json:"recipients"`
	WebhookURL string   `json:"webhook_url"`
	// Cooldown is the least time between two firings; 0 is none.
	Cooldown  time.Duration `json:"cooldown_ns"`
	CreatedAt time.Time     `json:"created_at"`
}

// Validate checks the fields a client gives (name, type, condition,
// action, recipients, webhook_url, cooldown). mailOn tells whether an SMTP
// server is configured. Every error names the field at fault first
// ("recipients[1]: ..."); a bad condition's error is a *SyntaxError that
// says at which column.
func Validate(r *Rule, mailOn bool) error {
	name := strings.TrimSpace(r.Name)
	if name == "" {
		return fmt.Errorf("name: must be given")
	}
	if n := utf8.RuneCountInString(r.Name); n > MaxNameLen {
		return fmt.Errorf("name: %d characters, at most %d", n, MaxNameLen)
	}
	allowed, ok := typeMetrics[r.Type]
	if !ok {
		return fmt.Errorf("type: %q is not one of %s", r.Type, strings.Join(Types, ", "))
	}
	c, err := Parse(r.Condition)
	if err != nil {
		return err
	}
	for _, m := range c.Metrics() {
		if !slices.Contains(allowed, m) {
			return fmt.Errorf("condition: metric %q does not fit type %q, which takes %s", m, r.Type, strings.Join(allowed, ", "))
		}
	}
	switch r.Action {
	case ActionEmail:
		if !mailOn {
			return fmt.Errorf("action: email needs an SMTP server, and smtp.host is not configured; use webhook")
		}
		if len(r.Recipients) == 0 {
			return fmt.Errorf("recipients: at least one address is needed for the email action")
		}
	case ActionWebhook:
		if r.WebhookURL == "" {
			return fmt.Errorf("webhook_url: must be given for the webhook action")
		}
	default:
		return fmt.Errorf("action: %q is not one of email, webhook", r.Action)
	}
	if len(r.Recipients) > MaxRecipients {
		return fmt.Errorf("recipients: %d addresses, at most %d", len(r.Recipients), MaxRecipients)
	}
	for i, a := range r.Recipients {
		p, err := mail.ParseAddress(a)
		if err != nil {
			return fmt.Errorf("recipients[%d]: %q is not an email address: %w", i, a, err)
		}
		if p.Address != strings.TrimSpace(a) && p.Name == "" {
			return fmt.Errorf("recipients[%d]: %q is not a plain email address", i, a)
		}
	}
	if r.WebhookURL != "" {
		u, err := url.Parse(r.WebhookURL)
		if err != nil {
			return fmt.Errorf("webhook_url: %q is not a URL: %w", r.WebhookURL, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("webhook_url: %q is not an absolute http or https URL", r.WebhookURL)
		}
	}
	if r.Cooldown < 0 {
		return fmt.Errorf("cooldown: %s is negative", r.Cooldown)
	}
	return nil
}
