package fleet

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/infermeter/infermeter/config"
	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/budget"
	"github.com/infermeter/infermeter/store"
)

// State keys in the local store.
const (
	// keyEpoch holds the epoch of this store: a random id made when the
	// store first joined a fleet, so that an instance that restarts with an
	// empty data_dir is a new origin.
	keyEpoch = "fleet/epoch"
	// keyCursor holds the publisher's progress: "<cursor> <prev>", the ID
	// of the last event followed and of the last event published.
	keyCursor = "fleet/cursor"
	// markPrefix + origin holds the ID of the last event of origin applied
	// to this store (decimal), written with the events (see Marks).
	markPrefix = "fleet/mark/"
)

// Roles of config.Fleet.Role.
const (
	RoleSidecar    = "sidecar"
	RoleAggregator = "aggregator"
	RoleBoth       = "both"
)

// Options configure a Fleet.
type Options struct {
	// Config is the fleet section of the configuration; NATSURL must be set.
	Config config.Fleet
	// Store is the local store: the publisher follows it, the consumer's
	// marks live in it.
	Store *store.Store
	// Meter receives the consumed events (roles aggregator and both).
	Meter *meter.Meter
	// Budget is the ledger whose spend is shared with the fleet (roles
	// sidecar and both); nil shares nothing.
	Budget *budget.Ledger
	// Metrics receives the fleet's metrics; nil creates a set.
	Metrics *metrics.Set
	// Logf receives operational messages; nil discards them.
	Logf func(format string, args ...any)
	// Now is the clock of the spend sync; nil is time.Now.
	Now func() time.Time

	// Tuning; zero values take the defaults, tests shorten them.

	// PollInterval is how often the publisher looks for new events when it
	// found none (default 100ms; a flush also wakes it).
	PollInterval time.Duration
	// SyncInterval is the period of the spend sync (default 500ms).
	SyncInterval time.Duration
	// AckWait is the consumer's ack wait (default 30s).
	AckWait time.Duration
	// GapTimeout is how long the consumer waits for a missing event of an
	// origin's chain before it gives up on it and applies what follows
	// (default 10m).
	GapTimeout time.Duration
	// Duplicates is the stream's de-duplication window (default 2m).
	Duplicates time.Duration
	// MaxAge bounds how long the stream keeps events (default 7 days): an
	// aggregator down for longer misses the older ones.
	MaxAge time.Duration
}

// Fleet is this instance's part of a fleet: a NATS connection and, by role,
// the publisher, the consumer and the spend sync. Build it with New, then
// Start; Close stops every goroutine and waits for them.
type Fleet struct {
	opt      Options
	instance string
	origin   string
	nc       *nats.Conn
	js       jetstream.JetStream
	pub      *publisher
	con      *consumer
	spend    *spendSync
	stop     chan struct{}
	wg       sync.WaitGroup
	closed   sync.Once
	m        fleetMetrics
}

type fleetMetrics struct {
	published, publishErrors, evicted *metrics.Counter
	consumed, duplicates, gapsSkipped *metrics.Counter
	badMessages, spendSyncErrors      *metrics.Counter
}

// New builds the fleet part of an instance; it connects nothing yet.
func New(opt Options) (*Fleet, error) {
	c := opt.Config
	if c.NATSURL == "" {
		return nil, fmt.Errorf("BUG: fleet.New without fleet.nats_url")
	}
	if opt.Logf == nil {
		opt.Logf = func(string, ...any) {}
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	setDefault(&opt.PollInterval, 100*time.Millisecond)
	setDefault(&opt.SyncInterval, 500*time.Millisecond)
	setDefault(&opt.AckWait, 30*time.Second)
	setDefault(&opt.GapTimeout, 10*time.Minute)
	setDefault(&opt.Duplicates, 2*time.Minute)
	setDefault(&opt.MaxAge, 7*24*time.Hour)
	if c.Stream == "" {
		c.Stream = "infermeter"
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	if c.Role == "" {
		c.Role = RoleSidecar
	}
	opt.Config = c
	f := &Fleet{opt: opt, instance: c.InstanceID, stop: make(chan struct{})}
	if f.instance == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("cannot default fleet.instance_id to the host name: %w", err)
		}
		f.instance = h
	}
	epoch, err := loadEpoch(opt.Store)
	if err != nil {
		return nil, err
	}
	f.origin = f.instance + "/" + epoch
	s := opt.Metrics
	f.m = fleetMetrics{
		published:       s.NewCounter("infermeter_fleet_published_events_total"),
		publishErrors:   s.NewCounter("infermeter_fleet_publish_errors_total"),
		evicted:         s.NewCounter("infermeter_fleet_unpublished_evicted_total"),
		consumed:        s.NewCounter("infermeter_fleet_consumed_events_total"),
		duplicates:      s.NewCounter("infermeter_fleet_duplicate_events_total"),
		gapsSkipped:     s.NewCounter("infermeter_fleet_gaps_skipped_total"),
		badMessages:     s.NewCounter("infermeter_fleet_bad_messages_total"),
		spendSyncErrors: s.NewCounter("infermeter_fleet_spend_sync_errors_total"),
	}
	if c.Role == RoleSidecar || c.Role == RoleBoth {
		f.pub, err = newPublisher(f)
		if err != nil {
			return nil, err
		}
		if opt.Budget != nil {
			f.spend = newSpendSync(f)
		}
	}
	if c.Role == RoleAggregator || c.Role == RoleBoth {
		f.con, err = newConsumer(f)
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func setDefault(d *time.Duration, v time.Duration) {
	if *d <= 0 {
		*d = v
	}
}

// loadEpoch returns the store's epoch, making it on first use.
func loadEpoch(st *store.Store) (string, error) {
	v, ok, err := st.GetState(keyEpoch)
	if err != nil {
		return "", fmt.Errorf("cannot read the fleet epoch: %w", err)
	}
	if ok && len(v) > 0 {
		return string(v), nil
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	e := hex.EncodeToString(b[:])
	if err := st.PutState(keyEpoch, []byte(e)); err != nil {
		return "", fmt.Errorf("cannot store the fleet epoch: %w", err)
	}
	return e, nil
}

// Origin returns the name of this instance's event log in the fleet,
// "<instance_id>/<epoch>".
func (f *Fleet) Origin() string { return f.origin }

// Start connects to NATS (in the background: an unreachable server is
// retried forever) and starts the parts of the instance's role.
func (f *Fleet) Start() error {
	c := f.opt.Config
	nc, err := nats.Connect(c.NATSURL,
		nats.Name("infermeter "+f.instance),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250*time.Millisecond),
		// No reconnect buffer: a publish while disconnected fails at once
		// instead of being sent later, out of order with the retries.
		nats.ReconnectBufSize(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				f.opt.Logf("fleet: disconnected from NATS at %s: %s (events wait in the local store)", c.NATSURL, err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			f.opt.Logf("fleet: reconnected to NATS at %s", nc.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return fmt.Errorf("cannot connect to fleet.nats_url %q: %w", c.NATSURL, err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4*pubWindow), jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		nc.Close()
		return fmt.Errorf("cannot use JetStream at %q: %w", c.NATSURL, err)
	}
	f.nc, f.js = nc, js
	for _, run := range []func(){f.runPublisher, f.runConsumer, f.runSpend} {
		f.wg.Add(1)
		go func() {
			defer f.wg.Done()
			run()
		}()
	}
	f.opt.Logf("fleet: instance %q (origin %s), role %s, stream %q on %s", f.instance, f.origin, c.Role, c.Stream, c.NATSURL)
	return nil
}

func (f *Fleet) runPublisher() {
	if f.pub != nil {
		f.pub.run()
	}
}

func (f *Fleet) runConsumer() {
	if f.con != nil {
		f.con.run()
	}
}

func (f *Fleet) runSpend() {
	if f.spend != nil {
		f.spend.run()
	}
}

// Close stops the consumer and the spend sync, lets the publisher publish
// what the store holds (for up to 5s: call Close after the meter's Close, so
// that the events of its last flush leave with it), waits for them and
// closes the connection. Events consumed and not yet acknowledged are
// delivered again after a restart and dropped there if already stored.
func (f *Fleet) Close() error {
	f.closed.Do(func() {
		close(f.stop)
		f.wg.Wait()
		if f.nc != nil {
			if f.js != nil {
				f.js.CleanupPublisher()
			}
			f.nc.Close()
		}
	})
	return nil
}

// Flushed tells the fleet that the meter stored every event up to lastID
// (meter.Options.OnFlushed): the consumer acknowledges the messages of the
// stored events, the publisher looks for new ones. It does not block.
func (f *Fleet) Flushed(lastID uint64) {
	if f.con != nil {
		f.con.flushed(lastID)
	}
	if f.pub != nil {
		f.pub.wake()
	}
}

// Marks returns the state values to store with events (see
// store.ApplyWithState): for each origin of the events, its mark, the
// highest OriginID among them. It returns nil when no event came from the
// fleet, so that a batch of local events is stored exactly as without
// fleet mode.
func Marks(events []meter.Event) map[string][]byte {
	var high map[string]uint64
	for i := range events {
		e := &events[i]
		if e.Origin == "" {
			continue
		}
		if high == nil {
			high = map[string]uint64{}
		}
		high[e.Origin] = max(high[e.Origin], e.OriginID)
	}
	if high == nil {
		return nil
	}
	out := make(map[string][]byte, len(high))
	for o, id := range high {
		out[markPrefix+o] = strconv.AppendUint(nil, id, 10)
	}
	return out
}

// loadMarks returns the marks stored in st.
func loadMarks(st *store.Store) (map[string]uint64, error) {
	marks := map[string]uint64{}
	var bad error
	err := st.ScanState(markPrefix, func(k string, v []byte) bool {
		id, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			bad = fmt.Errorf("cannot parse fleet mark %q: %w", k, err)
			return false
		}
		marks[strings.TrimPrefix(k, markPrefix)] = id
		return true
	})
	if err == nil {
		err = bad
	}
	return marks, err
}

// sleep waits d or until Close; it reports false on Close.
func (f *Fleet) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-f.stop:
		return false
	}
}

// stopping reports whether Close was called.
func (f *Fleet) stopping() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}
