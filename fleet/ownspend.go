package fleet

import (
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/store"
)

// A `both` instance stores the fleet's events with its own, so its cells
// cannot seed its budget ledger at start: that would count the other
// instances' spend twice (once from the cells, once from the spend bucket).
// Instead it keeps its own month-to-date spend per member in its store's
// state, written with each flush, and seeds the ledger from it.
const (
	// ownSpendPrefix + "<month start>/<len(org)>/<org><member>" holds the
	// settled local spend of one member in one month, in nano-dollars
	// (decimal).
	ownSpendPrefix = "fleet/own-spend/"
	// keyOwnSpendSince holds when the store began to keep it (unix
	// seconds): a month that started earlier is not wholly in it.
	keyOwnSpendSince = "fleet/own-spend-since"
)

// OwnSpend keeps a `both` instance's own spend per member in its store.
// Take and Committed are called from the meter's flush, one at a time.
type OwnSpend struct {
	st      *store.Store
	ledger  *budget.Ledger
	now     func() time.Time
	since   bool             // keyOwnSpendSince is stored
	empty   bool             // the store held no cells when the book began
	written map[string]int64 // what the store holds, by key
	pending map[string]int64 // taken, not yet committed
	pruned  time.Time        // when months past keepOwnSpend were last dropped
}

// keepOwnSpend is how long the own spend of a month is kept after its
// start (as the ledger keeps its months).
const keepOwnSpend = 62 * 24 * time.Hour

// NewOwnSpend returns the book of ledger's own spend for st. It reads what
// st holds. empty tells that st holds no cells yet: the book then covers
// every month from the start, else only those that begin after its first
// flush.
func NewOwnSpend(st *store.Store, ledger *budget.Ledger, now func() time.Time, empty bool) (*OwnSpend, error) {
	if now == nil {
		now = time.Now
	}
	o := &OwnSpend{st: st, ledger: ledger, now: now, empty: empty, written: map[string]int64{}}
	if _, ok, err := st.GetState(keyOwnSpendSince); err != nil {
		return nil, fmt.Errorf("cannot read the own spend of the fleet: %w", err)
	} else if ok {
		o.since = true
	}
	var bad error
	err := st.ScanState(ownSpendPrefix, func(k string, v []byte) bool {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			bad = fmt.Errorf("own spend %q: %q is not a number", k, v)
			return false
		}
		o.written[k] = n
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read the own spend of the fleet: %w", err)
	}
	return o, nil
}

func ownSpendKey(monthStart int64, org, member string) string {
	return ownSpendPrefix + strconv.FormatInt(monthStart, 10) + "/" + strconv.Itoa(len(org)) + "/" + org + member
}

func parseOwnSpendKey(k string) (monthStart int64, org, member string, ok bool) {
	rest, ok := strings.CutPrefix(k, ownSpendPrefix)
	if !ok {
		return 0, "", "", false
	}
	ms, rest, ok1 := strings.Cut(rest, "/")
	n, rest, ok2 := strings.Cut(rest, "/")
	start, err1 := strconv.ParseInt(ms, 10, 64)
	l, err2 := strconv.Atoi(n)
	if !ok1 || !ok2 || err1 != nil || err2 != nil || l < 0 || l > len(rest) {
		return 0, "", "", false
	}
	return start, rest[:l], rest[l:], true
}

// Take returns the state entries to store with the next flush: the own
// spend totals of the members that changed since the last committed
// flush (and, the first time, when the book began).
func (o *OwnSpend) Take() map[string][]byte {
	var out map[string][]byte
	add := func(k string, v []byte) {
		if out == nil {
			out = map[string][]byte{}
		}
		out[k] = v
	}
	if !o.since {
		since := o.now().Unix()
		if o.empty {
			since = 0
		}
		add(keyOwnSpendSince, strconv.AppendInt(nil, since, 10))
	}
	o.pending = map[string]int64{}
	o.ledger.EachSpent(o.now(), func(org, member string, monthStart, spent int64) {
		if member == "" {
			return // the org's total is the sum of its members'
		}
		k := ownSpendKey(monthStart, org, member)
		if w, ok := o.written[k]; ok && w == spent {
			return
		}
		o.pending[k] = spent
		add(k, strconv.AppendInt(nil, spent, 10))
	})
	return out
}

// Committed records that the entries of the last Take are stored. Once an
// hour it also drops the totals of months that started more than
// keepOwnSpend ago.
func (o *OwnSpend) Committed() error {
	o.since = true
	for k, v := range o.pending {
		o.written[k] = v
	}
	o.pending = nil
	now := o.now()
	if now.Sub(o.pruned) < time.Hour {
		return nil
	}
	o.pruned = now
	cutoff := now.Add(-keepOwnSpend).Unix()
	for k := range o.written {
		if start, _, _, ok := parseOwnSpendKey(k); ok && start < cutoff {
			if err := o.st.DeleteState(k); err != nil {
				return fmt.Errorf("cannot drop an old own spend total: %w", err)
			}
			delete(o.written, k)
		}
	}
	return nil
}

// Seed adds to the ledger the stored own spend of the month holding now,
// for every org whose month started after the book began; for the other
// orgs it takes their cells (which then also hold the fleet's events: the
// ledger counts the other instances' spend twice until the next month, and
// refuses early, never late).
func (o *OwnSpend) Seed(cells iter.Seq2[*meter.CellKey, *meter.Cell], loc func(org string) *time.Location) error {
	now := o.now()
	var since int64 = 1<<63 - 1
	if v, ok, err := o.st.GetState(keyOwnSpendSince); err != nil {
		return fmt.Errorf("cannot read the own spend of the fleet: %w", err)
	} else if ok {
		n, err := strconv.ParseInt(string(v), 10, 64)
		if err != nil {
			return fmt.Errorf("own spend since %q: not a number", v)
		}
		since = n
	}
	wholeOrg := map[string]bool{} // the month computed once per org, not per cell
	whole := func(org string) bool {
		w, ok := wholeOrg[org]
		if !ok {
			l := time.UTC
			if loc != nil {
				if x := loc(org); x != nil {
					l = x
				}
			}
			y, m, _ := now.In(l).Date()
			w = since <= time.Date(y, m, 1, 0, 0, 0, 0, l).Unix()
			wholeOrg[org] = w
		}
		return w
	}
	o.ledger.Seed(func(yield func(*meter.CellKey, *meter.Cell) bool) {
		for k, c := range cells {
			if !whole(k.Org) && !yield(k, c) {
				return
			}
		}
	}, now)
	o.ledger.Seed(func(yield func(*meter.CellKey, *meter.Cell) bool) {
		for k, v := range o.written {
			start, org, member, ok := parseOwnSpendKey(k)
			if !ok || !whole(org) {
				continue
			}
			if !yield(&meter.CellKey{Org: org, User: member, Hour: start}, &meter.Cell{CostNano: v}) {
				return
			}
		}
	}, now)
	return nil
}
