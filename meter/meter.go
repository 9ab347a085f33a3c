package meter

import (
	"fmt"
	"log"
	"math/bits"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/infermeter/infermeter/meter/usage"
)

// FlushFunc persists one batch: the cells that changed since the previous
// successful flush (with their full values) and the new events. It is called
// from the Meter's own goroutine only, never concurrently with itself.
type FlushFunc func(cells []CellRecord, events []Event) error

// Options configure a Meter.
type Options struct {
	// FlushInterval is the batch period (default 1s).
	FlushInterval time.Duration
	// QueueSize bounds the hand-off queue (default 16384 events, about 7 MB).
	QueueSize int
	// HandoffInterval is how often the aggregator takes the queued events
	// (default 5ms): the most the live feed and the analytics lag behind.
	HandoffInterval time.Duration
	// MaxPending bounds the events kept while flushes fail (default 1M);
	// beyond it the oldest unflushed request logs are dropped and counted.
	// Cells are never dropped: they are rewritten whole on the next flush.
	MaxPending int
	// Flush persists batches; nil keeps everything in memory only.
	Flush FlushFunc
	// Location returns the timezone of an org, for the hour of its cells;
	// nil means UTC for every org.
	Location func(org string) *time.Location
	// OnEvent, when set, is called from the Meter's goroutine after an event
	// is aggregated (for the live feed and alerts). It must not block.
	OnEvent func(*Event)
	// OnFlushed, when set, is called from the Meter's goroutine after each
	// successful Flush that stored events, with the highest event ID of the
	// batch. It must not block.
	OnFlushed func(lastID uint64)
	// Metrics is the set that receives the meter's metrics; nil creates one.
	Metrics *metrics.Set
	// Logf receives operational messages; nil uses the standard logger.
	Logf func(format string, args ...any)
}

// Meter aggregates events and persists them in batches. It is safe for
// concurrent use: Record from any goroutine, readers through Scan and Cells.
type Meter struct {
	opt Options
	// queue holds the events handed over and not yet aggregated; the
	// aggregator takes it whole every HandoffInterval (so Record never
	// wakes a goroutine: a wake-up per request costs more than the rest of
	// the metering on a busy machine).
	qmu   sync.Mutex
	queue []Event
	spare []Event
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	lastID atomic.Uint64

	mu      sync.RWMutex
	orgs    map[string]*orgIndex // the cells of each org (see index.go)
	names   names                // the strings of the cells' keys
	hourly  int                  // hourly cells in all orgs
	lastOrg *orgIndex            // the org of the last event, to skip a lookup

	// owned by the run goroutine; changed under mu
	dirtyOrgs []*orgIndex // the orgs with dirty cells
	ndirty    int         // dirty cells in all orgs
	pending   []Event
	repeats   repeats

	m meterMetrics
}

type meterMetrics struct {
	set          *metrics.Set
	dropped      *metrics.Counter
	recorded     *metrics.Counter
	flushes      *metrics.Counter
	flushErrors  *metrics.Counter
	flushedEvts  *metrics.Counter
	droppedLogs  *metrics.Counter
	flushSeconds *metrics.Histogram
}

// New builds a Meter. Call Load to restore cells, then Start.
func New(opt Options) *Meter {
	if opt.FlushInterval <= 0 {
		opt.FlushInterval = time.Second
	}
	if opt.HandoffInterval <= 0 {
		opt.HandoffInterval = 5 * time.Millisecond
	}
	if opt.QueueSize <= 0 {
		opt.QueueSize = 1 << 14
	}
	if opt.MaxPending <= 0 {
		opt.MaxPending = 1 << 20
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.Metrics == nil {
		opt.Metrics = metrics.NewSet()
	}
	s := opt.Metrics
	m := &Meter{
		opt:  opt,
		stop: make(chan struct{}),
		done: make(chan struct{}),
		orgs: make(map[string]*orgIndex),
		m: meterMetrics{
			set:          s,
			dropped:      s.NewCounter("infermeter_meter_dropped_events_total"),
			recorded:     s.NewCounter("infermeter_meter_recorded_events_total"),
			flushes:      s.NewCounter("infermeter_store_flushes_total"),
			flushErrors:  s.NewCounter("infermeter_store_flush_errors_total"),
			flushedEvts:  s.NewCounter("infermeter_store_flushed_events_total"),
			droppedLogs:  s.NewCounter("infermeter_store_dropped_logs_total"),
			flushSeconds: s.NewHistogram("infermeter_store_flush_duration_seconds"),
		},
	}
	m.names.init()
	s.NewGauge("infermeter_meter_queue_length", func() float64 { return float64(m.QueueLen()) })
	s.NewGauge("infermeter_meter_cells", func() float64 {
		m.mu.RLock()
		defer m.mu.RUnlock()
		return float64(m.hourly)
	})
	return m
}

// NextID returns a new event ID: the time t (unix nanoseconds), bumped so
// that IDs strictly increase. Safe for concurrent use.
func (m *Meter) NextID(t int64) uint64 {
	for {
		last := m.lastID.Load()
		id := uint64(t)
		if id <= last {
			id = last + 1
		}
		if m.lastID.CompareAndSwap(last, id) {
			return id
		}
	}
}

// SeedID makes every later ID greater than id (call it with the newest stored
// ID at start, so IDs keep growing across restarts with a clock step back).
func (m *Meter) SeedID(id uint64) {
	for {
		last := m.lastID.Load()
		if id <= last || m.lastID.CompareAndSwap(last, id) {
			return
		}
	}
}

// Record hands ev to the aggregator without blocking. It assigns ev.ID when
// it is zero, under the queue's lock, so that events with assigned IDs reach
// Flush in ID order (a follower of the store, such as the fleet publisher,
// relies on it). It reports false when the queue was full and the event
// dropped (ev.ID is then left as it was).
func (m *Meter) Record(ev *Event) bool {
	m.qmu.Lock()
	if len(m.queue) >= m.opt.QueueSize {
		m.qmu.Unlock()
		m.m.dropped.Inc()
		return false
	}
	if ev.ID == 0 {
		ev.ID = m.NextID(ev.Time)
	}
	m.queue = append(m.queue, *ev)
	m.qmu.Unlock()
	return true
}

// Load adds a stored cell to the in-memory aggregates. Call it before Start.
func (m *Meter) Load(k CellKey, c Cell) {
	m.mu.Lock()
	defer m.mu.Unlock()
	x := m.orgOf(k.Org)
	s := x.at(m.slotFor(x, m.compact(&k)))
	s.cell.merge(&c)
	if s.day != noSlot {
		x.at(s.day).cell.merge(&c)
	}
}

// Start starts the aggregator goroutine.
func (m *Meter) Start() { go m.run() }

// Close stops accepting work, aggregates what is queued, flushes and waits.
// It returns the error of the final flush.
func (m *Meter) Close() error {
	m.once.Do(func() { close(m.stop) })
	<-m.done
	if len(m.pending) > 0 || m.ndirty > 0 {
		return fmt.Errorf("cannot flush %d events and %d cells at close", len(m.pending), m.ndirty)
	}
	return nil
}

// Metrics returns the metric set the meter writes to.
func (m *Meter) Metrics() *metrics.Set { return m.opt.Metrics }

// QueueLen returns the number of events waiting for the aggregator.
func (m *Meter) QueueLen() int {
	m.qmu.Lock()
	defer m.qmu.Unlock()
	return len(m.queue)
}

// take aggregates the events handed over since the last call.
func (m *Meter) take() {
	m.qmu.Lock()
	batch := m.queue
	m.queue = m.spare[:0]
	m.qmu.Unlock()
	if len(batch) > 0 {
		m.aggregate(batch)
	}
	clear(batch) // drop the strings and captures the events point to
	m.spare = batch[:0]
}

func (m *Meter) run() {
	defer close(m.done)
	t := time.NewTicker(m.opt.FlushInterval)
	defer t.Stop()
	h := time.NewTicker(m.opt.HandoffInterval)
	defer h.Stop()
	for {
		select {
		case <-h.C:
			m.take()
		case <-t.C:
			m.take()
			m.flush()
		case <-m.stop:
			m.take()
			m.flush()
			return
		}
	}
}

func (m *Meter) aggregate(batch []Event) {
	m.mu.Lock()
	for i := range batch {
		ev := &batch[i]
		ev.Repeat = m.repeats.mark(ev)
		x := m.orgOf(ev.Org)
		i := m.slotFor(x, m.keyOfEvent(x, ev))
		s := x.at(i)
		s.cell.Add(ev)
		if s.day != noSlot {
			x.at(s.day).cell.Add(ev)
		}
		m.markDirty(x, i)
	}
	m.mu.Unlock()
	for i := range batch {
		if len(m.pending) >= m.opt.MaxPending {
			// Flushes are failing: keep the newest logs, count the loss.
			n := len(m.pending) / 10
			m.pending = append(m.pending[:0], m.pending[n:]...)
			m.m.droppedLogs.Add(n)
		}
		m.pending = append(m.pending, batch[i])
		m.m.recorded.Inc()
		if m.opt.OnEvent != nil {
			m.opt.OnEvent(&m.pending[len(m.pending)-1])
		}
	}
}

// keyOfEvent returns the key of the hourly cell of ev in x, its org. The
// caller holds the write lock.
func (m *Meter) keyOfEvent(x *orgIndex, ev *Event) ckey {
	k := KeyOf(ev, m.location(x.org))
	return m.compact(&k)
}

// KeyOf returns the key of the hourly cell that aggregates ev, for an org
// in loc.
func KeyOf(ev *Event, loc *time.Location) CellKey {
	return CellKey{
		Org:         ev.Org,
		User:        ev.User,
		Model:       ev.Model,
		Department:  ev.Department,
		BillingMode: ev.BillingMode,
		Tags:        ev.Tags,
		Category:    ev.Category,
		ErrorType:   ev.ErrorType,
		Hour:        HourStart(ev.Time, loc),
	}
}

func (m *Meter) flush() {
	if m.opt.Flush == nil {
		m.pending = m.pending[:0]
		m.cleanDirty()
		return
	}
	if len(m.pending) == 0 && m.ndirty == 0 {
		return
	}
	cells := make([]CellRecord, 0, m.ndirty)
	m.mu.RLock()
	for _, x := range m.dirtyOrgs {
		e := m.expander(x.org)
		for _, i := range x.dirty {
			s := x.at(i)
			cells = append(cells, CellRecord{Key: *e.expand(&s.key), Cell: s.cell})
		}
	}
	m.mu.RUnlock()
	start := time.Now()
	err := m.opt.Flush(cells, m.pending)
	m.m.flushSeconds.UpdateDuration(start)
	m.m.flushes.Inc()
	if err != nil {
		m.m.flushErrors.Inc()
		m.opt.Logf("meter: cannot flush %d events and %d cells (kept for the next try): %s", len(m.pending), len(cells), err)
		return
	}
	m.m.flushedEvts.Add(len(m.pending))
	if m.opt.OnFlushed != nil && len(m.pending) > 0 {
		var last uint64
		for i := range m.pending {
			last = max(last, m.pending[i].ID)
		}
		m.opt.OnFlushed(last)
	}
	clear(m.pending)
	m.pending = m.pending[:0]
	m.cleanDirty()
}

// cleanDirty marks every cell clean after a successful flush.
func (m *Meter) cleanDirty() {
	if m.ndirty == 0 {
		return
	}
	m.mu.Lock()
	for _, x := range m.dirtyOrgs {
		for _, i := range x.dirty {
			x.at(i).dirty = false
		}
		x.dirty = x.dirty[:0]
	}
	clear(m.dirtyOrgs)
	m.dirtyOrgs = m.dirtyOrgs[:0]
	m.ndirty = 0
	m.mu.Unlock()
}

// HourStart returns the start of the hour holding t (unix nanoseconds) in
// loc, as unix seconds. Hours follow the zone's offset at that instant, so day
// boundaries in loc fall on hour starts even for half-hour offsets and DST.
func HourStart(t int64, loc *time.Location) int64 {
	sec := t / 1e9
	if t < 0 && t%1e9 != 0 {
		sec--
	}
	_, off := time.Unix(sec, 0).In(loc).Zone()
	local := sec + int64(off)
	h := local - mod(local, 3600)
	return h - int64(off)
}

func mod(a, b int64) int64 {
	r := a % b
	if r < 0 {
		r += b
	}
	return r
}

// LatencyBucket returns the histogram bucket of a latency: bucket 0 holds
// latencies below 100µs, bucket i below 100µs·2^i, the last one the rest.
func LatencyBucket(micros int64) int {
	if micros < 100 {
		return 0
	}
	b := bits.Len64(uint64(micros / 100))
	if b >= LatencyBuckets {
		return LatencyBuckets - 1
	}
	return b
}

// LatencyBucketUpper returns the upper bound of bucket i in microseconds.
func LatencyBucketUpper(i int) int64 { return 100 << uint(i) }

// Add adds one event to the cell, the way the meter aggregates it.
func (c *Cell) Add(ev *Event) {
	c.Requests++
	if ev.ErrorType != usage.ErrNone {
		c.Errors++
	}
	if ev.Stream {
		c.Streams++
	}
	if !ev.Priced && ev.Usage.Reported() {
		c.Unpriced++
	}
	if ev.Usage.Source == usage.SourceEstimated {
		c.Estimated++
	}
	u := &ev.Usage
	c.InputTokens += u.Input.Value()
	c.OutputTokens += u.Output.Value()
	c.CachedTokens += u.CacheRead.Value()
	c.CacheWrite += u.CacheWrite.Value()
	c.Reasoning += u.Reasoning.Value()
	c.CostNano += ev.CostNano
	c.LatencyMicros += ev.LatencyMicros
	if ev.TTFTMicros > 0 {
		c.TTFTMicros += ev.TTFTMicros
		c.TTFTCount++
	}
	if ev.Repeat {
		c.Repeated++
		c.RepeatedCostNano += ev.CostNano
	}
	c.LatencyBuckets[LatencyBucket(ev.LatencyMicros)]++
}

func (c *Cell) merge(o *Cell) {
	c.Requests += o.Requests
	c.Errors += o.Errors
	c.Streams += o.Streams
	c.Unpriced += o.Unpriced
	c.Estimated += o.Estimated
	c.InputTokens += o.InputTokens
	c.OutputTokens += o.OutputTokens
	c.CachedTokens += o.CachedTokens
	c.CacheWrite += o.CacheWrite
	c.Reasoning += o.Reasoning
	c.CostNano += o.CostNano
	c.LatencyMicros += o.LatencyMicros
	c.TTFTMicros += o.TTFTMicros
	c.TTFTCount += o.TTFTCount
	c.Repeated += o.Repeated
	c.RepeatedCostNano += o.RepeatedCostNano
	for i := range c.LatencyBuckets {
		c.LatencyBuckets[i] += o.LatencyBuckets[i]
	}
}

// Merge adds o's sums into c.
func (c *Cell) Merge(o *Cell) { c.merge(o) }

// LatencyQuantile estimates the q-quantile (0..1) of latency in
// microseconds from the histogram, interpolating inside the bucket.
func (c *Cell) LatencyQuantile(q float64) int64 {
	var total uint64
	for _, n := range c.LatencyBuckets {
		total += uint64(n)
	}
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, n := range c.LatencyBuckets {
		if n == 0 {
			continue
		}
		if seen+float64(n) >= rank {
			lo := int64(0)
			if i > 0 {
				lo = LatencyBucketUpper(i - 1)
			}
			hi := LatencyBucketUpper(i)
			frac := (rank - seen) / float64(n)
			return lo + int64(frac*float64(hi-lo))
		}
		seen += float64(n)
	}
	return LatencyBucketUpper(LatencyBuckets - 1)
}
