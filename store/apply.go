package store

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
)

// Apply stores, in one atomic transaction, the full current values of the
// cells that changed (an idempotent overwrite of each) and the new request
// logs, then evicts the oldest logs beyond Options.MaxLogs. Cells are never
// evicted. An event whose ID is already stored is skipped, so a batch may be
// retried after an error. After an error nothing of the batch is stored.
//
// Apply is meant to be called by one writer goroutine every flush interval;
// concurrent calls are serialised. It does not keep cells or events.
func (s *Store) Apply(cells []meter.CellRecord, events []meter.Event) error {
	return s.ApplyWithState(cells, events, nil)
}

// ApplyWithState is Apply that also sets the state values of state (see
// PutState; a nil value is stored as an empty one) in the same atomic
// transaction: after a crash, either the cells, the logs and the state
// values are all stored or none is.
func (s *Store) ApplyWithState(cells []meter.CellRecord, events []meter.Event, state map[string][]byte) error {
	if len(cells) == 0 && len(events) == 0 && len(state) == 0 {
		return nil
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	mark := s.dict.len()
	total := s.total.Load()
	b := newBatch()
	err := s.buildApply(b, cells, events, &total)
	if err == nil {
		for k, v := range state {
			b.set(stateKey(k), string(v))
		}
		err = s.commit(b)
	}
	s.settleEvicted(err == nil)
	if err != nil {
		s.rollback(mark)
		return fmt.Errorf("cannot apply %d cells and %d events: %w", len(cells), len(events), err)
	}
	s.total.Store(total)
	return nil
}

// rollback restores the writer's in-memory state after a failed commit.
func (s *Store) rollback(dictLen int) {
	s.dict.truncate(dictLen)
	s.orgs = make(map[uint32]*orgLogs)
	var total int64
	_ = s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", string(rune(prefixLog)), string(rune(prefixLog+1)), func(k, v string) bool {
			org, first, ok := parseLogKey(k)
			if !ok {
				return true
			}
			h, err := readBlockHeader(first, s.strip(v))
			if err != nil {
				return true
			}
			s.orgLogs(org).blocks = append(s.orgLogs(org).blocks, blockInfo{first: first, last: h.last, count: h.count})
			total += int64(h.count)
			return true
		})
	})
	s.total.Store(total)
}

func (s *Store) orgLogs(org uint32) *orgLogs {
	ol := s.orgs[org]
	if ol == nil {
		ol = &orgLogs{}
		s.orgs[org] = ol
	}
	return ol
}

func (s *Store) buildApply(b *batch, cells []meter.CellRecord, events []meter.Event, total *int64) error {
	for i := range cells {
		c := &cells[i]
		ids, err := s.internCell(b, &c.Key)
		if err != nil {
			return err
		}
		s.buf = appendCell(s.buf[:0], &c.Cell)
		b.set(cellKey(ids), string(s.buf))
	}
	if len(events) > 0 {
		type ref struct {
			org uint32
			i   int
		}
		refs := make([]ref, len(events))
		for i := range events {
			org, err := s.dict.intern(events[i].Org, b)
			if err != nil {
				return err
			}
			refs[i] = ref{org: org, i: i}
		}
		slices.SortFunc(refs, func(x, y ref) int {
			if c := cmp.Compare(x.org, y.org); c != 0 {
				return c
			}
			return cmp.Compare(events[x.i].ID, events[y.i].ID)
		})
		var w logWriter
		for i, r := range refs {
			if i == 0 || refs[i-1].org != r.org {
				if err := w.flush(s, b); err != nil {
					return err
				}
				w = logWriter{org: r.org, ol: s.orgLogs(r.org), body: w.body[:0]}
			}
			rc, err := s.toRec(b, &events[r.i])
			if err != nil {
				return err
			}
			if events[r.i].Capture != nil {
				s.putCapture(b, r.org, &events[r.i])
			}
			if err := w.add(s, b, &rc, total); err != nil {
				return err
			}
		}
		if err := w.flush(s, b); err != nil {
			return err
		}
	}
	return s.evictOverflow(b, total)
}

func (s *Store) internCell(b *batch, k *meter.CellKey) (cellIDs, error) {
	ids := cellIDs{category: k.Category, errorType: k.ErrorType, hour: k.Hour}
	for _, f := range [...]struct {
		dst *uint32
		s   string
	}{
		{&ids.org, k.Org}, {&ids.user, k.User}, {&ids.model, k.Model},
		{&ids.department, k.Department}, {&ids.billingMode, k.BillingMode}, {&ids.tags, k.Tags},
	} {
		id, err := s.dict.intern(f.s, b)
		if err != nil {
			return ids, err
		}
		*f.dst = id
	}
	return ids, nil
}

// toRec converts e to its stored form, interning its strings.
func (s *Store) toRec(b *batch, e *meter.Event) (rec, error) {
	r := rec{
		id:            e.ID,
		time:          e.Time,
		status:        int64(e.Status),
		category:      e.Category,
		errorType:     e.ErrorType,
		tier:          e.Usage.Tier,
		source:        e.Usage.Source,
		stream:        e.Stream,
		priced:        e.Priced,
		errorMessage:  e.ErrorMessage,
		costNano:      e.CostNano,
		latencyMicros: e.LatencyMicros,
		ttftMicros:    e.TTFTMicros,
		requestBytes:  e.RequestBytes,
		responseBytes: e.ResponseBytes,

		providerRequestID: e.ProviderRequestID,
		promptHash:        e.PromptHash,
		capture:           e.Capture != nil,
		originID:          e.OriginID,
	}
	if len(r.providerRequestID) > meter.MaxProviderRequestID {
		r.providerRequestID = r.providerRequestID[:meter.MaxProviderRequestID]
	}
	for i, c := range countFields(&e.Usage) {
		r.counts[i] = *c
	}
	for _, f := range [...]struct {
		dst *uint32
		s   string
	}{
		{&r.user, e.User}, {&r.department, e.Department}, {&r.billingMode, e.BillingMode},
		{&r.upstream, e.Upstream}, {&r.model, e.Model}, {&r.tags, e.Tags}, {&r.origin, e.Origin},
	} {
		id, err := s.dict.intern(f.s, b)
		if err != nil {
			return r, err
		}
		*f.dst = id
	}
	if r.origin == 0 {
		r.originID = 0
	}
	return r, nil
}

// read returns the value of key as it will be after b.
func (s *Store) read(b *batch, key string) (string, bool, error) {
	if v, ok, found := b.get(key); found {
		return v, ok, nil
	}
	var v string
	err := s.db.View(func(tx *buntdb.Tx) error {
		var err error
		v, err = tx.Get(key)
		return err
	})
	if errors.Is(err, buntdb.ErrNotFound) {
		return "", false, nil
	}
	if err != nil {
		return "", false, mapErr(err)
	}
	return s.strip(v), true, nil
}

// readBlock decodes block blk of org, as it will be after b, into s.recs.
func (s *Store) readBlock(b *batch, org uint32, blk blockInfo) ([]rec, error) {
	v, ok, err := s.read(b, logKey(org, blk.first))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: log block %d of org %d is missing", ErrCorrupt, blk.first, org)
	}
	s.recs, err = decodeBlock(s.recs[:0], blk.first, v)
	return s.recs, err
}

// writeBlock encodes recs (ascending, non-empty) as a block into b,
// replacing the block that started at oldFirst.
func (s *Store) writeBlock(b *batch, org uint32, oldFirst uint64, recs []rec) blockInfo {
	if recs[0].id != oldFirst {
		b.delete(logKey(org, oldFirst))
	}
	s.buf = encodeBlock(s.buf, recs)
	b.set(logKey(org, recs[0].id), string(s.buf))
	return blockInfo{first: recs[0].id, last: recs[len(recs)-1].id, count: len(recs)}
}

// logWriter appends the new logs of one org: it fills the org's tail block
// until it is full, then starts new ones.
type logWriter struct {
	org    uint32
	ol     *orgLogs
	active bool // the tail block of ol is being built in body
	first  uint64
	last   uint64
	count  int
	body   []byte // the records of the tail block
}

func (w *logWriter) add(s *Store, b *batch, r *rec, total *int64) error {
	if n := len(w.ol.blocks); n > 0 && r.id <= w.ol.blocks[n-1].last {
		// Older than the newest log of the org: a retried batch or a clock
		// that went back. Insert it where it belongs, once.
		if err := w.flush(s, b); err != nil {
			return err
		}
		return s.insertOld(b, w.org, w.ol, r, total)
	}
	if !w.active {
		if n := len(w.ol.blocks); n > 0 && w.ol.blocks[n-1].count < maxBlockEvents {
			tail := w.ol.blocks[n-1]
			v, ok, err := s.read(b, logKey(w.org, tail.first))
			if err != nil {
				return err
			}
			if ok && len(v) < maxBlockBytes {
				h, err := readBlockHeader(tail.first, v)
				if err != nil {
					return err
				}
				w.active, w.first, w.last, w.count = true, tail.first, h.last, h.count
				w.body = append(w.body[:0], v[h.size:]...)
			}
		}
		if !w.active {
			w.active, w.first, w.last, w.count = true, r.id, r.id, 0
			w.body = w.body[:0]
			w.ol.blocks = append(w.ol.blocks, blockInfo{first: r.id, last: r.id})
		}
	}
	prev := w.last
	if w.count == 0 {
		prev = w.first
	}
	w.body = appendRec(w.body, prev, r)
	w.last = r.id
	w.count++
	w.ol.blocks[len(w.ol.blocks)-1] = blockInfo{first: w.first, last: w.last, count: w.count}
	*total++
	if w.count >= maxBlockEvents || len(w.body) >= maxBlockBytes {
		return w.flush(s, b)
	}
	return nil
}

// flush writes the tail block being built, if any.
func (w *logWriter) flush(s *Store, b *batch) error {
	if !w.active {
		return nil
	}
	w.active = false
	s.buf = appendBlockHeader(s.buf[:0], w.first, w.last, w.count)
	s.buf = append(s.buf, w.body...)
	b.set(logKey(w.org, w.first), string(s.buf))
	return nil
}

// insertOld inserts r into the block of ol that covers its ID, or into a new
// first block; a stored ID is skipped.
func (s *Store) insertOld(b *batch, org uint32, ol *orgLogs, r *rec, total *int64) error {
	j := sort.Search(len(ol.blocks), func(k int) bool { return ol.blocks[k].first > r.id }) - 1
	if j < 0 {
		bi := s.writeBlock(b, org, r.id, []rec{*r})
		ol.blocks = slices.Insert(ol.blocks, 0, bi)
		*total++
		return nil
	}
	recs, err := s.readBlock(b, org, ol.blocks[j])
	if err != nil {
		return err
	}
	pos := sort.Search(len(recs), func(k int) bool { return recs[k].id >= r.id })
	if pos < len(recs) && recs[pos].id == r.id {
		return nil
	}
	s.recs = slices.Insert(recs, pos, *r)
	ol.blocks[j] = s.writeBlock(b, org, ol.blocks[j].first, s.recs)
	*total++
	return nil
}

// evictOverflow evicts the oldest logs, across orgs, beyond MaxLogs.
func (s *Store) evictOverflow(b *batch, total *int64) error {
	limit := int64(s.opt.MaxLogs)
	for limit > 0 && *total > limit {
		excess := *total - limit
		var oldest uint32
		var ol *orgLogs
		first, second := uint64(math.MaxUint64), uint64(math.MaxUint64)
		for org, o := range s.orgs {
			if len(o.blocks) == 0 {
				continue
			}
			switch f := o.blocks[0].first; {
			case f < first:
				second, first, oldest, ol = first, f, org, o
			case f < second:
				second = f
			}
		}
		if ol == nil {
			return fmt.Errorf("%w: %d logs counted but no log block found", ErrCorrupt, *total)
		}
		blk := ol.blocks[0]
		if blk.last < second && int64(blk.count) <= excess {
			if err := s.dropBlockCaptures(b, oldest, blk); err != nil {
				return err
			}
			if err := s.countEvictedBlock(b, oldest, blk); err != nil {
				return err
			}
			b.delete(logKey(oldest, blk.first))
			ol.blocks = ol.blocks[1:]
			*total -= int64(blk.count)
			continue
		}
		recs, err := s.readBlock(b, oldest, blk)
		if err != nil {
			return err
		}
		k := 0
		for k < len(recs) && int64(k) < excess && recs[k].id < second {
			k++
		}
		if k == 0 {
			return fmt.Errorf("%w: log block %d of org %d does not start with its key", ErrCorrupt, blk.first, oldest)
		}
		dropCaptures(b, oldest, recs[:k])
		s.countEvicted(recs[:k])
		if k == len(recs) {
			b.delete(logKey(oldest, blk.first))
			ol.blocks = ol.blocks[1:]
		} else {
			ol.blocks[0] = s.writeBlock(b, oldest, blk.first, recs[k:])
		}
		*total -= int64(k)
	}
	return nil
}

// EvictExpired drops, in one atomic transaction, the request logs whose
// Event.Time is older than Options.LogRetention, and returns how many it
// dropped. Cells are never dropped. The meter's writer calls it
// periodically; it is serialised with Apply.
func (s *Store) EvictExpired() (int, error) {
	if s.opt.LogRetention <= 0 {
		return 0, nil
	}
	cutoff := s.opt.Now().Add(-s.opt.LogRetention).UnixNano()
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := newBatch()
	n, err := s.buildExpire(b, cutoff)
	if err == nil {
		err = s.commit(b)
	}
	s.settleEvicted(err == nil)
	if err != nil {
		s.rollback(s.dict.len())
		return 0, fmt.Errorf("cannot evict expired logs: %w", err)
	}
	s.total.Add(-int64(n))
	return n, nil
}

func (s *Store) buildExpire(b *batch, cutoff int64) (int, error) {
	n := 0
	for org, ol := range s.orgs {
		for len(ol.blocks) > 0 {
			blk := ol.blocks[0]
			recs, err := s.readBlock(b, org, blk)
			if err != nil {
				return n, err
			}
			keep := recs[:0]
			for _, r := range recs {
				if r.time >= cutoff {
					keep = append(keep, r)
					continue
				}
				if r.capture {
					b.delete(captureKey(org, r.id))
				}
				s.countEvicted([]rec{r})
			}
			dropped := len(recs) - len(keep)
			if dropped == 0 {
				break
			}
			n += dropped
			if len(keep) > 0 {
				ol.blocks[0] = s.writeBlock(b, org, blk.first, keep)
				break
			}
			b.delete(logKey(org, blk.first))
			ol.blocks = ol.blocks[1:]
		}
	}
	return n, nil
}

// LoadCells calls fn with every stored cell, in no promised order; the meter
// calls it at start to rebuild its aggregates. fn runs inside a read
// transaction: it must not call the Store's write methods.
func (s *Store) LoadCells(fn func(meter.CellKey, meter.Cell)) error {
	var ierr error
	err := s.db.View(func(tx *buntdb.Tx) error {
		// Inside the read transaction: every dictionary entry a committed
		// cell refers to was added before its commit.
		names := s.dict.snapshot()
		return tx.AscendRange("", string(rune(prefixCell)), string(rune(prefixCell+1)), func(k, v string) bool {
			ids, err := parseCellKey(k)
			if err != nil {
				ierr = err
				return false
			}
			key, err := ids.key(names)
			if err != nil {
				ierr = err
				return false
			}
			c, err := decodeCell(s.strip(v))
			if err != nil {
				ierr = err
				return false
			}
			fn(key, c)
			return true
		})
	})
	if err = errors.Join(mapErr(err), ierr); err != nil {
		return fmt.Errorf("cannot load cells from %q: %w", s.path, err)
	}
	return nil
}
