package fleet

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// spendTTL is how long the spend bucket keeps a key that is no longer
// written (about two months, like the ledger's own history).
const spendTTL = 62 * 24 * time.Hour

// spendSync shares the month-to-date spend of this instance's ledger with
// the fleet and feeds the rest of the fleet's spend back into the ledger.
//
// The bucket "<stream>-spend" holds one key per origin, org or member, and
// month: "o.<org>.<month start>.<origin>" and "m.<org>.<member>.<month
// start>.<origin>" (names base64url-encoded, the month start in unix
// seconds), whose value is that origin's settled spend in nano-dollars, in
// decimal. Every key has a single writer, its origin, which writes its
// absolute total: writes never conflict, a retried or repeated write changes
// nothing, and a restarted instance, whose ledger is seeded from its store,
// writes the same total again. Readers watch the bucket and sum the other
// origins' keys per org or member and month.
type spendSync struct {
	f      *Fleet
	kv     jetstream.KeyValue
	w      jetstream.KeyWatcher
	own    map[string]int64 // last value written per own key
	vals   map[string]int64 // every other origin's key → value
	sums   map[spendGroup]int64
	suffix string // "." + encoded origin
	down   bool
}

// spendGroup is an org (member "") or member month summed over origins.
type spendGroup struct {
	org, member string
	month       int64
}

func newSpendSync(f *Fleet) *spendSync {
	return &spendSync{
		f: f, own: map[string]int64{}, vals: map[string]int64{}, sums: map[spendGroup]int64{},
		suffix: "." + enc(f.origin),
	}
}

func enc(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func dec(s string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	return string(b), err == nil
}

// spendKey returns the bucket key of g written by the origin encoded in
// suffix.
func spendKey(g spendGroup, suffix string) string {
	m := strconv.FormatInt(g.month, 10)
	if g.member == "" {
		return "o." + enc(g.org) + "." + m + suffix
	}
	return "m." + enc(g.org) + "." + enc(g.member) + "." + m + suffix
}

// parseSpendKey is the inverse of spendKey; origin stays encoded.
func parseSpendKey(k string) (g spendGroup, origin string, ok bool) {
	parts := strings.Split(k, ".")
	var month string
	switch {
	case len(parts) == 4 && parts[0] == "o":
		g.org, ok = dec(parts[1])
		month, origin = parts[2], parts[3]
	case len(parts) == 5 && parts[0] == "m":
		var ok2 bool
		g.org, ok = dec(parts[1])
		g.member, ok2 = dec(parts[2])
		ok = ok && ok2 && g.member != ""
		month, origin = parts[3], parts[4]
	default:
		return g, "", false
	}
	n, err := strconv.ParseInt(month, 10, 64)
	if err != nil || g.org == "" {
		return g, "", false
	}
	g.month = n
	return g, origin, ok
}

func (s *spendSync) run() {
	f := s.f
	t := time.NewTicker(f.opt.SyncInterval)
	defer t.Stop()
	defer func() {
		if s.w != nil {
			_ = s.w.Stop()
		}
	}()
	for {
		var updates <-chan jetstream.KeyValueEntry
		if s.w != nil {
			updates = s.w.Updates()
		}
		select {
		case <-f.stop:
			return
		case e, ok := <-updates:
			if !ok {
				_ = s.w.Stop()
				s.w = nil
				continue
			}
			if e != nil {
				s.apply(e)
			}
		case <-t.C:
			if err := s.sync(); err != nil {
				f.m.spendSyncErrors.Inc()
				if !s.down {
					s.down = true
					f.opt.Logf("fleet: cannot share the month's spend: %s; budgets count the rest of the fleet's spend as last seen", err)
				}
			} else if s.down {
				s.down = false
				f.opt.Logf("fleet: sharing the month's spend again")
			}
		}
	}
}

// sync creates the bucket and the watcher when needed and writes this
// instance's totals that changed.
func (s *spendSync) sync() error {
	f := s.f
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if s.kv == nil {
		kv, err := f.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
			Bucket:   f.opt.Config.Stream + "-spend",
			TTL:      spendTTL,
			Storage:  jetstream.FileStorage,
			Replicas: f.opt.Config.Replicas,
		})
		if err != nil {
			return fmt.Errorf("cannot create key/value bucket %q: %w", f.opt.Config.Stream+"-spend", err)
		}
		s.kv = kv
	}
	if s.w == nil {
		w, err := s.kv.WatchAll(context.Background())
		if err != nil {
			return fmt.Errorf("cannot watch the spend bucket: %w", err)
		}
		s.w = w
	}
	var errs []error
	f.opt.Budget.EachSpent(f.opt.Now(), func(org, member string, month, spent int64) {
		k := spendKey(spendGroup{org: org, member: member, month: month}, s.suffix)
		if old, ok := s.own[k]; ok && old == spent {
			return
		}
		if _, err := s.kv.Put(ctx, k, strconv.AppendInt(nil, spent, 10)); err != nil {
			errs = append(errs, err)
			return
		}
		s.own[k] = spent
	})
	if len(errs) > 0 {
		return fmt.Errorf("cannot write %d spend totals: %w", len(errs), errs[0])
	}
	return nil
}

// apply takes one bucket update of another origin into the ledger.
func (s *spendSync) apply(e jetstream.KeyValueEntry) {
	k := e.Key()
	if strings.HasSuffix(k, s.suffix) {
		return
	}
	g, _, ok := parseSpendKey(k)
	if !ok {
		return
	}
	var v int64
	if e.Operation() == jetstream.KeyValuePut {
		n, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil {
			return
		}
		v = n
	}
	s.sums[g] += v - s.vals[k]
	if e.Operation() == jetstream.KeyValuePut {
		s.vals[k] = v
	} else {
		delete(s.vals, k)
	}
	s.f.opt.Budget.SetExternal(g.org, g.member, time.Unix(g.month, 0), s.sums[g])
}
