package alert

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	json "github.com/goccy/go-json"

	"github.com/infermeter/infermeter/notify"
)

// payload is the webhook body: Slack-compatible through its text field.
type payload struct {
	Text    string             `json:"text"`
	Alert   payloadAlert       `json:"alert"`
	Values  map[string]float64 `json:"values"`
	Member  string             `json:"member_id,omitempty"`
	FiredAt string             `json:"fired_at"`
	History string             `json:"history_id"`
}

type payloadAlert struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Type      string `json:"type"`
	Condition string `json:"condition"`
	Org       string `json:"org_id"`
	User      string `json:"user_id"`
}

// deliver runs the action of r for firing f in its own goroutine and
// records the outcome in f's history entry.
func (e *Engine) deliver(r Rule, f Firing) {
	e.deliveries.Add(1)
	go func() {
		defer e.deliveries.Done()
		ctx, cancel := context.WithTimeout(e.dctx, deliveryTimeout)
		defer cancel()
		d := f.Deliveries[0]
		var err error
		switch r.Action {
		case ActionEmail:
			d.Attempts = 1
			err = e.opt.Mailer.Send(ctx, e.mail(&r, &f))
		default:
			var body []byte
			if body, err = json.Marshal(e.payload(&r, &f)); err == nil {
				d.Attempts, err = e.opt.Webhook.Post(ctx, r.WebhookURL, body)
			}
		}
		d.Status = DeliverySent
		if err != nil {
			err = fmt.Errorf("cannot deliver alert %q to %q: %w", r.ID, d.Target, err)
			d.Status, d.Error = DeliveryFailed, err.Error()
			e.opt.Logf("alert: %s", err)
		}
		if err := e.updateHistory(f.key, func(h *Firing) { h.Deliveries = []Delivery{d} }); err != nil {
			e.opt.Logf("alert: %s", err)
		}
	}()
}

func (e *Engine) payload(r *Rule, f *Firing) payload {
	return payload{
		Text:    f.Message,
		Alert:   payloadAlert{ID: r.ID, Name: r.Name, Type: r.Type, Condition: r.Condition, Org: r.Org, User: r.User},
		Values:  f.Values,
		Member:  f.Member,
		FiredAt: f.FiredAt.In(e.location(r.Org)).Format(time.RFC3339),
		History: f.ID,
	}
}

// mail renders the email of a firing.
func (e *Engine) mail(r *Rule, f *Firing) notify.Mail {
	var b strings.Builder
	b.WriteString(f.Message + "\n\n")
	fmt.Fprintf(&b, "Alert:     %s (%s, id %s)\n", r.Name, r.Type, r.ID)
	fmt.Fprintf(&b, "Org:       %s\n", r.Org)
	if r.User != "" {
		fmt.Fprintf(&b, "Member:    %s\n", r.User)
	}
	fmt.Fprintf(&b, "Condition: %s\n", r.Condition)
	fmt.Fprintf(&b, "Fired at:  %s\n", f.FiredAt.In(e.location(r.Org)).Format(time.RFC3339))
	b.WriteString("Values:\n")
	for _, m := range sortedKeys(f.Values) {
		fmt.Fprintf(&b, "  %s = %s\n", m, valueText(m, f.Values[m]))
	}
	if f.Member != "" {
		fmt.Fprintf(&b, "Highest member: %s\n", f.Member)
	}
	return notify.Mail{To: r.Recipients, Subject: fmt.Sprintf("[infermeter] alert %q fired", r.Name), Text: b.String()}
}

// summary is the one-line human text of a firing, such as
// `alert "Daily spend" (spending) fired for org acme: daily_spend = 0.00195 USD (condition: daily_spend > 0.001)`.
func summary(r *Rule, f *Firing, loc *time.Location) string {
	var b strings.Builder
	fmt.Fprintf(&b, "alert %q (%s) fired for ", r.Name, r.Type)
	if r.User != "" {
		fmt.Fprintf(&b, "member %s of ", r.User)
	}
	fmt.Fprintf(&b, "org %s: ", r.Org)
	for i, m := range sortedKeys(f.Values) {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s = %s", m, valueText(m, f.Values[m]))
		if m == MemberSpendPct && f.Member != "" {
			fmt.Fprintf(&b, " (member %s)", f.Member)
		}
	}
	fmt.Fprintf(&b, " (condition: %s) at %s", r.Condition, f.FiredAt.In(loc).Format(time.RFC3339))
	return b.String()
}

// valueText renders a metric's value with its unit.
func valueText(metric string, v float64) string {
	s := strconv.FormatFloat(v, 'f', -1, 64)
	switch metric {
	case DailySpend, MonthlySpend, HourlySpend:
		return s + " USD"
	case ErrorRate, MemberSpendPct:
		return s + "%"
	case AvgLatencyMs, P95LatencyMs:
		return s + " ms"
	}
	return s
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for _, name := range MetricNames {
		if _, ok := m[name]; ok {
			out = append(out, name)
		}
	}
	return out
}
