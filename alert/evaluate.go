package alert

import (
	"fmt"
	"time"
)

// Evaluate evaluates every rule at now: a rule fires when its condition
// holds and it is armed (it was not firing, and its cooldown since the
// last firing has passed); it clears when its condition no longer holds.
// A firing is recorded in the history and its state stored before its
// delivery starts (in its own goroutine), so each breach is delivered once
// and a restart does not fire an ongoing breach again. Metrics are read
// once per scope (org, or member) per call.
func (e *Engine) Evaluate(now time.Time) {
	e.evalMu.Lock()
	defer e.evalMu.Unlock()
	if e.closed {
		return
	}
	type scope struct{ org, user string }
	e.mu.Lock()
	type item struct {
		key  string
		rule Rule
		cond *Condition
	}
	items := make([]item, 0, len(e.rules))
	for k, re := range e.rules {
		items = append(items, item{k, re.rule, re.cond})
	}
	e.mu.Unlock()
	cache := map[scope]Values{}
	for _, it := range items {
		sc := scope{it.rule.Org, it.rule.User}
		v, ok := cache[sc]
		if !ok {
			v = computeValues(e.opt.Meter, e.opt.Accounts, sc.org, sc.user, now)
			cache[sc] = v
		}
		e.step(it.key, it.cond.Eval(v.M), it.cond, v, now)
	}
}

// step moves rule key to its next state for a condition that holds (on)
// or not.
func (e *Engine) step(key string, on bool, cond *Condition, v Values, now time.Time) {
	e.mu.Lock()
	re := e.rules[key]
	if re == nil { // deleted meanwhile
		e.mu.Unlock()
		return
	}
	st, r := re.state, re.rule
	switch {
	case on && !st.Firing:
		if r.Cooldown > 0 && !st.LastFiredAt.IsZero() && now.Sub(st.LastFiredAt) < r.Cooldown {
			e.mu.Unlock()
			return
		}
		f := e.firing(&r, cond, v, now)
		if err := e.addHistory(&f); err != nil {
			e.opt.Logf("alert: %s", err)
		}
		re.state = ruleState{Firing: true, LastFiredAt: now, Hist: f.key}
		e.putState(key, re.state)
		e.mu.Unlock()
		e.deliver(r, f)
	case !on && st.Firing:
		re.state.Firing = false
		e.putState(key, re.state)
		e.mu.Unlock()
		if st.Hist != "" {
			err := e.updateHistory(st.Hist, func(f *Firing) { t := now; f.ClearedAt = &t })
			if err != nil {
				e.opt.Logf("alert: %s", err)
			}
		}
	default:
		e.mu.Unlock()
	}
}

// putState stores the state of rule key; the caller holds e.mu. A failure
// is logged: the state in memory still prevents a storm.
func (e *Engine) putState(key string, st ruleState) {
	b, err := marshal(st)
	if err == nil {
		err = e.opt.Store.PutState(stateKeyPrefix+key, b)
	}
	if err != nil {
		e.opt.Logf("alert: %s", fmt.Errorf("cannot store the state of alert rule %q: %w", key, err))
	}
}
