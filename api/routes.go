package api

import (
	"strings"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/meter/account"
)

// call is one authenticated API request.
type call struct {
	ctx *fasthttp.RequestCtx
	// m is the authenticated member.
	m *account.Member
	// org is the member's org (routes of another org answer 404 before a
	// handler runs).
	org *account.Org
	// params are the {name} segments of the route, by name.
	params map[string]string
}

// user returns the member id a read is limited to: "" for an admin (the
// whole org), the member's own id otherwise.
func (c *call) user() string {
	if c.m.IsAdmin() {
		return ""
	}
	return c.m.ID
}

// route is one API route. Patterns are path segments; "{org}" must be the
// caller's org (another org answers 404), other "{name}" segments are
// parameters.
type route struct {
	method  string
	pattern []string
	// admin: an org-wide route; members get 403.
	admin bool
	h     func(a *API, c *call)
}

// routes lists every API route. Each handler lives in the file of its
// concern.
var routes = []route{
	{fasthttp.MethodGet, seg("api/organizations/{org}/usage"), false, (*API).usage},
	{fasthttp.MethodGet, seg("api/account/request-logs"), false, (*API).requestLogs},
	{fasthttp.MethodGet, seg("api/account/request-logs/{id}/details"), false, (*API).requestLogDetails},
	{fasthttp.MethodGet, seg("api/account/cost-insights"), false, (*API).costInsights},
	{fasthttp.MethodGet, seg("api/account/errors"), false, (*API).errorReport},
	{fasthttp.MethodGet, seg("api/organizations/{org}/export/usage"), true, (*API).exportUsage},
	{fasthttp.MethodGet, seg("api/organizations/{org}/members"), true, (*API).listMembers},
	{fasthttp.MethodPost, seg("api/organizations/{org}/members"), true, (*API).createMember},
	{fasthttp.MethodGet, seg("api/organizations/{org}/members/{id}"), true, (*API).getMember},
	{fasthttp.MethodPatch, seg("api/organizations/{org}/members/{id}"), true, (*API).updateMember},
	{fasthttp.MethodDelete, seg("api/organizations/{org}/members/{id}"), true, (*API).deleteMember},
	{fasthttp.MethodPost, seg("api/organizations/{org}/members/{id}/rotate"), true, (*API).rotateMember},
	{fasthttp.MethodGet, seg("api/analytics/metrics"), false, (*API).analyticsMetrics},
	{fasthttp.MethodPost, seg("api/analytics/query"), false, (*API).analyticsQuery},
	{fasthttp.MethodPost, seg("api/account/alerts"), false, (*API).createAlert},
	{fasthttp.MethodGet, seg("api/account/alerts"), false, (*API).listAlerts},
	{fasthttp.MethodGet, seg("api/account/alerts/history"), false, (*API).alertHistory},
	{fasthttp.MethodDelete, seg("api/account/alerts/{id}"), false, (*API).deleteAlert},
	{fasthttp.MethodPost, seg("api/organizations/{org}/reports/schedule"), true, (*API).createSchedule},
	{fasthttp.MethodGet, seg("api/organizations/{org}/reports/schedule"), true, (*API).listSchedules},
	{fasthttp.MethodDelete, seg("api/organizations/{org}/reports/schedule/{id}"), true, (*API).deleteSchedule},
	{fasthttp.MethodPost, seg("api/organizations/{org}/reports/schedule/{id}/run"), true, (*API).runSchedule},
	{fasthttp.MethodGet, seg("api/organizations/{org}/reports/history"), true, (*API).scheduleHistory},
	{fasthttp.MethodPost, seg("api/billing/invoices/generate"), true, (*API).generateInvoice},
	{fasthttp.MethodGet, seg("api/billing/invoices"), true, (*API).listInvoices},
	{fasthttp.MethodGet, seg("api/billing/invoices/{id}"), true, (*API).getInvoice},
}

func seg(p string) []string { return strings.Split(p, "/") }

// dispatch finds the route of path and runs it with the checks of the
// route: method (405), org visibility (404), role (403).
func (a *API) dispatch(ctx *fasthttp.RequestCtx, m *account.Member, method, path string) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var allowed []string
	for i := range routes {
		r := &routes[i]
		params, ok := match(r.pattern, parts)
		if !ok {
			continue
		}
		if r.method != method {
			allowed = append(allowed, r.method)
			continue
		}
		org, ok := a.opt.Accounts.Org(m.Org)
		if !ok {
			a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such organization: "+m.Org)
			return
		}
		if id, has := params["org"]; has && id != m.Org {
			a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such organization: "+id)
			return
		}
		if r.admin && !m.IsAdmin() {
			a.fail(ctx, fasthttp.StatusForbidden, "forbidden", "this route is for the org's admins")
			return
		}
		r.h(a, &call{ctx: ctx, m: m, org: org, params: params})
		return
	}
	if len(allowed) > 0 {
		ctx.Response.Header.Set("Allow", strings.Join(allowed, ", "))
		a.fail(ctx, fasthttp.StatusMethodNotAllowed, "method_not_allowed", "method "+method+" is not allowed here; use "+strings.Join(allowed, " or "))
		return
	}
	a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such route: "+path)
}

// match matches path segments against a pattern.
func match(pattern, parts []string) (map[string]string, bool) {
	if len(pattern) != len(parts) {
		return nil, false
	}
	var params map[string]string
	for i, p := range pattern {
		if strings.HasPrefix(p, "{") && strings.HasSuffix(p, "}") {
			if parts[i] == "" {
				return nil, false
			}
			if params == nil {
				params = map[string]string{}
			}
			params[p[1:len(p)-1]] = parts[i]
			continue
		}
		if p != parts[i] {
			return nil, false
		}
	}
	return params, true
}

// Routes lists every API route as "METHOD /pattern", in table order, with
// whether it is admin-only. Tests use it to check that they cover them all.
func Routes() []RouteInfo {
	out := make([]RouteInfo, 0, len(routes))
	for _, r := range routes {
		out = append(out, RouteInfo{Method: r.method, Pattern: "/" + strings.Join(r.pattern, "/"), AdminOnly: r.admin})
	}
	return out
}

// RouteInfo describes one API route.
type RouteInfo struct {
	Method    string
	Pattern   string
	AdminOnly bool
}
