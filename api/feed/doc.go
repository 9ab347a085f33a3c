// Package feed is the live analytics feed of the admin listener:
// GET /ws/analytics, a WebSocket on which a member of an org receives the
// org's request and error events as they are metered, its running cost
// totals (cost_update) and the crossings of monthly limits
// (limit_warning). An admin receives its whole org, a member only its own
// events; nobody ever receives another org's.
//
// Hot-path promise: Publish, called from the meter's goroutine for every
// event, never blocks. It encodes an event once and offers it to each
// matching subscriber's bounded queue without waiting; a subscriber whose
// queue is full is dropped (closed, counted in
// infermeter_feed_dropped_subscribers_total), so a slow consumer can never
// slow the meter, let alone the proxy. Each connection has two goroutines
// owned by its handler: the reader (the subscribe message, pongs, the
// peer's close) and the writer (events, cost updates, pings); Hub.Close
// closes every connection and waits for them.
package feed
