package api

import (
	"errors"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/infermeter/infermeter/schedule"
)

// scheduleJSON is a schedule as the API shows it; times are in the org's
// timezone, last_run is null until it first ran at its due time.
type scheduleJSON struct {
	ID         string   `json:"id"`
	Name       string   `json:"name"`
	Frequency  string   `json:"frequency"`
	Day        any      `json:"day"`
	Time       string   `json:"time"`
	Timezone   string   `json:"timezone"`
	Format     string   `json:"format"`
	Recipients []string `json:"recipients"`
	Include    []string `json:"include"`
	CreatedAt  string   `json:"created_at"`
	NextRun    string   `json:"next_run"`
	LastRun    *string  `json:"last_run"`
}

// scheduleOut renders s for the API in loc.
func scheduleOut(s *schedule.Schedule, loc *time.Location) scheduleJSON {
	out := scheduleJSON{
		ID: s.ID, Name: s.Name, Frequency: s.Frequency, Time: s.Time(), Timezone: loc.String(),
		Format: s.Format, Recipients: s.Recipients, Include: s.Include,
		CreatedAt: s.CreatedAt.In(loc).Format(time.RFC3339),
		NextRun:   s.NextRun.In(loc).Format(time.RFC3339),
	}
	switch s.Frequency {
	case schedule.Weekly:
		out.Day = s.DayName()
	case schedule.Monthly:
		out.Day = s.Day
	}
	if !s.LastRun.IsZero() {
		l := s.LastRun.In(loc).Format(time.RFC3339)
		out.LastRun = &l
	}
	return out
}

// deliveryOut renders d with its times in loc.
func deliveryOut(d *schedule.Delivery, loc *time.Location) *schedule.Delivery {
	x := *d
	x.RanAt, x.DueAt = x.RanAt.In(loc), x.DueAt.In(loc)
	x.PeriodStart, x.PeriodEnd = x.PeriodStart.In(loc), x.PeriodEnd.In(loc)
	if x.Recipients == nil {
		x.Recipients = []string{}
	}
	return &x
}

// schedules returns the Scheduler, or answers 404 when there is none.
func (a *API) schedules(c *call) (*schedule.Scheduler, bool) {
	if a.opt.Schedules == nil {
		a.fail(c.ctx, fasthttp.StatusNotFound, "not_found", "scheduled reports are not enabled")
		return nil, false
	}
	return a.opt.Schedules, true
}

// scheduleFailed answers a Scheduler error: 404 for an unknown schedule,
// 500 otherwise.
func (a *API) scheduleFailed(c *call, err error) {
	if errors.Is(err, schedule.ErrNotFound) {
		a.fail(c.ctx, fasthttp.StatusNotFound, "not_found", "no such schedule: "+c.params["id"])
		return
	}
	a.fail(c.ctx, fasthttp.StatusInternalServerError, "internal", "cannot access the scheduled reports")
}

// createSchedule serves POST /api/organizations/{org}/reports/schedule
// (admins): {name, frequency, day, time, format, recipients, include}.
// 201 with the schedule; 400 naming the field for a bad body, or saying
// that smtp is not configured.
func (a *API) createSchedule(c *call) {
	s, ok := a.schedules(c)
	if !ok {
		return
	}
	if !s.MailEnabled() {
		a.fail(c.ctx, fasthttp.StatusBadRequest, "smtp_not_configured", "smtp is not configured: set smtp.host and smtp.from to mail scheduled reports")
		return
	}
	sc, err := schedule.Parse(c.ctx.PostBody())
	if err != nil {
		a.badParam(c.ctx, err)
		return
	}
	sc, err = s.Create(c.org.ID, sc)
	if err != nil {
		a.scheduleFailed(c, err)
		return
	}
	c.ctx.SetStatusCode(fasthttp.StatusCreated)
	a.writeJSON(c.ctx, struct {
		Success  bool         `json:"success"`
		Schedule scheduleJSON `json:"schedule"`
	}{true, scheduleOut(&sc, c.org.Location)})
}

// listSchedules serves GET /api/organizations/{org}/reports/schedule
// (admins), oldest first.
func (a *API) listSchedules(c *call) {
	s, ok := a.schedules(c)
	if !ok {
		return
	}
	all, err := s.List(c.org.ID)
	if err != nil {
		a.scheduleFailed(c, err)
		return
	}
	out := make([]scheduleJSON, 0, len(all))
	for i := range all {
		out = append(out, scheduleOut(&all[i], c.org.Location))
	}
	a.writeJSON(c.ctx, struct {
		Success   bool           `json:"success"`
		Schedules []scheduleJSON `json:"schedules"`
	}{true, out})
}

// deleteSchedule serves DELETE
// /api/organizations/{org}/reports/schedule/{id} (admins); 404 when
// unknown. The history of its deliveries stays.
func (a *API) deleteSchedule(c *call) {
	s, ok := a.schedules(c)
	if !ok {
		return
	}
	if err := s.Delete(c.org.ID, c.params["id"]); err != nil {
		a.scheduleFailed(c, err)
		return
	}
	a.writeJSON(c.ctx, struct {
		Success bool `json:"success"`
	}{true})
}

// runSchedule serves POST
// /api/organizations/{org}/reports/schedule/{id}/run (admins): it sends the
// report of the schedule's latest whole period now and answers the
// delivery; 502 with the mail error (and the delivery) when sending fails.
func (a *API) runSchedule(c *call) {
	s, ok := a.schedules(c)
	if !ok {
		return
	}
	d, err := s.RunNow(c.org.ID, c.params["id"])
	if d == nil && err != nil {
		a.scheduleFailed(c, err)
		return
	}
	if err != nil {
		status, code := fasthttp.StatusBadGateway, "delivery_failed"
		if errors.Is(err, schedule.ErrNoMail) {
			status, code = fasthttp.StatusBadRequest, "smtp_not_configured"
		}
		c.ctx.SetStatusCode(status)
		a.writeJSON(c.ctx, struct {
			Success  bool               `json:"success"`
			Error    errorInfo          `json:"error"`
			Delivery *schedule.Delivery `json:"delivery"`
		}{false, errorInfo{Code: code, Message: err.Error()}, deliveryOut(d, c.org.Location)})
		return
	}
	a.writeJSON(c.ctx, struct {
		Success  bool               `json:"success"`
		Delivery *schedule.Delivery `json:"delivery"`
	}{true, deliveryOut(d, c.org.Location)})
}

// scheduleHistory serves GET /api/organizations/{org}/reports/history
// (admins): the org's deliveries, newest first (the last 500 are kept).
// limit=N returns the N newest.
func (a *API) scheduleHistory(c *call) {
	s, ok := a.schedules(c)
	if !ok {
		return
	}
	limit := -1
	if v := c.ctx.QueryArgs().Peek("limit"); len(v) > 0 {
		n, err := strconv.Atoi(string(v))
		if err != nil || n < 1 {
			a.badParam(c.ctx, errors.New("limit: "+strconv.Quote(string(v))+" is not a positive integer"))
			return
		}
		limit = n
	}
	h, err := s.History(c.org.ID)
	if err != nil {
		a.scheduleFailed(c, err)
		return
	}
	if limit > 0 && len(h) > limit {
		h = h[:limit]
	}
	out := make([]*schedule.Delivery, 0, len(h))
	for i := range h {
		out = append(out, deliveryOut(&h[i], c.org.Location))
	}
	a.writeJSON(c.ctx, struct {
		Success    bool                 `json:"success"`
		Deliveries []*schedule.Delivery `json:"deliveries"`
	}{true, out})
}
