package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"

	json "github.com/goccy/go-json"
)

// Delivery statuses.
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Firing is one history entry: a rule that fired, what it saw and how its
// delivery went.
type Firing struct {
	ID        string     `json:"id"`
	AlertID   string     `json:"alert_id"`
	AlertName string     `json:"alert_name"`
	Type      string     `json:"type"`
	Org       string     `json:"org_id"`
	User      string     `json:"user_id"`
	FiredAt   time.Time  `json:"fired_at"`
	ClearedAt *time.Time `json:"cleared_at"`
	Condition string     `json:"condition"`
	// Values are the condition's metrics when it fired.
	Values map[string]float64 `json:"values"`
	// Member is the member behind member_spend_pct of an org-wide rule.
	Member     string     `json:"member_id,omitempty"`
	Message    string     `json:"message"`
	Deliveries []Delivery `json:"deliveries"`

	key string // the store key
}

// Delivery is the outcome of one action of a firing.
type Delivery struct {
	Action string `json:"action"`
	// Target is the recipients (comma-separated) or the webhook URL.
	Target string `json:"target"`
	// Status is pending while the delivery runs, then sent or failed.
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
	Error    string `json:"error"`
}

// addHistory stores a new entry (f.key set by firing) and drops the
// org's oldest beyond MaxHistory. The caller holds e.mu.
func (e *Engine) addHistory(f *Firing) error {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	b, err := marshal(f)
	if err != nil {
		return err
	}
	if err := e.opt.Store.PutState(f.key, b); err != nil {
		return fmt.Errorf("cannot record the firing of alert %q: %w", f.AlertID, err)
	}
	e.hists[f.Org]++
	over := e.hists[f.Org] - e.opt.MaxHistory
	if over <= 0 {
		return nil
	}
	var old []string
	err = e.opt.Store.ScanState(histKeyPrefix+f.Org+"/", func(key string, _ []byte) bool {
		old = append(old, key)
		return len(old) < over
	})
	for _, k := range old {
		if err == nil {
			err = e.opt.Store.DeleteState(k)
		}
		if err == nil {
			e.hists[f.Org]--
		}
	}
	if err != nil {
		return fmt.Errorf("cannot drop the oldest alert history of org %q: %w", f.Org, err)
	}
	return nil
}

// updateHistory applies fn to the stored entry key; an entry dropped
// meanwhile is left alone.
func (e *Engine) updateHistory(key string, fn func(*Firing)) error {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	b, ok, err := e.opt.Store.GetState(key)
	if err != nil || !ok {
		return err
	}
	var f Firing
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("cannot decode alert history %q: %w", key, err)
	}
	fn(&f)
	if b, err = marshal(&f); err != nil {
		return err
	}
	if err := e.opt.Store.PutState(key, b); err != nil {
		return fmt.Errorf("cannot update alert history %q: %w", key, err)
	}
	return nil
}

// History returns up to limit entries of org, newest first: all of the
// org's when user is "", else those of user's own rules.
func (e *Engine) History(org, user string, limit int) ([]Firing, error) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	var out []Firing
	var bad error
	err := e.opt.Store.ScanState(histKeyPrefix+org+"/", func(key string, value []byte) bool {
		var f Firing
		if err := json.Unmarshal(value, &f); err != nil {
			bad = fmt.Errorf("cannot decode alert history %q: %w", key, err)
			return false
		}
		if user == "" || f.User == user {
			out = append(out, f)
		}
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	if limit > 0 && len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// nextSeq returns a history sequence for now, greater than every earlier
// one. The caller holds e.mu.
func (e *Engine) nextSeq(now time.Time) string {
	n := now.UnixNano()
	if n <= e.last {
		n = e.last + 1
	}
	e.last = n
	return fmt.Sprintf("%020d", n)
}

// firing builds the history entry of r firing at now with values v. The
// caller holds e.mu.
func (e *Engine) firing(r *Rule, cond *Condition, v Values, now time.Time) Firing {
	seq := e.nextSeq(now)
	f := Firing{
		ID:        "fi_" + seq,
		AlertID:   r.ID,
		AlertName: r.Name,
		Type:      r.Type,
		Org:       r.Org,
		User:      r.User,
		FiredAt:   now,
		Condition: r.Condition,
		Values:    map[string]float64{},
		key:       histKeyPrefix + r.Org + "/" + seq,
	}
	for _, m := range cond.Metrics() {
		f.Values[m] = v.M[m]
		if m == MemberSpendPct && r.User == "" {
			f.Member = v.Top
		}
	}
	f.Message = summary(r, &f, e.location(r.Org))
	d := Delivery{Action: r.Action, Status: DeliveryPending}
	if r.Action == ActionEmail {
		d.Target = strings.Join(r.Recipients, ", ")
	} else {
		d.Target = r.WebhookURL
	}
	f.Deliveries = []Delivery{d}
	return f
}

func (e *Engine) location(org string) *time.Location {
	if l := e.opt.Accounts.Location(org); l != nil {
		return l
	}
	return time.UTC
}

func marshal(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("cannot encode alert data: %w", err)
	}
	return b, nil
}
