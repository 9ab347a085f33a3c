package store

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
)

// followState tracks the request logs that a follower of the store (the
// fleet publisher) has not reached yet, so that evicting them is counted.
type followState struct {
	on     atomic.Bool
	cursor atomic.Uint64
	// evicted counts the logs with an ID above the cursor that eviction
	// dropped; pending is the count of the batch being built (under wmu).
	evicted atomic.Int64
	pending int64
}

// Follow returns the stored request logs whose ID is greater than after,
// across every org, in ascending ID order, at most n of them (n ≤ 0 means
// MaxLogLimit). Events carry no Capture. Since the meter hands events to
// Apply in ID order, a follower that keeps the ID of the last event it
// handled as its cursor sees every event once.
//
// Follow merges the orgs' block sequences, decoding about n records plus
// one block per org. It runs in one read transaction: it sees each Apply
// entirely or not at all, concurrently with the writer.
func (s *Store) Follow(after uint64, n int) ([]meter.Event, error) {
	if n <= 0 {
		n = MaxLogLimit
	}
	var (
		out  []meter.Event
		ierr error
	)
	err := s.db.View(func(tx *buntdb.Tx) error {
		names := s.dict.snapshot()
		var heads []*followHead
		// Visit each org that has logs by seeking past the previous one.
		pivot := string(rune(prefixLog))
		for {
			org, found := uint32(0), false
			err := tx.AscendGreaterOrEqual("", pivot, func(k, _ string) bool {
				org, _, found = parseLogKey(k)
				return false
			})
			if err != nil {
				return err
			}
			if !found {
				break
			}
			h := &followHead{org: org, prefix: logOrgPrefix(org)}
			// The block that starts at or below after may hold later IDs.
			if ierr = h.load(s, tx, logKey(org, after), true, after); ierr != nil {
				return nil
			}
			if h.i >= len(h.recs) {
				if ierr = h.load(s, tx, logKey(org, after+1), false, after); ierr != nil {
					return nil
				}
			}
			if h.i < len(h.recs) {
				heads = append(heads, h)
			}
			if org == 1<<32-1 {
				break
			}
			pivot = logOrgPrefix(org + 1)
		}
		for len(out) < n && len(heads) > 0 {
			j := 0
			for k := 1; k < len(heads); k++ {
				if heads[k].recs[heads[k].i].id < heads[j].recs[heads[j].i].id {
					j = k
				}
			}
			h := heads[j]
			if int(h.org) >= len(names) {
				ierr = fmt.Errorf("%w: unknown org id %d", errCodec, h.org)
				return nil
			}
			var e meter.Event
			if e, ierr = h.recs[h.i].event(names[h.org], names); ierr != nil {
				return nil
			}
			out = append(out, e)
			if h.i++; h.i < len(h.recs) {
				continue
			}
			if ierr = h.load(s, tx, logKey(h.org, h.first+1), false, after); ierr != nil {
				return nil
			}
			if h.i >= len(h.recs) {
				heads = slices.Delete(heads, j, j+1)
			}
		}
		return nil
	})
	if err = errors.Join(mapErr(err), ierr); err != nil {
		return nil, fmt.Errorf("cannot follow logs after %d: %w", after, err)
	}
	return out, nil
}

// followHead is the block of one org that Follow is reading.
type followHead struct {
	org    uint32
	prefix string
	first  uint64 // the block's first ID (its key)
	recs   []rec
	i      int // the next record to return
}

// load reads into h the org's block at or below key (down) or at or above
// it, skipping records at or below after; h.i == len(h.recs) when there is
// none.
func (h *followHead) load(s *Store, tx *buntdb.Tx, key string, down bool, after uint64) error {
	h.recs, h.i = h.recs[:0], 0
	var derr error
	fn := func(k, v string) bool {
		if !strings.HasPrefix(k, h.prefix) {
			return false
		}
		h.first = be64(k, 5)
		h.recs, derr = decodeBlock(h.recs[:0], h.first, s.strip(v))
		return false
	}
	var err error
	if down {
		err = tx.DescendLessOrEqual("", key, fn)
	} else {
		err = tx.AscendGreaterOrEqual("", key, fn)
	}
	if err = errors.Join(err, derr); err != nil {
		h.recs = h.recs[:0]
		return err
	}
	for h.i < len(h.recs) && h.recs[h.i].id <= after {
		h.i++
	}
	return nil
}

// SetFollowed tells the store that a follower has handled every log up to
// ID cursor: from then on, evicting (max_logs, log_retention) a log above
// the latest cursor is counted (see TakeUnfollowedEvictions). Safe for
// concurrent use.
func (s *Store) SetFollowed(cursor uint64) {
	s.follow.cursor.Store(cursor)
	s.follow.on.Store(true)
}

// TakeUnfollowedEvictions returns the number of logs above the follower's
// cursor that eviction dropped since the previous call, and resets it.
func (s *Store) TakeUnfollowedEvictions() int64 { return s.follow.evicted.Swap(0) }

// countEvicted counts, for the batch being built, the records of recs that
// the follower has not reached.
func (s *Store) countEvicted(recs []rec) {
	if !s.follow.on.Load() {
		return
	}
	c := s.follow.cursor.Load()
	for i := range recs {
		if recs[i].id > c {
			s.follow.pending++
		}
	}
}

// countEvictedBlock is countEvicted for a whole block dropped unread.
func (s *Store) countEvictedBlock(b *batch, org uint32, blk blockInfo) error {
	if !s.follow.on.Load() || blk.last <= s.follow.cursor.Load() {
		return nil
	}
	recs, err := s.readBlock(b, org, blk)
	if err != nil {
		return err
	}
	s.countEvicted(recs)
	return nil
}

// settleEvicted publishes the count of the batch once it is committed
// (ok) or drops it.
func (s *Store) settleEvicted(ok bool) {
	if ok && s.follow.pending > 0 {
		s.follow.evicted.Add(s.follow.pending)
	}
	s.follow.pending = 0
}
