package alert

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log"
	"slices"
	"strings"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/account"
	"github.com/infermeter/infermeter/notify"
	"github.com/infermeter/infermeter/store"
)

// Store state keys (see store.PutState):
//
//	alert/rule/<org>/<id>   a Rule (JSON)
//	alert/state/<org>/<id>  its firing state (JSON)
//	alert/hist/<org>/<seq>  a Firing (JSON); seq is 20 digits of unix
//	                        nanoseconds, so keys sort by time
const (
	ruleKeyPrefix  = "alert/rule/"
	stateKeyPrefix = "alert/state/"
	histKeyPrefix  = "alert/hist/"
)

// Defaults of Options.
const (
	DefaultInterval   = 10 * time.Second
	DefaultMaxHistory = 1000
	// deliveryTimeout bounds one delivery, retries included.
	deliveryTimeout = 5 * time.Minute
	// closeGrace is how long Close lets deliveries in flight finish before
	// it cancels them.
	closeGrace = 10 * time.Second
)

// ErrNotFound is returned for a rule that does not exist (or that the
// caller may not see).
var ErrNotFound = errors.New("no such alert rule")

// Options configure an Engine.
type Options struct {
	Store    *store.Store
	Meter    *meter.Meter
	Accounts *account.Directory
	// Mailer sends the email action; nil or off refuses email rules.
	Mailer *notify.Mailer
	// Webhook posts the webhook action; nil builds one with the defaults.
	Webhook *notify.Webhook
	// Interval is the evaluation period (default 10s).
	Interval time.Duration
	// MaxHistory bounds the history kept per org (default 1000; the
	// oldest entries go first).
	MaxHistory int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Logf receives operational messages; nil uses the standard logger.
	Logf func(format string, args ...any)
}

// Engine keeps the alert rules, evaluates them and delivers what fires.
// Safe for concurrent use; Start runs the evaluation loop, Close stops it
// and waits for it and for deliveries in flight.
type Engine struct {
	opt Options

	mu    sync.Mutex // guards rules and their states, and hist counts
	rules map[string]*ruleEntry
	hists map[string]int // org → history entries kept
	last  int64          // newest history sequence handed out

	hmu sync.Mutex // serialises history read-modify-writes

	evalMu sync.Mutex // one evaluation at a time

	stop      chan struct{}
	loopDone  chan struct{}
	started   bool
	closeOnce sync.Once
	closed    bool

	deliveries sync.WaitGroup
	dctx       context.Context
	dcancel    context.CancelFunc
}

// ruleEntry is a rule with its parsed condition and firing state.
type ruleEntry struct {
	rule  Rule
	cond  *Condition
	state ruleState
}

// ruleState is what survives a restart so that an ongoing breach does not
// fire again.
type ruleState struct {
	Firing      bool      `json:"firing"`
	LastFiredAt time.Time `json:"last_fired_at"`
	// Hist is the history key of the last firing.
	Hist string `json:"hist"`
}

// Status is a rule with its current state.
type Status struct {
	Rule
	Firing      bool
	LastFiredAt time.Time
}

// New builds an Engine and loads its rules, states and history counts
// from the store.
func New(opt Options) (*Engine, error) {
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.MaxHistory <= 0 {
		opt.MaxHistory = DefaultMaxHistory
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.Webhook == nil {
		opt.Webhook = notify.NewWebhook(notify.WebhookOptions{})
	}
	e := &Engine{
		opt:      opt,
		rules:    map[string]*ruleEntry{},
		hists:    map[string]int{},
		stop:     make(chan struct{}),
		loopDone: make(chan struct{}),
	}
	e.dctx, e.dcancel = context.WithCancel(context.Background())
	var bad error
	err := opt.Store.ScanState(ruleKeyPrefix, func(key string, value []byte) bool {
		var r Rule
		if err := json.Unmarshal(value, &r); err != nil {
			bad = fmt.Errorf("cannot decode alert rule %q: %w", key, err)
			return false
		}
		c, err := Parse(r.Condition)
		if err != nil {
			bad = fmt.Errorf("cannot parse the condition of alert rule %q: %w", key, err)
			return false
		}
		e.rules[r.Org+"/"+r.ID] = &ruleEntry{rule: r, cond: c}
		return true
	})
	if err == nil {
		err = bad
	}
	if err == nil {
		err = opt.Store.ScanState(stateKeyPrefix, func(key string, value []byte) bool {
			re := e.rules[strings.TrimPrefix(key, stateKeyPrefix)]
			if re == nil {
				return true
			}
			if err := json.Unmarshal(value, &re.state); err != nil {
				bad = fmt.Errorf("cannot decode alert state %q: %w", key, err)
				return false
			}
			return true
		})
	}
	if err == nil {
		err = bad
	}
	if err == nil {
		err = opt.Store.ScanState(histKeyPrefix, func(key string, _ []byte) bool {
			org, _, _ := strings.Cut(strings.TrimPrefix(key, histKeyPrefix), "/")
			e.hists[org]++
			return true
		})
	}
	if err != nil {
		e.dcancel()
		return nil, fmt.Errorf("cannot load the alert rules: %w", err)
	}
	return e, nil
}

// Start runs the evaluation loop: Evaluate every Interval at the clock's
// time.
func (e *Engine) Start() {
	e.started = true
	go e.loop()
}

func (e *Engine) loop() {
	defer close(e.loopDone)
	t := time.NewTicker(e.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			e.Evaluate(e.opt.Now())
		}
	}
}

// Close stops the loop, lets deliveries in flight finish (for up to 10s,
// then cancels them) and waits for them. Later evaluations do nothing.
func (e *Engine) Close() error {
	e.closeOnce.Do(func() {
		close(e.stop)
		if e.started {
			<-e.loopDone
		}
		e.evalMu.Lock()
		e.closed = true
		e.evalMu.Unlock()
		done := make(chan struct{})
		go func() {
			e.deliveries.Wait()
			close(done)
		}()
		t := time.NewTimer(closeGrace)
		select {
		case <-done:
		case <-t.C:
			e.dcancel()
			<-done
		}
		t.Stop()
		e.dcancel()
	})
	return nil
}

// MailOn reports whether the email action can be used.
func (e *Engine) MailOn() bool { return e.opt.Mailer.Enabled() }

// Create validates r (see Validate), gives it an ID and its creation time,
// and stores it. r.Org, r.User and r.CreatedBy are the caller's to set.
func (e *Engine) Create(r Rule) (Status, error) {
	if err := Validate(&r, e.MailOn()); err != nil {
		return Status{}, err
	}
	c, _ := Parse(r.Condition)
	var b [8]byte
	_, _ = rand.Read(b[:])
	r.ID = "al_" + hex.EncodeToString(b[:])
	r.CreatedAt = e.opt.Now().UTC()
	r.Recipients = slices.Clone(r.Recipients)
	v, err := json.Marshal(r)
	if err != nil {
		return Status{}, fmt.Errorf("cannot encode alert rule %q: %w", r.Name, err)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.opt.Store.PutState(ruleKeyPrefix+r.Org+"/"+r.ID, v); err != nil {
		return Status{}, fmt.Errorf("cannot store alert rule %q: %w", r.Name, err)
	}
	e.rules[r.Org+"/"+r.ID] = &ruleEntry{rule: r, cond: c}
	return Status{Rule: r}, nil
}

// Rules returns the rules of org, oldest first: all of them when user is
// "", else only user's own.
func (e *Engine) Rules(org, user string) []Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Status
	for _, re := range e.rules {
		if re.rule.Org != org || (user != "" && re.rule.User != user) {
			continue
		}
		out = append(out, Status{Rule: re.rule, Firing: re.state.Firing, LastFiredAt: re.state.LastFiredAt})
	}
	slices.SortFunc(out, func(a, b Status) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out
}

// Delete removes rule id of org; when user is not "" only user's own rule.
// It returns ErrNotFound for a rule that does not exist or is not
// visible. The rule's history stays.
func (e *Engine) Delete(org, user, id string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	key := org + "/" + id
	re := e.rules[key]
	if re == nil || (user != "" && re.rule.User != user) {
		return ErrNotFound
	}
	if err := e.opt.Store.DeleteState(ruleKeyPrefix + key); err != nil {
		return fmt.Errorf("cannot delete alert rule %q: %w", id, err)
	}
	if err := e.opt.Store.DeleteState(stateKeyPrefix + key); err != nil {
		return fmt.Errorf("cannot delete the state of alert rule %q: %w", id, err)
	}
	delete(e.rules, key)
	return nil
}
