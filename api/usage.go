package api

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// usageRow is one row of a usage grouping. The key field depends on the
// grouping (user_id, model, department, billing_mode, day, tag).
type usageRow struct {
	UserID           string `json:"user_id,omitempty"`
	Email            string `json:"email,omitempty"`
	Model            string `json:"model,omitempty"`
	Department       string `json:"department,omitempty"`
	BillingMode      string `json:"billing_mode,omitempty"`
	Day              string `json:"day,omitempty"`
	Tag              string `json:"tag,omitempty"`
	Requests         int64  `json:"requests"`
	InputTokens      int64  `json:"input_tokens"`
	OutputTokens     int64  `json:"output_tokens"`
	CachedTokens     int64  `json:"cached_tokens"`
	CacheWriteTokens int64  `json:"cache_write_tokens"`
	ReasoningTokens  int64  `json:"reasoning_tokens"`
	CostUSD          USD    `json:"cost_usd"`
	AvgLatencyMs     int64  `json:"avg_latency_ms"`
	Errors           int64  `json:"errors"`
	UnpricedRequests int64  `json:"unpriced_requests"`
	Estimated        int64  `json:"estimated_requests"`

	cell meter.Cell
}

type overview struct {
	Requests        int64   `json:"requests"`
	InputTokens     int64   `json:"input_tokens"`
	OutputTokens    int64   `json:"output_tokens"`
	CachedTokens    int64   `json:"cached_tokens"`
	ReasoningTokens int64   `json:"reasoning_tokens"`
	CostUSD         USD     `json:"cost_usd"`
	ActiveMembers   int     `json:"active_members"`
	Errors          int64   `json:"errors"`
	ErrorRate       float64 `json:"error_rate"`
	AvgLatencyMs    int64   `json:"avg_latency_ms"`
	P95LatencyMs    int64   `json:"p95_latency_ms"`
	Unpriced        int64   `json:"unpriced_requests"`
}

type periodJSON struct {
	Start    string `json:"start"`
	End      string `json:"end"`
	Timezone string `json:"timezone"`
}

type usageAnswer struct {
	Success  bool                  `json:"success"`
	Usage    map[string][]usageRow `json:"usage"`
	Overview overview              `json:"overview"`
	Period   periodJSON            `json:"period"`
	Budget   *budgetJSON           `json:"budget,omitempty"`
}

// groupings maps group_by values to the answer's key.
var groupings = map[string]string{
	"user":         "by_user",
	"model":        "by_model",
	"department":   "by_department",
	"billing_mode": "by_billing_mode",
	"day":          "by_day",
}

// usage serves GET /api/organizations/{org}/usage. Admins see the org;
// members see their own requests only.
func (a *API) usage(c *call) {
	ctx, org, orgID := c.ctx, c.org, c.org.ID
	args := ctx.QueryArgs()
	groupBy := string(args.Peek("group_by"))
	if groupBy == "" {
		groupBy = "user"
	}
	key, tagKey := groupings[groupBy], ""
	if strings.HasPrefix(groupBy, "tag:") && len(groupBy) > 4 {
		key, tagKey = "by_tag", groupBy[4:]
	}
	if key == "" {
		a.badParam(ctx, fmt.Errorf("group_by: %q is not one of user, model, department, billing_mode, day, tag:KEY", groupBy))
		return
	}
	p, err := parsePeriod(args, org.Location, a.now())
	if err != nil {
		a.badParam(ctx, err)
		return
	}
	user := c.user()
	rows := map[string]*usageRow{}
	var total meter.Cell
	members := map[string]struct{}{}
	start, end := p.Start.Unix(), p.End.Unix()
	// One merge per cell (into its row); the total is the sum of the rows.
	var lastUser string
	days := map[int64]string{} // cell hour → its local date
	a.scan(orgID, user, start, end, func(k *meter.CellKey, c *meter.Cell) {
		if groupBy != "user" && k.User != lastUser {
			members[k.User] = struct{}{}
			lastUser = k.User
		}
		var g string
		switch groupBy {
		case "user":
			g = k.User
		case "model":
			g = k.Model
		case "department":
			g = k.Department
		case "billing_mode":
			g = k.BillingMode
		case "day":
			if g = days[k.Hour]; g == "" {
				g = time.Unix(k.Hour, 0).In(org.Location).Format(time.DateOnly)
				days[k.Hour] = g
			}
		default:
			g = tagValue(k.Tags, tagKey)
		}
		r := rows[g]
		if r == nil {
			r = &usageRow{}
			rows[g] = r
		}
		r.cell.Merge(c)
	})
	out := make([]usageRow, 0, len(rows))
	active := len(members)
	if groupBy == "user" {
		active = len(rows)
	}
	for g, r := range rows {
		total.Merge(&r.cell)
		switch groupBy {
		case "user":
			r.UserID = g
			if mem, ok := a.opt.Accounts.Member(orgID, g); ok {
				r.Email = mem.Email
			}
		case "model":
			r.Model = g
		case "department":
			r.Department = g
		case "billing_mode":
			r.BillingMode = g
		case "day":
			r.Day = g
		default:
			r.Tag = g
		}
		fillRow(r)
		out = append(out, *r)
	}
	if groupBy == "day" {
		slices.SortFunc(out, func(x, y usageRow) int { return cmp.Compare(x.Day, y.Day) })
	} else {
		slices.SortFunc(out, func(x, y usageRow) int {
			if c := cmp.Compare(y.CostUSD, x.CostUSD); c != 0 {
				return c
			}
			if c := cmp.Compare(y.Requests, x.Requests); c != 0 {
				return c
			}
			return cmp.Compare(rowKey(&x), rowKey(&y))
		})
	}
	ans := usageAnswer{
		Success:  true,
		Usage:    map[string][]usageRow{key: out},
		Overview: overviewOf(&total, active),
		Period:   periodJSON{Start: p.Start.Format(time.RFC3339), End: p.End.Format(time.RFC3339), Timezone: org.Location.String()},
	}
	switch ib := string(args.Peek("include_budget")); ib {
	case "", "false", "0":
	case "true", "1":
		b := a.budget(c, a.now())
		ans.Budget = &b
	default:
		a.badParam(ctx, fmt.Errorf("include_budget: %q is not true or false", ib))
		return
	}
	a.writeJSON(ctx, ans)
}

func rowKey(r *usageRow) string {
	return r.UserID + r.Model + r.Department + r.BillingMode + r.Day + r.Tag
}

func fillRow(r *usageRow) {
	c := &r.cell
	r.Requests = c.Requests
	r.InputTokens = c.InputTokens
	r.OutputTokens = c.OutputTokens
	r.CachedTokens = c.CachedTokens
	r.CacheWriteTokens = c.CacheWrite
	r.ReasoningTokens = c.Reasoning
	r.CostUSD = USD(c.CostNano)
	r.Errors = c.Errors
	r.UnpricedRequests = c.Unpriced
	r.Estimated = c.Estimated
	if c.Requests > 0 {
		r.AvgLatencyMs = c.LatencyMicros / c.Requests / 1000
	}
}

func overviewOf(c *meter.Cell, active int) overview {
	o := overview{
		Requests:        c.Requests,
		InputTokens:     c.InputTokens,
		OutputTokens:    c.OutputTokens,
		CachedTokens:    c.CachedTokens,
		ReasoningTokens: c.Reasoning,
		CostUSD:         USD(c.CostNano),
		ActiveMembers:   active,
		Errors:          c.Errors,
		Unpriced:        c.Unpriced,
	}
	if c.Requests > 0 {
		o.ErrorRate = float64(c.Errors) / float64(c.Requests)
		o.AvgLatencyMs = c.LatencyMicros / c.Requests / 1000
		o.P95LatencyMs = c.LatencyQuantile(0.95) / 1000
	}
	return o
}

// tagValue returns the value of key in a canonical tag set, or "".
func tagValue(tags, key string) string {
	for tags != "" {
		var pair string
		pair, tags, _ = strings.Cut(tags, ",")
		if k, v, ok := strings.Cut(pair, "="); ok && k == key {
			return v
		}
	}
	return ""
}
