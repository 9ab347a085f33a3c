// Package fleet runs infermeter as a fleet on NATS JetStream: sidecars
// publish every metered event to a stream, aggregators consume the stream
// into their own store and serve the organisation-wide view, and every
// instance shares its month-to-date spend through a JetStream key/value
// bucket so that budgets hold across the fleet.
//
// Nothing here runs on the request path: the publisher follows the local
// store (events reach NATS after they are durable locally, so a NATS outage
// only delays them), the consumer hands events to the meter like the proxy
// does, and the spend sync touches the budget ledger only through atomic
// counters.
//
// Delivery is exactly once end to end, under the limits stated in
// docs/readme-fleet.md:
//   - the publisher reads events from the store in ID order from a cursor
//     persisted in the store, publishes each with the JetStream message ID
//     "<origin>:<event id>" (the stream de-duplicates republished messages
//     within its duplicate window) and advances the cursor only over
//     acknowledged publishes;
//   - each message also names the event published before it by the same
//     origin, so an aggregator applies the events of an origin as a chain in
//     publish order: it keeps, per origin, the ID of the last event applied
//     (its mark), persisted in the same store commit as the events, drops
//     any event at or below the mark (a redelivery or a republish), and
//     waits for a missing link instead of skipping it.
package fleet
