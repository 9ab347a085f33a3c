// Package account is the directory of organisations and their members: who
// may use the proxy and the API, with which role, department and limits.
//
// Keys are never kept in clear: a member is found by the SHA-256 of its key,
// and the stored hash is compared in constant time. Reads are lock-free (an
// immutable snapshot behind an atomic pointer); writes copy the snapshot
// and publish it whole (Write), so a revoked or rotated key is refused by
// every reader from the moment the write returns.
package account

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Roles and billing modes.
const (
	RoleAdmin  = "admin"
	RoleMember = "member"

	OrgPays    = "org_pays"
	MemberPays = "member_pays"
)

// Errors returned by the directory.
var (
	// ErrNotFound: no such org or member.
	ErrNotFound = errors.New("not found")
	// ErrExists: the member (or key) exists already.
	ErrExists = errors.New("already exists")
)

// Org is an organisation. Values are immutable once published.
type Org struct {
	ID   string
	Name string
	// Location is the org's timezone (never nil).
	Location *time.Location
	// MonthlyBudgetNano is the org's monthly budget in nano-dollars; 0 = none.
	MonthlyBudgetNano int64
}

// Member is one member of an org. Values are immutable once published.
type Member struct {
	ID          string
	Org         string
	Email       string
	Department  string
	BillingMode string
	Role        string
	// MonthlyLimitNano is the member's hard monthly limit; 0 = none.
	MonthlyLimitNano int64
	// KeyHash is the SHA-256 of the member's key.
	KeyHash [32]byte
	// CreatedAt is when the member was created (zero for config members).
	CreatedAt time.Time
	// Source is where the member was declared: SourceConfig (the zero
	// value) or SourceAPI.
	Source Source
}

// Source tells where a member was declared.
type Source uint8

// Sources of members.
const (
	// SourceConfig is a member of the config file, upserted at every start.
	SourceConfig Source = iota
	// SourceAPI is a member created through the admin API.
	SourceAPI
)

// String returns "config" or "api".
func (s Source) String() string {
	if s == SourceAPI {
		return "api"
	}
	return "config"
}

// IsAdmin reports whether the member administers its org.
func (m *Member) IsAdmin() bool { return m.Role == RoleAdmin }

// HashKey returns the SHA-256 of a key.
func HashKey(key []byte) [32]byte { return sha256.Sum256(key) }

// HashHex returns the hex SHA-256 of a key, as persisted.
func HashHex(h [32]byte) string { return hex.EncodeToString(h[:]) }

type snapshot struct {
	orgs    map[string]*Org
	members map[string]map[string]*Member // org → id → member
	byHash  map[[32]byte]*Member
}

// Directory holds orgs and members. Safe for concurrent use.
type Directory struct {
	mu   sync.Mutex // serialises writers
	snap atomic.Pointer[snapshot]
}

// New returns an empty directory.
func New() *Directory {
	d := &Directory{}
	d.snap.Store(&snapshot{orgs: map[string]*Org{}, members: map[string]map[string]*Member{}, byHash: map[[32]byte]*Member{}})
	return d
}

// Authenticate returns the member whose key is key. It does not allocate.
func (d *Directory) Authenticate(key []byte) (*Member, bool) {
	if len(key) == 0 {
		return nil, false
	}
	h := sha256.Sum256(key)
	m, ok := d.snap.Load().byHash[h]
	if !ok || subtle.ConstantTimeCompare(m.KeyHash[:], h[:]) != 1 {
		return nil, false
	}
	return m, true
}

// Org returns the org with id.
func (d *Directory) Org(id string) (*Org, bool) {
	o, ok := d.snap.Load().orgs[id]
	return o, ok
}

// Orgs returns every org, sorted by id.
func (d *Directory) Orgs() []*Org {
	s := d.snap.Load()
	out := make([]*Org, 0, len(s.orgs))
	for _, o := range s.orgs {
		out = append(out, o)
	}
	slices.SortFunc(out, func(a, b *Org) int { return cmpString(a.ID, b.ID) })
	return out
}

// Member returns member id of org.
func (d *Directory) Member(org, id string) (*Member, bool) {
	m, ok := d.snap.Load().members[org][id]
	return m, ok
}

// Members returns the members of org, sorted by id.
func (d *Directory) Members(org string) []*Member {
	ms := d.snap.Load().members[org]
	out := make([]*Member, 0, len(ms))
	for _, m := range ms {
		out = append(out, m)
	}
	slices.SortFunc(out, func(a, b *Member) int { return cmpString(a.ID, b.ID) })
	return out
}

// Location returns the timezone of org, or nil when unknown.
func (d *Directory) Location(org string) *time.Location {
	if o, ok := d.Org(org); ok {
		return o.Location
	}
	return nil
}

// PutOrg adds or replaces an org.
func (d *Directory) PutOrg(o Org) {
	if o.Location == nil {
		o.Location = time.UTC
	}
	d.update(func(s *snapshot) error {
		s.orgs[o.ID] = &o
		if s.members[o.ID] == nil {
			s.members[o.ID] = map[string]*Member{}
		}
		return nil
	})
}

// PutMember adds or replaces a member (matched by org and id). Its key hash
// must not belong to another member.
func (d *Directory) PutMember(m Member) error {
	return d.Write(func(tx *Tx) error { return tx.PutMember(m) })
}

// DeleteMember removes a member; its key is refused from then on.
func (d *Directory) DeleteMember(org, id string) error {
	return d.Write(func(tx *Tx) error { return tx.DeleteMember(org, id) })
}

// update copies the snapshot, applies fn and publishes the copy.
func (d *Directory) update(fn func(*snapshot) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	old := d.snap.Load()
	s := &snapshot{
		orgs:    make(map[string]*Org, len(old.orgs)),
		members: make(map[string]map[string]*Member, len(old.members)),
		byHash:  make(map[[32]byte]*Member, len(old.byHash)),
	}
	for k, v := range old.orgs {
		s.orgs[k] = v
	}
	for k, v := range old.members {
		mm := make(map[string]*Member, len(v))
		for id, m := range v {
			mm[id] = m
		}
		s.members[k] = mm
	}
	for k, v := range old.byHash {
		s.byHash[k] = v
	}
	if err := fn(s); err != nil {
		return err
	}
	d.snap.Store(s)
	return nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
