package store

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
)

func TestSeal(t *testing.T) {
	s := &Store{sealed: true}
	k, v := "c\x00\x00\x00\x01abc", "a cell value"
	sealed := s.seal(k, v)
	if len(sealed) != len(v)+sealLen || !strings.HasPrefix(sealed, v) {
		t.Fatalf("seal(%q) = %q", v, sealed)
	}
	if got, err := s.unseal(k, sealed); err != nil || got != v {
		t.Fatalf("unseal = %q, %v", got, err)
	}
	if got := s.strip(sealed); got != v {
		t.Fatalf("strip = %q", got)
	}
	for name, c := range map[string][2]string{
		"a value byte changed":      {k, "a cell valuf" + sealed[len(v):]},
		"the value under other key": {"c\x00\x00\x00\x02abc", sealed},
		"shorter than a seal":       {k, "abc"},
		"the seal changed":          {k, sealed[:len(sealed)-1] + "x"},
	} {
		if _, err := s.unseal(c[0], c[1]); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "cell key") {
			t.Errorf("%s: %v, want ErrCorrupt naming the cell key", name, err)
		}
	}
	legacy := &Store{}
	if legacy.seal(k, v) != v || legacy.strip(v) != v {
		t.Fatal("a schema 1 store seals")
	}
}

// TestSchemaV1StoreStillOpens: a store written before seals (schema 1)
// opens, reads, takes new batches (unsealed, as its schema says) and
// reopens; a new store is of schema 2 and its values are sealed.
func TestSchemaV1StoreStillOpens(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{legacySchema: true})
	cell := meter.CellRecord{Key: meter.CellKey{Org: "acme", User: "u", Hour: 3600}, Cell: meter.Cell{Requests: 2, CostNano: 7}}
	if err := s.Apply([]meter.CellRecord{cell}, genEvents("acme", baseID, 40, 1)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	for round := range 2 {
		s = openTest(t, dir, Options{})
		if s.sealed {
			t.Fatal("a schema 1 store opened as sealed")
		}
		var cells int
		if err := s.LoadCells(func(k meter.CellKey, c meter.Cell) {
			if k.User == "u" && c.CostNano == 7 {
				cells++
			}
		}); err != nil || cells != 1 {
			t.Fatalf("round %d: %d cells, %v", round, cells, err)
		}
		page, _, err := s.Logs(LogQuery{Org: "acme", Limit: 1000})
		if err != nil || len(page) != 40+20*round {
			t.Fatalf("round %d: %d logs, %v", round, len(page), err)
		}
		if err := s.Apply(nil, genEvents("acme", baseID+uint64(round+1)*1e12, 20, 2)); err != nil {
			t.Fatal(err)
		}
		_ = s.Close()
	}
	version := func(dir string) string {
		db, err := buntdb.Open(filepath.Join(dir, FileName))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		var v string
		_ = db.View(func(tx *buntdb.Tx) error { v, err = tx.Get(keyVersion); return err })
		return v
	}
	if v := version(dir); v != schemaV1 {
		t.Fatalf("schema %q after writes, want %q", v, schemaV1)
	}
	fresh := t.TempDir()
	s = openTest(t, fresh, Options{})
	if !s.sealed {
		t.Fatal("a new store is not sealed")
	}
	_ = s.Close()
	if v := version(fresh); v != schemaVersion {
		t.Fatalf("a new store has schema %q, want %q", v, schemaVersion)
	}
	if _, err := os.Stat(filepath.Join(fresh, FileName)); err != nil {
		t.Fatal(err)
	}
}

// FuzzUnseal: unseal never panics, and accepts exactly the values seal
// makes.
func FuzzUnseal(f *testing.F) {
	s := &Store{sealed: true}
	f.Add("c\x00\x00\x00\x01", s.seal("c\x00\x00\x00\x01", "v"))
	f.Add("j", s.seal("j", "\x01"))
	f.Add("s", "")
	f.Add("l", "abc")
	f.Fuzz(func(t *testing.T, key, v string) {
		got, err := s.unseal(key, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("unseal error %v is not ErrCorrupt", err)
			}
			return
		}
		if s.seal(key, got) != v {
			t.Fatalf("unseal(%q, %q) = %q, which seals to another value", key, v, got)
		}
	})
}
