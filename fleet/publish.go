package fleet

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/infermeter/infermeter/meter"
)

// pubWindow is the most events published without their acknowledgement:
// the publisher reads this many events at a time and waits for every ack
// before it reads on.
const pubWindow = 256

// ackTimeout bounds the wait for one window's acknowledgements; the ones
// that did not come are published again (the stream drops the duplicates).
const ackTimeout = 10 * time.Second

// drainTimeout bounds the publishing of the last events at Close (those of
// the meter's last flush).
const drainTimeout = 5 * time.Second

// publisher follows the local store and publishes its events in ID order.
// It runs on one goroutine; wake may be called from any.
type publisher struct {
	f *Fleet
	// cursor is the ID of the last event followed (published, or skipped
	// because it came from the fleet), prev the ID of the last one
	// published: the chain link of the next.
	cursor, prev uint64
	wakeCh       chan struct{}
	ready        bool // the stream exists
	down         bool // in an outage, already logged
}

func newPublisher(f *Fleet) (*publisher, error) {
	p := &publisher{f: f, wakeCh: make(chan struct{}, 1)}
	v, ok, err := f.opt.Store.GetState(keyCursor)
	if err != nil {
		return nil, fmt.Errorf("cannot read the fleet cursor: %w", err)
	}
	if ok {
		c, pr, found := strings.Cut(string(v), " ")
		p.cursor, err = strconv.ParseUint(c, 10, 64)
		if err == nil && found {
			p.prev, err = strconv.ParseUint(pr, 10, 64)
		}
		if err != nil || !found {
			return nil, fmt.Errorf("cannot parse the fleet cursor %q in the store", v)
		}
	}
	f.opt.Store.SetFollowed(p.cursor)
	return p, nil
}

func (p *publisher) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}

func (p *publisher) run() {
	f := p.f
	backoff := 100 * time.Millisecond
	retry := func(what string, err error) {
		f.m.publishErrors.Inc()
		if !p.down {
			p.down = true
			f.opt.Logf("fleet: cannot %s: %s; events wait in the local store and are published when NATS is back", what, err)
		}
		f.sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	for {
		if f.stopping() {
			p.drain()
			return
		}
		if n := f.opt.Store.TakeUnfollowedEvictions(); n > 0 {
			f.m.evicted.Add(int(n))
			f.opt.Logf("fleet: %d request logs were dropped by max_logs or log_retention before they were published; the fleet will not count them", n)
		}
		if !p.ready {
			if err := p.ensureStream(); err != nil {
				retry("create the stream", err)
				continue
			}
			p.ready = true
		}
		evs, err := f.opt.Store.Follow(p.cursor, pubWindow)
		if err != nil {
			f.opt.Logf("fleet: cannot read events to publish: %s", err)
			f.sleep(time.Second)
			continue
		}
		if len(evs) == 0 {
			t := time.NewTimer(f.opt.PollInterval)
			select {
			case <-f.stop:
			case <-p.wakeCh:
			case <-t.C:
			}
			t.Stop()
			continue
		}
		if err := p.publish(evs, time.Now().Add(ackTimeout)); err != nil {
			retry("publish events", err)
			continue
		}
		if p.down {
			p.down = false
			f.opt.Logf("fleet: publishing again")
		}
		backoff = 100 * time.Millisecond
	}
}

// drain publishes what the store holds beyond the cursor (the meter's last
// flush) for up to drainTimeout; what is left waits for the next start.
func (p *publisher) drain() {
	if !p.ready {
		return
	}
	end := time.Now().Add(drainTimeout)
	for time.Now().Before(end) {
		evs, err := p.f.opt.Store.Follow(p.cursor, pubWindow)
		if err != nil || len(evs) == 0 {
			return
		}
		if err := p.publish(evs, end); err != nil {
			p.f.opt.Logf("fleet: events after %d are published at the next start: %s", p.cursor, err)
			return
		}
	}
}

func (p *publisher) ensureStream() error {
	f := p.f
	c := f.opt.Config
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := f.js.CreateOrUpdateStream(ctx, streamConfig(c.Stream, c.Replicas, f.opt.Duplicates, f.opt.MaxAge))
	if err != nil {
		return fmt.Errorf("cannot create or update stream %q: %w", c.Stream, err)
	}
	return nil
}

// streamConfig is the configuration of the events stream.
func streamConfig(name string, replicas int, dups, maxAge time.Duration) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        name,
		Description: "infermeter usage events",
		Subjects:    []string{name + ".events.>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Replicas:    replicas,
		Duplicates:  dups,
		MaxAge:      maxAge,
	}
}

// publish sends evs (ascending IDs) and moves the cursor over the prefix
// that was acknowledged by deadline; it returns an error when some were not.
func (p *publisher) publish(evs []meter.Event, deadline time.Time) error {
	f := p.f
	type sent struct {
		id  uint64
		fut jetstream.PubAckFuture // nil: an event of the fleet, not republished
	}
	out := make([]sent, 0, len(evs))
	prev := p.prev
	var sendErr error
	for i := range evs {
		ev := &evs[i]
		if ev.Origin != "" {
			out = append(out, sent{id: ev.ID})
			continue
		}
		data, err := encodeEvent(ev, f.origin, prev)
		if err != nil {
			// Cannot happen for a stored event; skip it rather than stall.
			f.opt.Logf("fleet: %s", err)
			out = append(out, sent{id: ev.ID})
			continue
		}
		msg := nats.NewMsg(f.opt.Config.Stream + ".events." + ev.Org)
		msg.Data = data
		msg.Header.Set(jetstream.MsgIDHeader, f.origin+":"+strconv.FormatUint(ev.ID, 10))
		fut, err := f.js.PublishMsgAsync(msg)
		if err != nil {
			sendErr = err
			break
		}
		out = append(out, sent{id: ev.ID, fut: fut})
		prev = ev.ID
	}
	cursor, last := p.cursor, p.prev
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	n := 0
	var ackErr error
wait:
	for _, s := range out {
		if s.fut != nil {
			select {
			case <-s.fut.Ok():
				last = s.id
				n++
			case err := <-s.fut.Err():
				ackErr = err
				break wait
			case <-timer.C:
				ackErr = errors.New("no acknowledgement in time")
				break wait
			}
		}
		cursor = s.id
	}
	if cursor != p.cursor {
		v := strconv.FormatUint(cursor, 10) + " " + strconv.FormatUint(last, 10)
		if err := f.opt.Store.PutState(keyCursor, []byte(v)); err != nil {
			return fmt.Errorf("cannot store the fleet cursor: %w", err)
		}
		p.cursor, p.prev = cursor, last
		f.opt.Store.SetFollowed(cursor)
		f.m.published.Add(n)
	}
	if ackErr != nil {
		return fmt.Errorf("cannot publish event after %d: %w", p.cursor, ackErr)
	}
	if sendErr != nil {
		return fmt.Errorf("cannot publish event after %d: %w", p.cursor, sendErr)
	}
	return nil
}
