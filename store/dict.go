package store

import (
	"fmt"
	"strings"
	"sync"
)

// dict interns the strings that repeat across logs and cells (orgs, users,
// models, departments, billing modes, upstreams, tag sets) as uint32 ids.
// Id 0 is always "" and is not stored. Only the writer adds entries (under
// Store.wmu); readers look up under mu.
type dict struct {
	mu    sync.RWMutex
	ids   map[string]uint32
	names []string // names[id]; append-only, so a snapshot stays valid
}

func newDict() *dict {
	return &dict{ids: map[string]uint32{"": 0}, names: []string{""}}
}

// lookup returns the id of s, if s has one.
func (d *dict) lookup(s string) (uint32, bool) {
	d.mu.RLock()
	id, ok := d.ids[s]
	d.mu.RUnlock()
	return id, ok
}

// snapshot returns the names known now. Entries never change once added, so
// the caller may read the snapshot without locks.
func (d *dict) snapshot() []string {
	d.mu.RLock()
	n := d.names
	d.mu.RUnlock()
	return n
}

// len returns the number of entries, "" included.
func (d *dict) len() int {
	d.mu.RLock()
	n := len(d.names)
	d.mu.RUnlock()
	return n
}

// intern returns the id of s, adding it (and its store write to b) when it is
// new. Writer only.
func (d *dict) intern(s string, b *batch) (uint32, error) {
	if id, ok := d.lookup(s); ok {
		return id, nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.names) >= 1<<32-1 {
		return 0, fmt.Errorf("cannot intern %q: dictionary is full", s)
	}
	id := uint32(len(d.names))
	s = strings.Clone(s) // never keep the caller's larger buffer alive
	d.names = append(d.names, s)
	d.ids[s] = id
	b.set(dictKey(id), s)
	return id, nil
}

// add loads entry id = s from the store. It fails unless ids are dense.
func (d *dict) add(id uint32, s string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if int(id) != len(d.names) {
		return fmt.Errorf("%w: dictionary id %d found where %d was expected", errCodec, id, len(d.names))
	}
	d.names = append(d.names, s)
	d.ids[s] = id
	return nil
}

// truncate forgets the entries from n on (a failed commit). Writer only.
func (d *dict) truncate(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.names[n:] {
		delete(d.ids, s)
	}
	d.names = d.names[:n:n] // the next append must not overwrite a snapshot
}
