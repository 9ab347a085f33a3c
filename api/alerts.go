package api

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/alert"
)

// alertFields are the fields of a create body.
var alertFields = []string{"name", "type", "condition", "action", "recipients", "webhook_url", "cooldown"}

// Limits of the history listing.
const (
	defaultAlertHistory = 100
	maxAlertHistory     = 1000
)

type alertJSON struct {
	ID          string   `json:"id"`
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Condition   string   `json:"condition"`
	Action      string   `json:"action"`
	Recipients  []string `json:"recipients"`
	WebhookURL  string   `json:"webhook_url"`
	Cooldown    string   `json:"cooldown"`
	OrgID       string   `json:"org_id"`
	UserID      string   `json:"user_id"`
	CreatedBy   string   `json:"created_by"`
	CreatedAt   string   `json:"created_at"`
	State       string   `json:"state"`
	LastFiredAt *string  `json:"last_fired_at"`
}

type alertAnswer struct {
	Success bool      `json:"success"`
	Alert   alertJSON `json:"alert"`
}

type alertsAnswer struct {
	Success bool        `json:"success"`
	Alerts  []alertJSON `json:"alerts"`
}

type firingJSON struct {
	ID         string             `json:"id"`
	AlertID    string             `json:"alert_id"`
	AlertName  string             `json:"alert_name"`
	Type       string             `json:"type"`
	OrgID      string             `json:"org_id"`
	UserID     string             `json:"user_id"`
	FiredAt    string             `json:"fired_at"`
	ClearedAt  *string            `json:"cleared_at"`
	Condition  string             `json:"condition"`
	Values     map[string]float64 `json:"values"`
	MemberID   string             `json:"member_id,omitempty"`
	Message    string             `json:"message"`
	Deliveries []alert.Delivery   `json:"deliveries"`
}

type historyAnswer struct {
	Success bool         `json:"success"`
	History []firingJSON `json:"history"`
}

type okAnswer struct {
	Success bool `json:"success"`
}

// alertsOff answers 404 when the process runs without an alert engine.
func (a *API) alertsOff(c *call) bool {
	if a.opt.Alerts != nil {
		return false
	}
	a.fail(c.ctx, fasthttp.StatusNotFound, "not_found", "alerts are not enabled in this process")
	return true
}

// createAlert serves POST /api/account/alerts. An admin's rule watches the
// whole org; a member's rule watches the member's own traffic.
func (a *API) createAlert(c *call) {
	if a.alertsOff(c) {
		return
	}
	r, err := parseAlertInput(c.ctx.PostBody())
	if err != nil {
		a.badParam(c.ctx, err)
		return
	}
	r.Org, r.User, r.CreatedBy = c.org.ID, c.user(), c.m.ID
	if err := alert.Validate(&r, a.opt.Alerts.MailOn()); err != nil {
		a.badParam(c.ctx, err)
		return
	}
	st, err := a.opt.Alerts.Create(r)
	if err != nil {
		a.fail(c.ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
		return
	}
	c.ctx.SetStatusCode(fasthttp.StatusCreated)
	a.writeJSON(c.ctx, alertAnswer{Success: true, Alert: alertOut(st, c.org.Location)})
}

// listAlerts serves GET /api/account/alerts: the org's rules for an admin,
// the member's own otherwise.
func (a *API) listAlerts(c *call) {
	if a.alertsOff(c) {
		return
	}
	rules := a.opt.Alerts.Rules(c.org.ID, c.user())
	out := make([]alertJSON, 0, len(rules))
	for _, st := range rules {
		out = append(out, alertOut(st, c.org.Location))
	}
	a.writeJSON(c.ctx, alertsAnswer{Success: true, Alerts: out})
}

// deleteAlert serves DELETE /api/account/alerts/{id}.
func (a *API) deleteAlert(c *call) {
	if a.alertsOff(c) {
		return
	}
	id := c.params["id"]
	err := a.opt.Alerts.Delete(c.org.ID, c.user(), id)
	if errors.Is(err, alert.ErrNotFound) {
		a.fail(c.ctx, fasthttp.StatusNotFound, "not_found", "no such alert: "+id)
		return
	}
	if err != nil {
		a.fail(c.ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
		return
	}
	a.writeJSON(c.ctx, okAnswer{Success: true})
}

// alertHistory serves GET /api/account/alerts/history?limit=, newest
// first: the org's for an admin, the member's own rules' otherwise.
func (a *API) alertHistory(c *call) {
	if a.alertsOff(c) {
		return
	}
	limit := defaultAlertHistory
	if v := c.ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxAlertHistory {
			a.badParam(c.ctx, fmt.Errorf("limit: want a whole number from 1 to %d, got %s", maxAlertHistory, quoted(string(v))))
			return
		}
		limit = n
	}
	hist, err := a.opt.Alerts.History(c.org.ID, c.user(), limit)
	if err != nil {
		a.fail(c.ctx, fasthttp.StatusInternalServerError, "internal", err.Error())
		return
	}
	loc := c.org.Location
	out := make([]firingJSON, 0, len(hist))
	for _, f := range hist {
		j := firingJSON{
			ID: f.ID, AlertID: f.AlertID, AlertName: f.AlertName, Type: f.Type, OrgID: f.Org, UserID: f.User,
			FiredAt: f.FiredAt.In(loc).Format(time.RFC3339), Condition: f.Condition, Values: f.Values,
			MemberID: f.Member, Message: f.Message, Deliveries: f.Deliveries,
		}
		if f.ClearedAt != nil {
			s := f.ClearedAt.In(loc).Format(time.RFC3339)
			j.ClearedAt = &s
		}
		out = append(out, j)
	}
	a.writeJSON(c.ctx, historyAnswer{Success: true, History: out})
}

func alertOut(st alert.Status, loc *time.Location) alertJSON {
	r := st.Rule
	j := alertJSON{
		ID: r.ID, Name: r.Name, Type: r.Type, Condition: r.Condition, Action: r.Action,
		Recipients: r.Recipients, WebhookURL: r.WebhookURL, Cooldown: r.Cooldown.String(),
		OrgID: r.Org, UserID: r.User, CreatedBy: r.CreatedBy,
		CreatedAt: r.CreatedAt.In(loc).Format(time.RFC3339), State: "ok",
	}
	if j.Recipients == nil {
		j.Recipients = []string{}
	}
	if st.Firing {
		j.State = "firing"
	}
	if !st.LastFiredAt.IsZero() {
		s := st.LastFiredAt.In(loc).Format(time.RFC3339)
		j.LastFiredAt = &s
	}
	return j
}

// parseAlertInput reads a create body; errors name the field.
func parseAlertInput(body []byte) (alert.Rule, error) {
	var r alert.Rule
	if len(bytes.TrimSpace(body)) == 0 {
		return r, errors.New(`body: empty; want a JSON object such as {"name":"Daily spend","type":"spending","condition":"daily_spend > 100","action":"webhook","webhook_url":"https://hooks.example.com/x"}`)
	}
	if !gjson.ValidBytes(body) {
		return r, errors.New("body: invalid JSON")
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return r, fmt.Errorf("body: want a JSON object, got %s", shown(root))
	}
	f, err := objectFields("body", root, alertFields)
	if err != nil {
		return r, err
	}
	str := func(name string, dst *string) error {
		v := f[name]
		if !v.Exists() || v.Type == gjson.Null {
			return nil
		}
		if v.Type != gjson.String {
			return fmt.Errorf("%s: want a string, got %s", name, shown(v))
		}
		*dst = v.String()
		return nil
	}
	var cooldown string
	for _, p := range []struct {
		name string
		dst  *string
	}{{"name", &r.Name}, {"type", &r.Type}, {"condition", &r.Condition}, {"action", &r.Action}, {"webhook_url", &r.WebhookURL}, {"cooldown", &cooldown}} {
		if err := str(p.name, p.dst); err != nil {
			return r, err
		}
	}
	if r.Recipients, err = stringList("recipients", f["recipients"]); err != nil {
		return r, err
	}
	if cooldown != "" {
		d, err := time.ParseDuration(cooldown)
		if err != nil {
			return r, fmt.Errorf("cooldown: %s is not a duration such as \"15m\" or \"1h\"", quoted(cooldown))
		}
		if d < 0 {
			return r, fmt.Errorf("cooldown: %s is negative", quoted(cooldown))
		}
		r.Cooldown = d
	}
	return r, nil
}
