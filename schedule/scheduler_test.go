package schedule

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/infermeter/infermeter/store"
)

// clock is a settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// sent is one call of Send.
type sent struct {
	to      []string
	subject string
	name    string
	// state is the schedule as stored when Send ran.
	state Schedule
}

// rig is a Scheduler on a real store with a fake mailer.
type rig struct {
	s     *Scheduler
	st    *store.Store
	clock *clock
	mu    sync.Mutex
	sent  []sent
	fail  error
}

func newRig(t *testing.T, dir string, now time.Time, opt Options) *rig {
	t.Helper()
	berlin := mustLoad(t, "Europe/Berlin")
	st, err := store.Open(dir, store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{st: st, clock: &clock{t: now}}
	opt.Store = st
	opt.Now = r.clock.Now
	opt.Location = func(string) *time.Location { return berlin }
	opt.Render = func(org string, s *Schedule, p Period) (*Report, error) {
		return &Report{
			Subject: "infermeter report " + s.Name + ": " + p.Label(berlin),
			Name:    org + "-usage-" + p.Label(berlin) + "." + s.Format,
			Data:    []byte("x"),
		}, nil
	}
	opt.Send = func(ctx context.Context, to []string, rep *Report) error {
		r.mu.Lock()
		defer r.mu.Unlock()
		if r.fail != nil {
			return r.fail
		}
		var stored Schedule
		all, err := r.s.List("acme")
		if err != nil {
			return err
		}
		for _, x := range all {
			if slices.Equal(x.Recipients, to) {
				stored = x
			}
		}
		r.sent = append(r.sent, sent{to: to, subject: rep.Subject, name: rep.Name, state: stored})
		return nil
	}
	r.s = New(opt)
	t.Cleanup(func() {
		_ = r.s.Close()
		_ = st.Close()
	})
	return r
}

func (r *rig) mails() []sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

func daily(t *testing.T, hh int, to string) Schedule {
	t.Helper()
	s, err := Parse([]byte(`{"name":"daily ` + to + `","frequency":"daily","time":"0` + string(rune('0'+hh)) + `:00","format":"csv","recipients":["` + to + `"],"include":["usage_summary"]}`))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSchedulerRunsDueOnce(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	r := newRig(t, t.TempDir(), time.Date(2026, 11, 26, 12, 0, 0, 0, berlin), Options{})
	sc, err := r.s.Create("acme", daily(t, 7, "a@x.example"))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 27, 7, 0, 0, 0, berlin); !sc.NextRun.Equal(want) || sc.ID == "" || sc.Org != "acme" {
		t.Fatalf("created %+v", sc)
	}
	r.s.tick(TriggerSchedule)
	if n := len(r.mails()); n != 0 {
		t.Fatalf("%d mails before the due time", n)
	}
	r.clock.Set(time.Date(2026, 11, 27, 7, 0, 0, 0, berlin))
	r.s.tick(TriggerSchedule)
	r.clock.Set(time.Date(2026, 11, 27, 7, 0, 30, 0, berlin))
	r.s.tick(TriggerSchedule)
	m := r.mails()
	if len(m) != 1 || m[0].subject != "infermeter report daily a@x.example: 2026-11-26" || m[0].name != "acme-usage-2026-11-26.csv" {
		t.Fatalf("mails %+v", m)
	}
	// The run was recorded before sending.
	if st := m[0].state; !st.LastRun.Equal(time.Date(2026, 11, 27, 7, 0, 0, 0, berlin)) || !st.NextRun.Equal(time.Date(2026, 11, 28, 7, 0, 0, 0, berlin)) {
		t.Fatalf("state at send time: last %s next %s", st.LastRun, st.NextRun)
	}
	h, err := r.s.History("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 1 || h[0].Trigger != TriggerSchedule || h[0].Status != StatusSent || h[0].ScheduleID != sc.ID ||
		!h[0].DueAt.Equal(time.Date(2026, 11, 27, 7, 0, 0, 0, berlin)) ||
		!h[0].PeriodStart.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, berlin)) ||
		!h[0].PeriodEnd.Equal(time.Date(2026, 11, 27, 0, 0, 0, 0, berlin)) ||
		h[0].Attachment != "acme-usage-2026-11-26.csv" || h[0].Bytes != 1 {
		t.Fatalf("history %+v", h)
	}
}

func TestSchedulerCatchUpOnce(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	dir := t.TempDir()
	r := newRig(t, dir, time.Date(2026, 11, 20, 12, 0, 0, 0, berlin), Options{Interval: time.Hour})
	sc, err := r.s.Create("acme", daily(t, 7, "a@x.example"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.s.Create("acme", daily(t, 9, "later@x.example")); err != nil {
		t.Fatal(err)
	}
	_ = r.s.Close()
	_ = r.st.Close()

	// Down from the 20th to the 25th at 08:00: five due times of the 7:00
	// schedule passed, four of the 9:00 one.
	r2 := newRig(t, dir, time.Date(2026, 11, 25, 8, 0, 0, 0, berlin), Options{Interval: 10 * time.Millisecond})
	r2.s.Start()
	deadline := time.Now().Add(30 * time.Second)
	for len(r2.mails()) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// A few more ticks at the same clock must send nothing more.
	r2.s.tick(TriggerSchedule)
	r2.s.tick(TriggerSchedule)
	m := r2.mails()
	if len(m) != 2 {
		t.Fatalf("catch-up mails %+v", m)
	}
	slices.SortFunc(m, func(x, y sent) int { return len(x.to[0]) - len(y.to[0]) })
	if m[0].subject != "infermeter report daily a@x.example: 2026-11-24" || m[1].subject != "infermeter report daily later@x.example: 2026-11-23" {
		t.Fatalf("catch-up covers the latest missed period: %q, %q", m[0].subject, m[1].subject)
	}
	got, err := r2.s.Get("acme", sc.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !got.NextRun.Equal(time.Date(2026, 11, 26, 7, 0, 0, 0, berlin)) || !got.LastDue.Equal(time.Date(2026, 11, 25, 7, 0, 0, 0, berlin)) {
		t.Fatalf("after catch-up: next %s last due %s", got.NextRun, got.LastDue)
	}
	h, err := r2.s.History("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 2 || h[0].Trigger != TriggerCatchUp || h[1].Trigger != TriggerCatchUp {
		t.Fatalf("history %+v", h)
	}
}

func TestSchedulerRunNowFailureAndHistoryBound(t *testing.T) {
	berlin := mustLoad(t, "Europe/Berlin")
	r := newRig(t, t.TempDir(), time.Date(2026, 11, 26, 12, 0, 0, 0, berlin), Options{MaxHistory: 3})
	sc, err := r.s.Create("acme", daily(t, 7, "a@x.example"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		r.clock.Set(time.Date(2026, 11, 26, 12, i, 0, 0, berlin))
		d, err := r.s.RunNow("acme", sc.ID)
		if err != nil || d.Trigger != TriggerManual || d.Status != StatusSent || d.Attachment != "acme-usage-2026-11-25.csv" {
			t.Fatalf("run %d: %+v %v", i, d, err)
		}
	}
	r.mu.Lock()
	r.fail = errors.New("554 no thanks")
	r.mu.Unlock()
	r.clock.Set(time.Date(2026, 11, 26, 13, 0, 0, 0, berlin))
	d, err := r.s.RunNow("acme", sc.ID)
	if err == nil || d == nil || d.Status != StatusFailed || d.Error != `cannot send report "daily a@x.example": 554 no thanks` {
		t.Fatalf("failed run: %+v %v", d, err)
	}
	h, err := r.s.History("acme")
	if err != nil {
		t.Fatal(err)
	}
	if len(h) != 3 || h[0].Status != StatusFailed || !h[0].RanAt.Equal(time.Date(2026, 11, 26, 13, 0, 0, 0, berlin)) ||
		!h[2].RanAt.Equal(time.Date(2026, 11, 26, 12, 2, 0, 0, berlin)) {
		t.Fatalf("history %+v", h)
	}
	// A manual run does not move the schedule.
	got, err := r.s.Get("acme", sc.ID)
	if err != nil || !got.NextRun.Equal(time.Date(2026, 11, 27, 7, 0, 0, 0, berlin)) || !got.LastRun.IsZero() {
		t.Fatalf("after manual runs: %+v %v", got, err)
	}
	if _, err := r.s.RunNow("acme", "nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown: %v", err)
	}
	if _, err := r.s.RunNow("globex", sc.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("other org: %v", err)
	}
	if err := r.s.Delete("acme", sc.ID); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Delete("acme", sc.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if l, err := r.s.List("acme"); err != nil || len(l) != 0 {
		t.Fatalf("list %+v %v", l, err)
	}
}

func TestSchedulerWithoutMail(t *testing.T) {
	st, err := store.Open(t.TempDir(), store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := New(Options{Store: st})
	if s.MailEnabled() {
		t.Fatal("mail enabled without Send")
	}
	if _, err := s.Create("acme", Schedule{Frequency: Daily}); !errors.Is(err, ErrNoMail) {
		t.Fatalf("create: %v", err)
	}
	// Close without Start returns.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
