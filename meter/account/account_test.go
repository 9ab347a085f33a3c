package account

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// testDir returns a directory with org acme (admin alice, member bob) and
// org globex (admin eve).
func testDir(t *testing.T) *Directory {
	t.Helper()
	d := New()
	d.PutOrg(Org{ID: "acme", Name: "Acme"})
	d.PutOrg(Org{ID: "globex", Name: "Globex"})
	for _, m := range []Member{
		{ID: "alice", Org: "acme", Role: RoleAdmin, KeyHash: HashKey([]byte("k-alice"))},
		{ID: "bob", Org: "acme", Role: RoleMember, KeyHash: HashKey([]byte("k-bob"))},
		{ID: "eve", Org: "globex", Role: RoleAdmin, KeyHash: HashKey([]byte("k-eve"))},
	} {
		if err := d.PutMember(m); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

// authID returns the org/id of the member of key, or "" when refused.
func authID(d *Directory, key string) string {
	m, ok := d.Authenticate([]byte(key))
	if !ok {
		return ""
	}
	return m.Org + "/" + m.ID
}

func TestAuthenticate(t *testing.T) {
	d := testDir(t)
	f := func(key, want string) {
		t.Helper()
		if got := authID(d, key); got != want {
			t.Fatalf("Authenticate(%q) = %q, want %q", key, got, want)
		}
	}
	f("k-alice", "acme/alice")
	f("k-bob", "acme/bob")
	f("k-eve", "globex/eve")
	f("", "")
	f("k-alic", "")
	f("k-alice ", "")
}

func TestSource(t *testing.T) {
	var m Member
	if m.Source != SourceConfig || m.Source.String() != "config" {
		t.Fatalf("zero Source = %d %q, want SourceConfig \"config\"", m.Source, m.Source)
	}
	if SourceAPI.String() != "api" {
		t.Fatalf("SourceAPI = %q, want \"api\"", SourceAPI)
	}
}

func TestPutMemberErrors(t *testing.T) {
	d := testDir(t)
	err := d.PutMember(Member{ID: "x", Org: "initech", KeyHash: HashKey([]byte("k-x"))})
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown org: got %v, want ErrNotFound", err)
	}
	err = d.PutMember(Member{ID: "x", Org: "acme", KeyHash: HashKey([]byte("k-eve"))})
	if !errors.Is(err, ErrExists) {
		t.Fatalf("key of another member: got %v, want ErrExists", err)
	}
	if _, ok := d.Member("acme", "x"); ok {
		t.Fatal("a refused member was added")
	}
	// Replacing a member with its own key is fine.
	if err := d.PutMember(Member{ID: "bob", Org: "acme", Role: RoleMember, Email: "b@acme.example", KeyHash: HashKey([]byte("k-bob"))}); err != nil {
		t.Fatal(err)
	}
	if m, _ := d.Member("acme", "bob"); m.Email != "b@acme.example" {
		t.Fatalf("bob not replaced: %+v", m)
	}
}

func TestDeleteMember(t *testing.T) {
	d := testDir(t)
	if err := d.DeleteMember("acme", "bob"); err != nil {
		t.Fatal(err)
	}
	if got := authID(d, "k-bob"); got != "" {
		t.Fatalf("deleted key still authenticates as %q", got)
	}
	if _, ok := d.Member("acme", "bob"); ok {
		t.Fatal("deleted member still listed")
	}
	if err := d.DeleteMember("acme", "bob"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second delete: got %v, want ErrNotFound", err)
	}
	if err := d.DeleteMember("globex", "alice"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("member of another org: got %v, want ErrNotFound", err)
	}
	if got := authID(d, "k-alice"); got != "acme/alice" {
		t.Fatalf("alice = %q after a refused delete", got)
	}
}

func TestWriteRotatesAtOnce(t *testing.T) {
	d := testDir(t)
	err := d.Write(func(tx *Tx) error {
		old, _ := tx.Member("acme", "bob")
		m := *old
		m.KeyHash = HashKey([]byte("k-bob-2"))
		if err := tx.PutMember(m); err != nil {
			return err
		}
		// The transaction reads its own writes; readers do not see them yet.
		if got, _ := tx.Member("acme", "bob"); got.KeyHash != m.KeyHash {
			t.Fatal("tx does not read its own write")
		}
		if !tx.KeyInUse(HashKey([]byte("k-bob-2"))) || tx.KeyInUse(HashKey([]byte("k-bob"))) {
			t.Fatal("KeyInUse does not follow the write")
		}
		if got := authID(d, "k-bob"); got != "acme/bob" {
			t.Fatalf("readers see the write before it is published: old key = %q", got)
		}
		if got := authID(d, "k-bob-2"); got != "" {
			t.Fatalf("readers see the write before it is published: new key = %q", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := authID(d, "k-bob"); got != "" {
		t.Fatalf("old key still authenticates as %q", got)
	}
	if got := authID(d, "k-bob-2"); got != "acme/bob" {
		t.Fatalf("new key = %q, want acme/bob", got)
	}
}

func TestWriteErrorChangesNothing(t *testing.T) {
	d := testDir(t)
	boom := errors.New("boom")
	err := d.Write(func(tx *Tx) error {
		if err := tx.DeleteMember("acme", "bob"); err != nil {
			return err
		}
		if err := tx.PutMember(Member{ID: "carol", Org: "acme", KeyHash: HashKey([]byte("k-carol"))}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want boom", err)
	}
	if got := authID(d, "k-bob"); got != "acme/bob" {
		t.Fatalf("bob = %q after an aborted write", got)
	}
	if got := authID(d, "k-carol"); got != "" {
		t.Fatalf("carol = %q after an aborted write", got)
	}
	if n := len(d.Members("acme")); n != 2 {
		t.Fatalf("acme has %d members after an aborted write, want 2", n)
	}
}

func TestTxReads(t *testing.T) {
	d := testDir(t)
	err := d.Write(func(tx *Tx) error {
		if _, ok := tx.Org("acme"); !ok {
			t.Fatal("Org(acme) not found")
		}
		if _, ok := tx.Org("initech"); ok {
			t.Fatal("Org(initech) found")
		}
		if n := tx.Admins("acme"); n != 1 {
			t.Fatalf("Admins(acme) = %d, want 1", n)
		}
		if err := tx.PutMember(Member{ID: "aaron", Org: "acme", Role: RoleAdmin, KeyHash: HashKey([]byte("k-aaron"))}); err != nil {
			return err
		}
		if n := tx.Admins("acme"); n != 2 {
			t.Fatalf("Admins(acme) = %d after adding an admin, want 2", n)
		}
		var ids []string
		for _, m := range tx.Members("acme") {
			ids = append(ids, m.ID)
		}
		if got := len(ids); got != 3 || ids[0] != "aaron" || ids[1] != "alice" || ids[2] != "bob" {
			t.Fatalf("Members(acme) = %v, want [aaron alice bob]", ids)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(d.Members("globex")); n != 1 {
		t.Fatalf("globex has %d members, want 1", n)
	}
}

func TestMemberValuesAreImmutable(t *testing.T) {
	d := testDir(t)
	before, _ := d.Member("acme", "bob")
	err := d.Write(func(tx *Tx) error {
		m := *before
		m.Role = RoleAdmin
		m.CreatedAt = time.Unix(1, 0)
		return tx.PutMember(m)
	})
	if err != nil {
		t.Fatal(err)
	}
	if before.Role != RoleMember || !before.CreatedAt.IsZero() {
		t.Fatalf("a published member changed: %+v", before)
	}
	if after, _ := d.Member("acme", "bob"); !after.IsAdmin() {
		t.Fatalf("bob not promoted: %+v", after)
	}
}

// TestConcurrentReadsAndWrites runs readers against a rotating writer; under
// -race it checks that reads need no lock.
func TestConcurrentReadsAndWrites(t *testing.T) {
	d := testDir(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				if got := authID(d, "k-alice"); got != "acme/alice" {
					t.Errorf("alice = %q during writes", got)
					return
				}
				_ = d.Members("acme")
			}
		}()
	}
	keys := []string{"k-bob-a", "k-bob-b"}
	for i := range 200 {
		err := d.Write(func(tx *Tx) error {
			old, _ := tx.Member("acme", "bob")
			m := *old
			m.KeyHash = HashKey([]byte(keys[i%2]))
			return tx.PutMember(m)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if got := authID(d, "k-bob-b"); got != "acme/bob" {
		t.Fatalf("bob = %q after the last rotation", got)
	}
	if got := authID(d, "k-bob-a"); got != "" {
		t.Fatalf("an old key authenticates as %q", got)
	}
}
