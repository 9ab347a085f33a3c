package api

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
	"github.com/infermeter/infermeter/store"
)

// maxLogLimit bounds one page of request logs.
const maxLogLimit = 1000

// logJSON is one request log as the API shows it.
type logJSON struct {
	ID              string `json:"id"`
	Timestamp       string `json:"timestamp"`
	UserID          string `json:"user_id"`
	Model           string `json:"model"`
	Status          string `json:"status"`
	HTTPStatus      int    `json:"http_status"`
	ErrorType       string `json:"error_type"`
	ErrorMessage    string `json:"error_message,omitempty"`
	InputTokens     int64  `json:"input_tokens"`
	OutputTokens    int64  `json:"output_tokens"`
	CachedTokens    int64  `json:"cached_tokens"`
	CacheWrite      int64  `json:"cache_write_tokens"`
	ReasoningTokens int64  `json:"reasoning_tokens"`
	CostUSD         USD    `json:"cost_usd"`
	Priced          bool   `json:"priced"`
	LatencyMs       int64  `json:"latency_ms"`
	TTFTMs          int64  `json:"ttft_ms"`
	Stream          bool   `json:"stream"`
	Category        string `json:"category"`
	Department      string `json:"department"`
	BillingMode     string `json:"billing_mode"`
	Tags            string `json:"tags"`
	UsageSource     string `json:"usage_source"`
	ConnectionID    string `json:"connection_id"`
	// Origin and OriginID are set on a request another instance of a fleet
	// metered: its log ("<instance_id>/<epoch>") and the request's id there.
	Origin   string `json:"origin,omitempty"`
	OriginID string `json:"origin_id,omitempty"`
}

func logOf(ev *meter.Event) logJSON {
	status := "success"
	if ev.Failed() {
		status = "error"
	}
	l := logJSON{
		ID:              strconv.FormatUint(ev.ID, 10),
		Timestamp:       time.Unix(0, ev.Time).UTC().Format(time.RFC3339Nano),
		UserID:          ev.User,
		Model:           ev.Model,
		Status:          status,
		HTTPStatus:      ev.Status,
		ErrorType:       ev.ErrorType.String(),
		ErrorMessage:    ev.ErrorMessage,
		InputTokens:     ev.Usage.Input.Value(),
		OutputTokens:    ev.Usage.Output.Value(),
		CachedTokens:    ev.Usage.CacheRead.Value(),
		CacheWrite:      ev.Usage.CacheWrite.Value(),
		ReasoningTokens: ev.Usage.Reasoning.Value(),
		CostUSD:         USD(ev.CostNano),
		Priced:          ev.Priced,
		LatencyMs:       ev.LatencyMicros / 1000,
		TTFTMs:          ev.TTFTMicros / 1000,
		Stream:          ev.Stream,
		Category:        ev.Category.String(),
		Department:      ev.Department,
		BillingMode:     ev.BillingMode,
		Tags:            ev.Tags,
		UsageSource:     ev.Usage.Source.String(),
		ConnectionID:    ev.Upstream,
	}
	if ev.Origin != "" {
		l.Origin, l.OriginID = ev.Origin, strconv.FormatUint(ev.OriginID, 10)
	}
	return l
}

type logsAnswer struct {
	Success    bool      `json:"success"`
	Logs       []logJSON `json:"logs"`
	NextCursor string    `json:"next_cursor,omitempty"`
}

// requestLogs serves GET /api/account/request-logs: newest first, cursor
// paging. Admins see their org (optionally one user_id); members see only
// their own requests.
func (a *API) requestLogs(c *call) {
	ctx, m := c.ctx, c.m
	args := ctx.QueryArgs()
	q := store.LogQuery{Org: m.Org, Limit: 100}
	if v := args.Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 || n > maxLogLimit {
			a.badParam(ctx, fmt.Errorf("limit: %q is not a whole number from 1 to %d", v, maxLogLimit))
			return
		}
		q.Limit = n
	}
	q.Cursor = string(args.Peek("cursor"))
	q.User = string(args.Peek("user_id"))
	if !m.IsAdmin() {
		if q.User != "" && q.User != m.ID {
			a.fail(ctx, fasthttp.StatusForbidden, "forbidden", "members see only their own requests")
			return
		}
		q.User = m.ID
	}
	q.Model = string(args.Peek("model"))
	q.Department = string(args.Peek("department"))
	q.Tag = string(args.Peek("tag"))
	if s := string(args.Peek("status")); s != "" {
		if s != "success" && s != "error" {
			a.badParam(ctx, fmt.Errorf("status: %q is not one of success, error", s))
			return
		}
		q.Status = s
	}
	if s := string(args.Peek("error_type")); s != "" {
		if _, ok := usage.ParseErrorType(s); !ok || s == "" {
			a.badParam(ctx, fmt.Errorf("error_type: %q is not a known error type", s))
			return
		}
		q.ErrorType = s
	}
	if len(args.Peek("start_date")) > 0 || len(args.Peek("end_date")) > 0 || len(args.Peek("range")) > 0 {
		p, err := parsePeriod(args, c.org.Location, a.now())
		if err != nil {
			a.badParam(ctx, err)
			return
		}
		q.StartID, q.EndID = idBounds(p)
	}
	evs, next, err := a.opt.Store.Logs(q)
	if err != nil {
		if errors.Is(err, store.ErrBadCursor) {
			a.badParam(ctx, fmt.Errorf("cursor: %q is not a cursor of this listing", q.Cursor))
			return
		}
		a.fail(ctx, fasthttp.StatusInternalServerError, "internal", "cannot read request logs")
		return
	}
	ans := logsAnswer{Success: true, Logs: make([]logJSON, 0, len(evs)), NextCursor: next}
	for i := range evs {
		ans.Logs = append(ans.Logs, logOf(&evs[i]))
	}
	a.writeJSON(ctx, ans)
}
