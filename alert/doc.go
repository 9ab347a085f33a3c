// Package alert evaluates alert rules over the meter's aggregates and
// delivers what fires by email or webhook.
//
// A rule's condition compares metrics with numbers (see Parse). An Engine
// evaluates every rule of every org every Interval (10s by default) from
// its own goroutine, off the proxy's request path: a rule fires when its
// condition turns true (once per breach), is recorded in the history, and
// is delivered by its action from a separate goroutine; it re-arms only
// once the condition is false again and its cooldown since the last firing
// has passed. Rules, their firing state and the history are kept in the
// store's state, so a restart neither loses them nor re-fires an ongoing
// breach.
package alert
