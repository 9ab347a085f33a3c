package fleet

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fetchBatch is the most messages fetched at once.
const fetchBatch = 256

// retryDelay is how long a message waits before it is delivered again when
// it cannot be applied yet (an earlier event of its origin is missing, or
// the meter's queue is full).
const retryDelay = 200 * time.Millisecond

// consumer applies the stream's events to the local meter, each once.
// handle runs on the consumer's goroutine, flushed on the meter's.
type consumer struct {
	f    *Fleet
	name string
	// owned by the consumer goroutine
	cons      jetstream.Consumer
	applied   map[string]uint64    // last event applied per origin, stored or not
	gaps      map[string]time.Time // when a missing link of an origin was first seen
	lastLocal uint64               // local ID of the last event recorded
	down      bool
	// mu guards the fields below, shared with flushed.
	mu     sync.Mutex
	stored map[string]uint64 // marks: last event stored per origin
	acks   []pendingAck
}

// pendingAck is a message to acknowledge once the local event local is
// stored.
type pendingAck struct {
	local    uint64
	origin   string
	originID uint64
	msg      jetstream.Msg
}

func newConsumer(f *Fleet) (*consumer, error) {
	marks, err := loadMarks(f.opt.Store)
	if err != nil {
		return nil, err
	}
	applied := make(map[string]uint64, len(marks))
	for k, v := range marks {
		applied[k] = v
	}
	// One durable consumer per instance and store: every aggregator gets
	// every event, and an aggregator that starts over with an empty store
	// reads the stream from its start.
	name := consumerName(f.instance + "_" + strings.TrimPrefix(f.origin, f.instance+"/"))
	return &consumer{f: f, name: name, applied: applied, gaps: map[string]time.Time{}, stored: marks}, nil
}

// consumerName maps s to a valid JetStream consumer name.
func consumerName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}

func (c *consumer) run() {
	f := c.f
	backoff := 100 * time.Millisecond
	fail := func(what string, err error) bool {
		if !c.down {
			c.down = true
			f.opt.Logf("fleet: cannot %s: %s; retrying", what, err)
		}
		ok := f.sleep(backoff)
		backoff = min(2*backoff, 5*time.Second)
		return ok
	}
	for !f.stopping() {
		if c.cons == nil {
			if err := c.ensure(); err != nil {
				if !fail("create the consumer", err) {
					return
				}
				continue
			}
		}
		batch, err := c.cons.Fetch(fetchBatch, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			c.forget(err)
			if !fail("fetch events", err) {
				return
			}
			continue
		}
		n := 0
		for msg := range batch.Messages() {
			c.handle(msg)
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			c.forget(err)
			if !fail("fetch events", err) {
				return
			}
			continue
		}
		if c.down {
			c.down = false
			f.opt.Logf("fleet: consuming again")
		}
		backoff = 100 * time.Millisecond
	}
}

// forget drops the consumer handle when err says the consumer is gone
// (deleted by an operator or after InactiveThreshold), so the next round
// creates it again.
func (c *consumer) forget(err error) {
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrConsumerDeleted) {
		c.cons = nil
	}
}

func (c *consumer) ensure() error {
	f := c.f
	s := f.opt.Config.Stream
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := f.js.CreateOrUpdateStream(ctx, streamConfig(s, f.opt.Config.Replicas, f.opt.Duplicates, f.opt.MaxAge)); err != nil {
		return fmt.Errorf("cannot create or update stream %q: %w", s, err)
	}
	cons, err := f.js.CreateOrUpdateConsumer(ctx, s, jetstream.ConsumerConfig{
		Durable:           c.name,
		Description:       "infermeter aggregator " + f.instance,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckExplicitPolicy,
		AckWait:           f.opt.AckWait,
		MaxDeliver:        -1,
		MaxAckPending:     64 * fetchBatch,
		FilterSubject:     s + ".events.>",
		InactiveThreshold: f.opt.MaxAge,
	})
	if err != nil {
		return fmt.Errorf("cannot create or update consumer %q of stream %q: %w", c.name, s, err)
	}
	c.cons = cons
	return nil
}

// handle applies one message, or leaves it for later.
func (c *consumer) handle(msg jetstream.Msg) {
	f := c.f
	ev, prev, err := decodeEvent(msg.Data())
	if err != nil {
		f.m.badMessages.Inc()
		f.opt.Logf("fleet: dropping message %s: %s", msg.Subject(), err)
		_ = msg.Term()
		return
	}
	if ev.Origin == f.origin {
		// Role both: this instance metered the event itself.
		_ = msg.Ack()
		return
	}
	applied := c.applied[ev.Origin]
	if ev.OriginID <= applied {
		c.mu.Lock()
		stored := c.stored[ev.Origin]
		if ev.OriginID > stored {
			// A redelivery of an event recorded but not stored yet:
			// acknowledge it with the events recorded so far.
			c.acks = append(c.acks, pendingAck{local: c.lastLocal, origin: ev.Origin, originID: ev.OriginID, msg: msg})
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		f.m.duplicates.Inc()
		_ = msg.Ack()
		return
	}
	if prev > applied {
		// An earlier event of the origin has not been applied: wait for
		// it, up to GapTimeout.
		first, ok := c.gaps[ev.Origin]
		if !ok {
			first = time.Now()
			c.gaps[ev.Origin] = first
		}
		if time.Since(first) < f.opt.GapTimeout {
			_ = msg.NakWithDelay(retryDelay)
			return
		}
		f.m.gapsSkipped.Inc()
		f.opt.Logf("fleet: events %d..%d of %s never arrived in %s; applying the later ones without them", applied, prev, ev.Origin, f.opt.GapTimeout)
	}
	delete(c.gaps, ev.Origin)
	if !f.opt.Meter.Record(&ev) {
		_ = msg.NakWithDelay(retryDelay)
		return
	}
	c.applied[ev.Origin] = ev.OriginID
	c.lastLocal = ev.ID
	f.m.consumed.Inc()
	c.mu.Lock()
	c.acks = append(c.acks, pendingAck{local: ev.ID, origin: ev.Origin, originID: ev.OriginID, msg: msg})
	c.mu.Unlock()
}

// flushed acknowledges the messages whose events are stored.
func (c *consumer) flushed(lastID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := 0
	for _, a := range c.acks {
		if a.local > lastID {
			c.acks[k] = a
			k++
			continue
		}
		if a.originID > c.stored[a.origin] {
			c.stored[a.origin] = a.originID
		}
		_ = a.msg.Ack()
	}
	clear(c.acks[k:])
	c.acks = c.acks[:k]
}
