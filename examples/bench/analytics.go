package main

import (
	"fmt"
	"net/url"
	"time"

	"github.com/tidwall/gjson"
	"github.com/valyala/fasthttp"
)

// queryResult is the timing of one admin API route.
type queryResult struct {
	Name    string
	Path    string
	Samples int
	Lat     quantiles // microseconds
	Bytes   int       // size of the last answer
	Rows    int64     // rows in the last answer (members, models or logs)
	Err     string
}

// timeQuery sends GET path to the admin API samples times (after one
// untimed warm-up), or fewer when maxTime is spent, and checks each answer
// with check, which returns the number of rows. A body makes it a POST.
func timeQuery(hc *fasthttp.HostClient, adminAddr, name, path, body string, samples int, maxTime time.Duration, check func(body []byte) (int64, error)) queryResult {
	r := queryResult{Name: name, Path: path, Samples: samples}
	stop := time.Now().Add(maxTime)
	req := fasthttp.AcquireRequest()
	resp := fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI("http://" + adminAddr + path)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != "" {
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyString(body)
	}
	lat := make([]int64, 0, samples)
	for i := -1; i < samples; i++ {
		t0 := time.Now()
		err := hc.DoTimeout(req, resp, time.Minute)
		d := time.Since(t0)
		if err == nil && resp.StatusCode() != fasthttp.StatusOK {
			err = fmt.Errorf("status %d: %.300s", resp.StatusCode(), resp.Body())
		}
		if err == nil {
			r.Rows, err = check(resp.Body())
		}
		if err != nil {
			r.Err = err.Error()
			break
		}
		r.Bytes = len(resp.Body())
		if i >= 0 {
			lat = append(lat, int64(d))
		}
		if time.Now().After(stop) {
			break
		}
	}
	r.Lat = quantilesOf(lat)
	return r
}

// checkUsage checks a usage answer grouped under key and returns its rows.
func checkUsage(key string) func([]byte) (int64, error) {
	return func(b []byte) (int64, error) {
		if !gjson.GetBytes(b, "success").Bool() {
			return 0, fmt.Errorf("no success: %.300s", b)
		}
		n := gjson.GetBytes(b, "usage."+key+".#").Int()
		if n == 0 {
			return 0, fmt.Errorf("no %s rows: %.300s", key, b)
		}
		return n, nil
	}
}

// checkRows checks a successful answer and returns the length of the
// array at path (0 allowed).
func checkRows(path string) func([]byte) (int64, error) {
	return func(b []byte) (int64, error) {
		if !gjson.GetBytes(b, "success").Bool() {
			return 0, fmt.Errorf("no success: %.300s", b)
		}
		return gjson.GetBytes(b, path+".#").Int(), nil
	}
}

// checkLogs checks a request-log page of want logs.
func checkLogs(want int64) func([]byte) (int64, error) {
	return func(b []byte) (int64, error) {
		n := gjson.GetBytes(b, "logs.#").Int()
		if !gjson.GetBytes(b, "success").Bool() || n != want {
			return n, fmt.Errorf("want %d logs, got %d: %.300s", want, n, b)
		}
		return n, nil
	}
}

// runAnalytics times the usage route (grouped by user, by model and by day
// with the budget; default period: the last 30 days), the other routes
// served from the cells (cost insights, errors, a custom query) and a
// request-log page (the newest and one from a cursor deep in the list),
// each for at most samples requests or maxTime.
func runAnalytics(adminAddr, deepCursor string, samples int, maxTime time.Duration) []queryResult {
	hc := newClient(adminAddr, 4)
	hc.ReadTimeout = time.Minute
	defer hc.CloseIdleConnections()
	org := "/api/organizations/" + benchOrg
	out := []queryResult{
		timeQuery(hc, adminAddr, "usage, group_by=user (30 days)", org+"/usage?group_by=user", "", samples, maxTime, checkUsage("by_user")),
		timeQuery(hc, adminAddr, "usage, group_by=model (30 days)", org+"/usage?group_by=model", "", samples, maxTime, checkUsage("by_model")),
		timeQuery(hc, adminAddr, "usage, group_by=day&include_budget=true (30 days)", org+"/usage?group_by=day&include_budget=true", "", samples, maxTime, checkUsage("by_day")),
		timeQuery(hc, adminAddr, "cost insights (30 days)", "/api/account/cost-insights", "", samples, maxTime, checkRows("insights.top_cost_drivers")),
		timeQuery(hc, adminAddr, "errors (30 days)", "/api/account/errors", "", samples, maxTime, checkRows("errors.by_type")),
		timeQuery(hc, adminAddr, "query: cost, requests, p95 by model × day (30 days)", "/api/analytics/query",
			`{"metrics":["cost","requests","p95_latency_ms"],"dimensions":["model","day"],"sort":[{"field":"cost","order":"desc"}],"limit":1000}`, samples, maxTime, checkRows("rows")),
		timeQuery(hc, adminAddr, "request logs, first page (100)", "/api/account/request-logs?limit=100", "", samples, maxTime, checkLogs(100)),
	}
	if deepCursor != "" {
		out = append(out, timeQuery(hc, adminAddr, "request logs, page at the middle (100)",
			"/api/account/request-logs?limit=100&cursor="+url.QueryEscape(deepCursor), "", samples, maxTime, checkLogs(100)))
	}
	return out
}
