// Package meter turns metered requests into numbers: it assigns each Event an
// ID, keeps the hourly aggregate cells (org × member × model × department ×
// billing mode × category × tags × hour) in memory, and hands batches of new
// events and changed cells to the store every flush interval.
//
// Hot-path promise: Record never blocks the request path and never takes a
// lock. It copies the event into a bounded queue; when the queue is full the
// event is dropped and counted (infermeter_meter_dropped_events_total). One
// goroutine owned by the Meter drains the queue, updates the aggregates and
// flushes; Close stops it after a final flush.
package meter
