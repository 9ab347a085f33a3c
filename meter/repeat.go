package meter

import (
	"encoding/binary"

	"github.com/cespare/xxhash/v2"

	"github.com/infermeter/infermeter/meter/usage"
)

// RepeatWindow is how long a prompt counts as seen: a successful request
// whose prompt fingerprint (Event.PromptHash) was seen for the same org and
// model within RepeatWindow before is a repeat, one that a response cache
// with this time-to-live would have answered.
const RepeatWindow int64 = 24 * 3600

// maxPrompts bounds the fingerprints remembered (about 8 MB at most): when
// full, the ones older than RepeatWindow are dropped, and if that frees
// too little, all of them (repeats are then undercounted, never
// overcounted).
const maxPrompts = 1 << 18

// repeats remembers when each (org, model, prompt) was last seen. Owned by
// the meter's goroutine.
type repeats struct {
	seen map[uint64]int64 // fingerprint → unix seconds last seen
	buf  []byte
}

// mark reports whether ev repeats a prompt seen within RepeatWindow, and
// remembers it. Only successful requests with a fingerprint count.
func (r *repeats) mark(ev *Event) bool {
	if ev.PromptHash == 0 || ev.ErrorType != usage.ErrNone {
		return false
	}
	if r.seen == nil {
		r.seen = make(map[uint64]int64)
	}
	r.buf = append(r.buf[:0], ev.Org...)
	r.buf = append(r.buf, 0)
	r.buf = append(r.buf, ev.Model...)
	r.buf = binary.LittleEndian.AppendUint64(append(r.buf, 0), ev.PromptHash)
	k := xxhash.Sum64(r.buf)
	now := ev.Time / 1e9
	last, ok := r.seen[k]
	if !ok && len(r.seen) >= maxPrompts {
		r.expire(now)
	}
	if !ok || now >= last {
		r.seen[k] = now
	}
	return ok && now-last < RepeatWindow && now >= last-RepeatWindow
}

// expire drops the fingerprints last seen more than RepeatWindow before
// now, and all of them when that leaves the map more than 3/4 full.
func (r *repeats) expire(now int64) {
	for k, t := range r.seen {
		if now-t >= RepeatWindow {
			delete(r.seen, k)
		}
	}
	if len(r.seen) > maxPrompts/4*3 {
		clear(r.seen)
	}
}
