package meter

import (
	"sync"
	"testing"
	"time"
)

// TestFlushInIDOrder checks what the fleet publisher relies on: events
// recorded concurrently reach Flush in ascending ID order, batch after
// batch, and OnFlushed reports the highest ID of each stored batch.
func TestFlushInIDOrder(t *testing.T) {
	var (
		mu      sync.Mutex
		last    uint64
		count   int
		flushed uint64
		bad     string
	)
	m := New(Options{
		FlushInterval:   2 * time.Millisecond,
		HandoffInterval: time.Millisecond,
		Logf:            t.Logf,
		Flush: func(_ []CellRecord, events []Event) error {
			mu.Lock()
			defer mu.Unlock()
			for i := range events {
				if events[i].ID <= last && bad == "" {
					bad = "out of order"
				}
				last = events[i].ID
			}
			count += len(events)
			return nil
		},
		OnFlushed: func(id uint64) {
			mu.Lock()
			defer mu.Unlock()
			if id != last && bad == "" {
				bad = "OnFlushed is not the batch's highest ID"
			}
			flushed = id
		},
	})
	m.Start()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				ev := Event{Time: time.Now().UnixNano(), Org: "o"}
				for !m.Record(&ev) {
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if bad != "" || count != 16000 || flushed != last {
		t.Fatalf("%s: %d events flushed, OnFlushed %d, last %d", bad, count, flushed, last)
	}
}
