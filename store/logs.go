package store

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// Page sizes of Logs.
const (
	// DefaultLogLimit is the page size when LogQuery.Limit is 0 or less.
	DefaultLogLimit = 100
	// MaxLogLimit is the largest page size; larger limits are lowered to it.
	MaxLogLimit = 1000
)

// LogQuery selects request logs of one org. Empty fields do not filter.
type LogQuery struct {
	Org string
	// User is a member id; "" means every member of the org.
	User  string
	Model string
	// Status is "", "success" or "error".
	Status string
	// ErrorType is an error type label such as "rate_limit".
	ErrorType  string
	Department string
	// Tag is "k=v" (a log whose tag set holds it) or "k" (any value of k).
	Tag string
	// StartID and EndID bound the event IDs: StartID inclusive, EndID
	// exclusive; 0 leaves the side open. Event IDs are unix nanoseconds, so
	// these are time bounds too.
	StartID, EndID uint64
	// Limit is the page size (see DefaultLogLimit and MaxLogLimit).
	Limit int
	// Cursor is the nextCursor of a previous page with the same query.
	Cursor string
}

// logFilter is a LogQuery resolved to dictionary ids.
type logFilter struct {
	user, model, department uint32
	byUser, byModel, byDept bool
	status                  string
	errorType               usage.ErrorType
	byErrorType             bool
	tag                     string
	tagMatch                map[uint32]bool
	names                   []string
	start, end              uint64
	unmatchable             bool
}

// Logs returns one page of the org's request logs that match q, newest
// first, and the cursor of the next page ("" on the last page). Paging is
// stable while new logs arrive: a cursor resumes strictly below the last ID
// it returned, so pages neither repeat nor skip older logs (logs evicted in
// the meantime are gone). A cursor not made by Logs gives an error wrapping
// ErrBadCursor; an unknown status or error type one wrapping ErrBadQuery.
//
// Logs may run concurrently with every other method. The returned events
// are the caller's.
func (s *Store) Logs(q LogQuery) ([]meter.Event, string, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultLogLimit
	}
	limit = min(limit, MaxLogLimit)
	f := logFilter{start: q.StartID, end: q.EndID, status: q.Status, tag: q.Tag}
	if f.end == 0 {
		f.end = math.MaxUint64
	}
	if q.Cursor != "" {
		c, err := parseCursor(q.Cursor)
		if err != nil {
			return nil, "", err
		}
		f.end = min(f.end, c)
	}
	switch q.Status {
	case "", "success", "error":
	default:
		return nil, "", fmt.Errorf("%w: unknown status %q (want success or error)", ErrBadQuery, q.Status)
	}
	if q.ErrorType != "" {
		et, ok := usage.ParseErrorType(q.ErrorType)
		if !ok {
			return nil, "", fmt.Errorf("%w: unknown error type %q", ErrBadQuery, q.ErrorType)
		}
		f.errorType, f.byErrorType = et, true
	}
	if f.start >= f.end {
		return nil, "", nil
	}
	var out []meter.Event
	var recs []rec
	var ierr error
	err := s.db.View(func(tx *buntdb.Tx) error {
		// Resolve inside the read transaction: every dictionary entry a
		// committed block refers to was added before its commit.
		org, ok := s.dict.lookup(q.Org)
		if !ok {
			return nil
		}
		f.resolve(s.dict, q)
		if f.unmatchable {
			return nil
		}
		f.names = s.dict.snapshot()
		prefix := logOrgPrefix(org)
		return tx.DescendLessOrEqual("", logKey(org, f.end-1), func(k, v string) bool {
			if !strings.HasPrefix(k, prefix) {
				return false
			}
			recs, ierr = decodeBlock(recs[:0], be64(k, 5), s.strip(v))
			if ierr != nil {
				return false
			}
			for i := len(recs) - 1; i >= 0; i-- {
				r := &recs[i]
				if r.id >= f.end {
					continue
				}
				if r.id < f.start {
					return false
				}
				if !f.match(r) {
					continue
				}
				var e meter.Event
				if e, ierr = r.event(q.Org, f.names); ierr != nil {
					return false
				}
				if out == nil {
					out = make([]meter.Event, 0, min(limit+1, 128))
				}
				out = append(out, e)
				if len(out) > limit {
					return false
				}
			}
			return true
		})
	})
	if err = errors.Join(mapErr(err), ierr); err != nil {
		return nil, "", fmt.Errorf("cannot read logs of org %q: %w", q.Org, err)
	}
	if len(out) <= limit {
		return out, "", nil
	}
	out = out[:limit]
	return out, formatCursor(out[limit-1].ID), nil
}

// resolve maps the query's strings to dictionary ids; a string the
// dictionary does not hold can match nothing.
func (f *logFilter) resolve(d *dict, q LogQuery) {
	for _, c := range [...]struct {
		s   string
		id  *uint32
		set *bool
	}{
		{q.User, &f.user, &f.byUser}, {q.Model, &f.model, &f.byModel}, {q.Department, &f.department, &f.byDept},
	} {
		if c.s == "" {
			continue
		}
		id, ok := d.lookup(c.s)
		if !ok {
			f.unmatchable = true
			return
		}
		*c.id, *c.set = id, true
	}
}

func (f *logFilter) match(r *rec) bool {
	switch {
	case f.byUser && r.user != f.user,
		f.byModel && r.model != f.model,
		f.byDept && r.department != f.department,
		f.byErrorType && r.errorType != f.errorType,
		f.status == "success" && r.errorType != usage.ErrNone,
		f.status == "error" && r.errorType == usage.ErrNone:
		return false
	}
	if f.tag == "" {
		return true
	}
	m, ok := f.tagMatch[r.tags]
	if !ok {
		if f.tagMatch == nil {
			f.tagMatch = make(map[uint32]bool)
		}
		if int(r.tags) < len(f.names) {
			m = tagsHold(f.names[r.tags], f.tag)
		}
		f.tagMatch[r.tags] = m
	}
	return m
}

// tagsHold reports whether the canonical tag set tags ("k=v,k=v") holds
// tag: "k=v" exactly, or "k" with any value.
func tagsHold(tags, tag string) bool {
	keyOnly := !strings.Contains(tag, "=")
	for tags != "" {
		var t string
		t, tags, _ = strings.Cut(tags, ",")
		if t == tag {
			return true
		}
		if k, _, _ := strings.Cut(t, "="); keyOnly && k == tag {
			return true
		}
	}
	return false
}

// Log returns the request log of org with the given ID, with its Capture
// when one was stored (capture_bodies), and whether it exists. It may run
// concurrently with every other method.
func (s *Store) Log(org string, id uint64) (meter.Event, bool, error) {
	var e meter.Event
	var found, captured bool
	var ierr error
	var recs []rec
	err := s.db.View(func(tx *buntdb.Tx) error {
		o, ok := s.dict.lookup(org)
		if !ok {
			return nil
		}
		prefix := logOrgPrefix(o)
		err := tx.DescendLessOrEqual("", logKey(o, id), func(k, v string) bool {
			if !strings.HasPrefix(k, prefix) {
				return false
			}
			recs, ierr = decodeBlock(recs[:0], be64(k, 5), s.strip(v))
			if ierr != nil {
				return false
			}
			for i := range recs {
				if recs[i].id == id {
					e, ierr = recs[i].event(org, s.dict.snapshot())
					found, captured = ierr == nil, recs[i].capture
					break
				}
			}
			return false
		})
		if err != nil || !found || !captured {
			return err
		}
		e.Capture, ierr = s.loadCapture(tx, o, id)
		found = ierr == nil
		return nil
	})
	if err = errors.Join(mapErr(err), ierr); err != nil {
		return meter.Event{}, false, fmt.Errorf("cannot read log %d of org %q: %w", id, org, err)
	}
	return e, found, nil
}

// Cursors are "c" and the exclusive upper ID bound in base 36.
func formatCursor(id uint64) string { return "c" + strconv.FormatUint(id, 36) }

func parseCursor(c string) (uint64, error) {
	rest, ok := strings.CutPrefix(c, "c")
	if !ok {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	id, err := strconv.ParseUint(rest, 36, 64)
	if err != nil || id == 0 || formatCursor(id) != c {
		return 0, fmt.Errorf("%w: %q", ErrBadCursor, c)
	}
	return id, nil
}
