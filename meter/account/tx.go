package account

import (
	"fmt"
	"slices"
)

// Tx is one write transaction on a Directory, given to the function passed
// to Write. It reads its own writes; readers of the Directory see none of
// them until that function returns nil, and then all of them at once. A Tx
// must not be kept or used after the function returns, nor shared between
// goroutines.
type Tx struct {
	s *snapshot
}

// Write runs fn in a transaction and publishes its changes when fn returns
// nil; when fn returns an error nothing changes and Write returns that
// error. Writers are serialised (fn may do slow work, such as persisting the
// change, without holding up readers, which stay lock-free); fn must not
// call the Directory's write methods.
func (d *Directory) Write(fn func(tx *Tx) error) error {
	return d.update(func(s *snapshot) error { return fn(&Tx{s: s}) })
}

// Org returns the org with id.
func (tx *Tx) Org(id string) (*Org, bool) {
	o, ok := tx.s.orgs[id]
	return o, ok
}

// Member returns member id of org.
func (tx *Tx) Member(org, id string) (*Member, bool) {
	m, ok := tx.s.members[org][id]
	return m, ok
}

// Members returns the members of org, sorted by id.
func (tx *Tx) Members(org string) []*Member {
	ms := tx.s.members[org]
	out := make([]*Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Member) int { return cmpString(a.ID, b.ID) })
	return out
}

// Admins returns how many admins org has.
func (tx *Tx) Admins(org string) int {
	n := 0
	for _, m := range tx.s.members[org] {
		if m.IsAdmin() {
			n++
		}
	}
	return n
}

// KeyInUse reports whether a member (of any org) has the key of hash h.
func (tx *Tx) KeyInUse(h [32]byte) bool {
	_, ok := tx.s.byHash[h]
	return ok
}

// PutMember adds or replaces a member (matched by org and id); the replaced
// member's key is refused from then on. The org must exist and the key hash
// must not belong to another member (ErrNotFound, ErrExists).
func (tx *Tx) PutMember(m Member) error {
	s := tx.s
	if _, ok := s.orgs[m.Org]; !ok {
		return fmt.Errorf("cannot add member %q: org %q: %w", m.ID, m.Org, ErrNotFound)
	}
	if other, ok := s.byHash[m.KeyHash]; ok && (other.Org != m.Org || other.ID != m.ID) {
		return fmt.Errorf("cannot add member %q: key of another member: %w", m.ID, ErrExists)
	}
	if old, ok := s.members[m.Org][m.ID]; ok {
		delete(s.byHash, old.KeyHash)
	}
	mm := m
	s.members[m.Org][m.ID] = &mm
	s.byHash[m.KeyHash] = &mm
	return nil
}

// DeleteMember removes a member (ErrNotFound when there is none); its key
// is refused from then on.
func (tx *Tx) DeleteMember(org, id string) error {
	s := tx.s
	old, ok := s.members[org][id]
	if !ok {
		return fmt.Errorf("cannot delete member %q of org %q: %w", id, org, ErrNotFound)
	}
	delete(s.byHash, old.KeyHash)
	delete(s.members[org], id)
	return nil
}
