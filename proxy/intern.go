package proxy

import (
	"sync"
	"sync/atomic"
)

// table maps byte keys to values with lock-free reads: readers load an
// immutable map; a miss copies the map under a mutex. It holds at most max
// entries; past that, create is called on every miss and nothing is cached, so
// hostile input cannot grow memory.
type table[V any] struct {
	mu  sync.Mutex
	m   atomic.Pointer[map[string]V]
	max int
}

func newTable[V any](max int) *table[V] {
	t := &table[V]{max: max}
	m := map[string]V{}
	t.m.Store(&m)
	return t
}

// get returns the value of key, creating it with create on a miss. The hit path
// does not allocate.
func (t *table[V]) get(key []byte, create func(key string) V) V {
	if v, ok := (*t.m.Load())[string(key)]; ok {
		return v
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	old := *t.m.Load()
	if v, ok := old[string(key)]; ok {
		return v
	}
	k := string(key)
	v := create(k)
	if len(old) >= t.max {
		return v
	}
	n := cloneMap(old)
	n[k] = v
	t.m.Store(&n)
	return v
}

func cloneMap[V any](old map[string]V) map[string]V {
	n := make(map[string]V, len(old)+1)
	for k, v := range old {
		n[k] = v
	}
	return n
}
