package api

import (
	"slices"
	"strings"

	"github.com/valyala/fasthttp"
)

// CORS on /api/, off unless Options.Origins lists origins. A request from
// a listed origin gets Access-Control-Allow-Origin echoing that origin
// exactly (never "*": answers depend on the caller's key), and a preflight
// (OPTIONS with Access-Control-Request-Method) is answered here, before
// authentication (browsers send no credentials with it): 204 with the
// methods of the route, the headers Authorization and Content-Type, and a
// 10-minute cache. An origin not listed gets no Access-Control-* header,
// and its preflight a 403. Every /api/ answer says Vary: Origin while CORS
// is on.

// corsMaxAge is how long browsers may cache a preflight answer, in seconds.
const corsMaxAge = "600"

// cors sets the CORS headers of an /api/ request and answers it when it is
// a preflight; it reports whether the request is answered.
func (a *API) cors(ctx *fasthttp.RequestCtx, method, path string) bool {
	if len(a.opt.Origins) == 0 {
		return false
	}
	h := &ctx.Response.Header
	h.Add("Vary", "Origin")
	origin := string(ctx.Request.Header.Peek("Origin"))
	preflight := method == fasthttp.MethodOptions && len(ctx.Request.Header.Peek("Access-Control-Request-Method")) > 0
	if origin == "" || !a.originAllowed(origin) {
		if preflight {
			a.fail(ctx, fasthttp.StatusForbidden, "forbidden_origin", "origin "+quoted(origin)+" is not one of cors_origins")
			return true
		}
		return false
	}
	h.Set("Access-Control-Allow-Origin", origin)
	if !preflight {
		h.Set("Access-Control-Expose-Headers", "Retry-After, Content-Disposition")
		return false
	}
	methods := routeMethods(path)
	if len(methods) == 0 {
		a.fail(ctx, fasthttp.StatusNotFound, "not_found", "no such route: "+path)
		return true
	}
	h.Set("Access-Control-Allow-Methods", strings.Join(methods, ", "))
	h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type")
	h.Set("Access-Control-Max-Age", corsMaxAge)
	ctx.SetStatusCode(fasthttp.StatusNoContent)
	return true
}

// originAllowed reports whether origin is one of Options.Origins ("*"
// allows any).
func (a *API) originAllowed(origin string) bool {
	for _, o := range a.opt.Origins {
		if o == "*" || strings.EqualFold(strings.TrimSuffix(o, "/"), origin) {
			return true
		}
	}
	return false
}

// routeMethods returns the methods of the routes matching path, in table
// order.
func routeMethods(path string) []string {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	var out []string
	for i := range routes {
		if _, ok := match(routes[i].pattern, parts); ok && !slices.Contains(out, routes[i].method) {
			out = append(out, routes[i].method)
		}
	}
	return out
}
