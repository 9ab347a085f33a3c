package schedule

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	json "github.com/goccy/go-json"

	"github.com/infermeter/infermeter/store"
)

// Defaults of Options.
const (
	// DefaultInterval is how often the Scheduler looks for due schedules.
	DefaultInterval = 30 * time.Second
	// DefaultMaxHistory is how many deliveries are kept per org.
	DefaultMaxHistory = 500
	// DefaultSendTimeout bounds one delivery (render and send).
	DefaultSendTimeout = 2 * time.Minute
)

// Triggers of a delivery.
const (
	// TriggerSchedule is a run at its due time.
	TriggerSchedule = "schedule"
	// TriggerCatchUp is the one run, at start, of a schedule whose due time
	// passed while the process was down.
	TriggerCatchUp = "catch-up"
	// TriggerManual is a run asked for through the API.
	TriggerManual = "manual"
)

// Statuses of a delivery.
const (
	StatusSent   = "sent"
	StatusFailed = "failed"
)

// State key prefixes: a schedule is "sched/<org>/<id>", a delivery
// "sched-hist/<org>/<sequence number, 20 digits>-<id>" so that keys sort in
// the order the deliveries ran within an org.
const (
	keySchedule = "sched/"
	keyHistory  = "sched-hist/"
)

// Sentinel errors; match them with errors.Is.
var (
	// ErrNotFound is wrapped when a schedule does not exist.
	ErrNotFound = errors.New("no such schedule")
	// ErrNoMail is wrapped when mail is not configured.
	ErrNoMail = errors.New("smtp is not configured")
)

// Report is a rendered report, ready to mail.
type Report struct {
	Subject string
	// Text is the body of the mail.
	Text string
	// Name, ContentType and Data are the attachment.
	Name        string
	ContentType string
	Data        []byte
}

// Delivery is one run of a schedule, as the history keeps it.
type Delivery struct {
	ID           string    `json:"id"`
	ScheduleID   string    `json:"schedule_id"`
	ScheduleName string    `json:"schedule_name"`
	RanAt        time.Time `json:"ran_at"`
	DueAt        time.Time `json:"due_at"`
	PeriodStart  time.Time `json:"period_start"`
	PeriodEnd    time.Time `json:"period_end"`
	Trigger      string    `json:"trigger"`
	Recipients   []string  `json:"recipients"`
	Attachment   string    `json:"attachment"`
	Bytes        int       `json:"bytes"`
	Status       string    `json:"status"`
	Error        string    `json:"error"`
}

// Options configure a Scheduler.
type Options struct {
	// Store keeps schedules and history (required).
	Store *store.Store
	// Location returns an org's timezone; nil or a nil answer is UTC.
	Location func(org string) *time.Location
	// Render makes the report of s for period p (required).
	Render func(org string, s *Schedule, p Period) (*Report, error)
	// Send mails r to the recipients; nil means mail is not configured:
	// Create refuses schedules and runs fail with ErrNoMail.
	Send func(ctx context.Context, to []string, r *Report) error
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Interval is how often due schedules are looked for; 0 is
	// DefaultInterval.
	Interval time.Duration
	// MaxHistory is how many deliveries are kept per org; 0 is
	// DefaultMaxHistory.
	MaxHistory int
	// SendTimeout bounds one delivery; 0 is DefaultSendTimeout.
	SendTimeout time.Duration
	// Logf logs what fails in the background; nil discards.
	Logf func(format string, args ...any)
}

// Scheduler runs the schedules of every org. Its methods are safe for
// concurrent use; runs (due, catch-up and manual) are serialised.
type Scheduler struct {
	opt  Options
	mu   sync.Mutex // serialises state changes and runs
	stop chan struct{}
	done chan struct{}
	once sync.Once
	// started tells Close whether a loop runs.
	started atomic.Bool
}

// New builds a Scheduler; Start starts its loop.
func New(opt Options) *Scheduler {
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Interval <= 0 {
		opt.Interval = DefaultInterval
	}
	if opt.MaxHistory <= 0 {
		opt.MaxHistory = DefaultMaxHistory
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = DefaultSendTimeout
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	return &Scheduler{opt: opt, stop: make(chan struct{}), done: make(chan struct{})}
}

// MailEnabled reports whether reports can be mailed.
func (s *Scheduler) MailEnabled() bool { return s.opt.Send != nil }

// Location returns the timezone of org.
func (s *Scheduler) Location(org string) *time.Location {
	if s.opt.Location != nil {
		if l := s.opt.Location(org); l != nil {
			return l
		}
	}
	return time.UTC
}

// Start starts the loop: first the catch-up of every schedule whose due
// time passed while the process was down (one run each, however many were
// missed), then a look every Interval. Close stops it.
func (s *Scheduler) Start() {
	s.started.Store(true)
	go s.loop()
}

// Close stops the loop and waits for a run in progress. It is safe to call
// more than once, and without Start.
func (s *Scheduler) Close() error {
	s.once.Do(func() { close(s.stop) })
	if s.started.Load() {
		<-s.done
	}
	return nil
}

func (s *Scheduler) loop() {
	defer close(s.done)
	s.tick(TriggerCatchUp)
	t := time.NewTicker(s.opt.Interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			s.tick(TriggerSchedule)
		}
	}
}

// tick runs every schedule whose NextRun has come.
func (s *Scheduler) tick(trigger string) {
	all, err := s.scan(keySchedule)
	if err != nil {
		s.opt.Logf("schedule: cannot read the schedules: %s", err)
		return
	}
	for i := range all {
		select {
		case <-s.stop:
			return
		default:
		}
		sc := &all[i]
		if _, err := s.runDue(sc.Org, sc.ID, trigger); err != nil {
			s.opt.Logf("schedule: report %q of org %q: %s", sc.ID, sc.Org, err)
		}
	}
}

// runDue runs schedule id of org when its NextRun has come: it records the
// new last_run and next_run before sending, so a crash never sends twice.
// It returns nil, nil when the schedule is not due (or is gone).
func (s *Scheduler) runDue(org, id, trigger string) (*Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok, err := s.get(org, id)
	if err != nil || !ok {
		return nil, err
	}
	now := s.opt.Now()
	if sc.NextRun.IsZero() || sc.NextRun.After(now) {
		return nil, nil
	}
	loc := s.Location(org)
	due := sc.NextRun
	if trigger == TriggerCatchUp {
		// The latest of the missed due times.
		if p, ok := sc.Prev(now, loc); ok && p.After(due) {
			due = p
		}
	}
	sc.LastRun, sc.LastDue = now, due
	sc.NextRun = sc.Next(now, loc)
	if err := s.put(&sc); err != nil {
		return nil, err
	}
	return s.deliver(&sc, due, now, trigger, loc)
}

// deliver renders and sends the report of sc due at due, and records the
// delivery in the history. The error is the render or send error; the
// history keeps it too.
func (s *Scheduler) deliver(sc *Schedule, due, now time.Time, trigger string, loc *time.Location) (*Delivery, error) {
	p := sc.PeriodOf(due, loc)
	d := &Delivery{
		ID:           newID(),
		ScheduleID:   sc.ID,
		ScheduleName: sc.Name,
		RanAt:        now,
		DueAt:        due,
		PeriodStart:  p.Start,
		PeriodEnd:    p.End,
		Trigger:      trigger,
		Recipients:   sc.Recipients,
		Status:       StatusSent,
	}
	runErr := func() error {
		if s.opt.Send == nil {
			return ErrNoMail
		}
		r, err := s.opt.Render(sc.Org, sc, p)
		if err != nil {
			return fmt.Errorf("cannot render report %q: %w", sc.Name, err)
		}
		d.Attachment, d.Bytes = r.Name, len(r.Data)
		ctx, cancel := context.WithTimeout(context.Background(), s.opt.SendTimeout)
		defer cancel()
		if err := s.opt.Send(ctx, sc.Recipients, r); err != nil {
			return fmt.Errorf("cannot send report %q: %w", sc.Name, err)
		}
		return nil
	}()
	if runErr != nil {
		d.Status, d.Error = StatusFailed, runErr.Error()
	}
	if err := s.record(sc.Org, d); err != nil {
		return d, errors.Join(runErr, err)
	}
	return d, runErr
}

// Create validates nothing more than Parse did: it gives sc an id, its
// org, created_at and next_run, and stores it.
func (s *Scheduler) Create(org string, sc Schedule) (Schedule, error) {
	if s.opt.Send == nil {
		return sc, ErrNoMail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.opt.Now()
	all, err := s.scan(keySchedule + org + "/")
	if err != nil {
		return sc, err
	}
	sc.Seq = 1
	for i := range all {
		sc.Seq = max(sc.Seq, all[i].Seq+1)
	}
	sc.ID, sc.Org, sc.CreatedAt = newID(), org, now
	sc.LastRun, sc.LastDue = time.Time{}, time.Time{}
	sc.NextRun = sc.Next(now, s.Location(org))
	if err := s.put(&sc); err != nil {
		return sc, err
	}
	return sc, nil
}

// List returns the schedules of org, oldest first (in creation order).
func (s *Scheduler) List(org string) ([]Schedule, error) {
	out, err := s.scan(keySchedule + org + "/")
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(x, y Schedule) int {
		if c := cmp.Compare(x.Seq, y.Seq); c != 0 {
			return c
		}
		return x.CreatedAt.Compare(y.CreatedAt)
	})
	return out, nil
}

// Get returns schedule id of org.
func (s *Scheduler) Get(org, id string) (Schedule, error) {
	sc, ok, err := s.get(org, id)
	if err != nil {
		return sc, err
	}
	if !ok {
		return sc, fmt.Errorf("cannot find schedule %q: %w", id, ErrNotFound)
	}
	return sc, nil
}

// Delete removes schedule id of org; its history stays.
func (s *Scheduler) Delete(org, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok, err := s.get(org, id); err != nil {
		return err
	} else if !ok {
		return fmt.Errorf("cannot delete schedule %q: %w", id, ErrNotFound)
	}
	return s.opt.Store.DeleteState(scheduleKey(org, id))
}

// RunNow sends the report of schedule id of org now, for the period of its
// latest due time (the last whole day, 7 days or month), without changing
// when it runs next. The delivery is returned, and kept in the history,
// even when sending fails (then the error says why).
func (s *Scheduler) RunNow(org, id string) (*Delivery, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok, err := s.get(org, id)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("cannot run schedule %q: %w", id, ErrNotFound)
	}
	now := s.opt.Now()
	loc := s.Location(org)
	due, ok := sc.Prev(now, loc)
	if !ok {
		due = now
	}
	return s.deliver(&sc, due, now, TriggerManual, loc)
}

// History returns the deliveries of org, newest first.
func (s *Scheduler) History(org string) ([]Delivery, error) {
	var out []Delivery
	var bad error
	err := s.opt.Store.ScanState(keyHistory+org+"/", func(key string, v []byte) bool {
		var d Delivery
		if err := json.Unmarshal(v, &d); err != nil {
			bad = fmt.Errorf("cannot decode delivery %q: %w", key, err)
			return false
		}
		out = append(out, d)
		return true
	})
	if err == nil {
		err = bad
	}
	if err != nil {
		return nil, err
	}
	slices.Reverse(out)
	return out, nil
}

// record appends d to the history of org and drops the oldest beyond
// MaxHistory. Keys number the deliveries of an org in the order they ran.
func (s *Scheduler) record(org string, d *Delivery) error {
	b, err := json.Marshal(d)
	if err != nil {
		return fmt.Errorf("cannot encode delivery %q: %w", d.ID, err)
	}
	prefix := keyHistory + org + "/"
	var keys []string
	if err := s.opt.Store.ScanState(prefix, func(k string, _ []byte) bool {
		keys = append(keys, k)
		return true
	}); err != nil {
		return err
	}
	var seq uint64
	if len(keys) > 0 {
		last := strings.TrimPrefix(keys[len(keys)-1], prefix)
		n, _, _ := strings.Cut(last, "-")
		seq, _ = strconv.ParseUint(n, 10, 64)
	}
	key := fmt.Sprintf("%s%020d-%s", prefix, seq+1, d.ID)
	if err := s.opt.Store.PutState(key, b); err != nil {
		return err
	}
	keys = append(keys, key)
	for len(keys) > s.opt.MaxHistory {
		if err := s.opt.Store.DeleteState(keys[0]); err != nil {
			return err
		}
		keys = keys[1:]
	}
	return nil
}

func (s *Scheduler) get(org, id string) (Schedule, bool, error) {
	var sc Schedule
	if strings.Contains(id, "/") {
		return sc, false, nil
	}
	b, ok, err := s.opt.Store.GetState(scheduleKey(org, id))
	if err != nil || !ok {
		return sc, false, err
	}
	if err := json.Unmarshal(b, &sc); err != nil {
		return sc, false, fmt.Errorf("cannot decode schedule %q: %w", id, err)
	}
	return sc, true, nil
}

func (s *Scheduler) put(sc *Schedule) error {
	b, err := json.Marshal(sc)
	if err != nil {
		return fmt.Errorf("cannot encode schedule %q: %w", sc.ID, err)
	}
	return s.opt.Store.PutState(scheduleKey(sc.Org, sc.ID), b)
}

// scan reads every schedule under the state prefix p.
func (s *Scheduler) scan(p string) ([]Schedule, error) {
	var out []Schedule
	var bad error
	err := s.opt.Store.ScanState(p, func(key string, v []byte) bool {
		var sc Schedule
		if err := json.Unmarshal(v, &sc); err != nil {
			bad = fmt.Errorf("cannot decode schedule %q: %w", key, err)
			return false
		}
		out = append(out, sc)
		return true
	})
	if err == nil {
		err = bad
	}
	return out, err
}

func scheduleKey(org, id string) string { return keySchedule + org + "/" + id }

// newID returns a random 16-hex-digit id.
func newID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
