// Package budget enforces the monthly spending limits: an org's
// monthly_budget_usd and a member's monthly_limit_usd.
//
// A Ledger keeps, for each org and each member, month by month (calendar
// months in the org's timezone), two atomic counters: the settled spend and
// the committed amount, which is the settled spend plus the estimates reserved
// by requests still in flight. Before forwarding, the proxy reserves the
// request's estimated cost (Estimate) on the member's and the org's counters
// of the month holding the request's start; Reserve refuses when the
// committed amount plus the estimate would exceed a limit, or when a limit is
// already reached. When the request ends, however it ends, Ticket.Settle
// replaces the estimate by the metered cost.
//
// The bound: a reservation is admitted only while committed + estimate ≤
// limit, and committed counts every request in flight at its estimate. Let t
// be the moment the last request of the month was admitted: the month's spend
// was then at most limit − Σ estimates of the requests in flight at t, and
// every later change is one of those requests settling. So the month's spend
// never exceeds
//
//	limit + Σ over the requests in flight at t of (actual cost − estimate)⁺
//
// which is 0 when every estimate holds (Estimate says when it does). The limit
// is the one in force at t; a limit lowered below the spend refuses every
// request until the month ends. The member's limit and the org's budget are
// each bounded so.
//
// Hot-path promise: Reserve and Settle take no lock and do not allocate once
// the month's counters of the member exist; the first request of an org or
// member in a month creates them under a mutex.
package budget
