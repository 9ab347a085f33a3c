package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/infermeter/infermeter/meter"
)

// faultFile writes batches of events into a new store and returns its
// file, the file size after each batch (sizes[0] before the first), the
// end of each batch's journal command (journalEnd[k] for batch k+1) and
// the events.
func faultFile(t *testing.T, batches, per int) (full []byte, sizes, journalEnd []int64, evs []meter.Event) {
	return faultFileWith(t, Options{}, batches, per, 9)
}

// faultFileWith is faultFile for a store opened with opt and events of
// genEvents' seed.
func faultFileWith(t *testing.T, opt Options, batches, per int, seed uint64) (full []byte, sizes, journalEnd []int64, evs []meter.Event) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, FileName)
	s := openTest(t, dir, opt)
	evs = genEvents("acme", baseID, batches*per, seed)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	sizes = append(sizes, fi.Size())
	for k := range batches {
		cell := meter.CellRecord{Key: meter.CellKey{Org: "acme", Hour: 1}, Cell: meter.Cell{Requests: int64((k + 1) * per)}}
		if err := s.Apply([]meter.CellRecord{cell}, evs[k*per:(k+1)*per]); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, fi.Size())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if full, err = os.ReadFile(path); err != nil {
		t.Fatal(err)
	}
	// Each batch starts with its journal: one command.
	for k := range batches {
		n, err := scanCommand(bufio.NewReader(bytes.NewReader(full[sizes[k]:])), int64(len(full))-sizes[k])
		if err != nil {
			t.Fatalf("batch %d does not start with a command: %s", k+1, err)
		}
		journalEnd = append(journalEnd, sizes[k]+n)
	}
	return full, sizes, journalEnd, evs
}

// TestTruncatedAnywhere cuts a store file at random offsets anywhere in it,
// as a crash during a write (or a copy cut short) would: it always opens;
// exactly the batches written whole before the cut are there (and the one
// whose journal was written whole, which the journal replays), logs and
// cells agreeing; nothing before the cut is lost.
func TestTruncatedAnywhere(t *testing.T) {
	const batches, per, cuts = 8, 25, 60
	full, sizes, journalEnd, evs := faultFile(t, batches, per)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	for range cuts {
		cut := rng.Int64N(int64(len(full)))
		want := 0
		for k := 1; k <= batches; k++ {
			if sizes[k] <= cut || journalEnd[k-1] <= cut {
				want = k
			}
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), full[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir, Options{NoSync: true})
		if err != nil {
			t.Fatalf("seed %d: cut at %d of %d: %s", seed, cut, len(full), err)
		}
		cells := loadCells(t, s)
		n := int(cells[meter.CellKey{Org: "acme", Hour: 1}].Requests)
		got, _, err := s.Logs(LogQuery{Org: "acme", Limit: MaxLogLimit})
		if err != nil {
			t.Fatal(err)
		}
		wantIDs := ids(evs[:want*per])
		slices.Reverse(wantIDs)
		if n != want*per || s.LogCount() != want*per || !slices.Equal(ids(got), wantIDs) {
			t.Fatalf("seed %d: cut at %d of %d: cells count %d requests, %d logs; want the first %d batches (%d)",
				seed, cut, len(full), n, s.LogCount(), want, want*per)
		}
		_ = s.Close()
	}
}

// TestDamagedFramingRefused changes one byte of the RESP framing (a
// command or length marker, a length digit, a CR or LF) in the middle of a
// store file, at random: Open always refuses the file, with one line that
// names it, and leaves it unchanged. Where the framing shows the damage
// (nearly always), the line also names a byte offset no later than the
// damage and no earlier than the command before it (everything before it
// is intact). A length changed so that the file still reads as whole
// commands (cell commands all have the same shape, so a length can land on
// the same place of the next one) is refused by the value decoder instead,
// without an offset.
func TestDamagedFramingRefused(t *testing.T) {
	const batches, per, flips = 8, 25, 60
	full, sizes, _, _ := faultFile(t, batches, per)
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 2))
	// Framing bytes of the commands in the middle half of the file: the
	// header lines, up to and including each value's length line, and the
	// CRLF after each value; and where each command starts.
	var framing []int
	var starts []int64
	lo, hi := sizes[batches/4], sizes[3*batches/4]
	for pos := lo; pos < hi; {
		r := bufio.NewReader(bytes.NewReader(full[pos:]))
		n, err := scanCommand(r, int64(len(full))-pos)
		if err != nil {
			t.Fatal(err)
		}
		starts = append(starts, pos)
		framing = append(framing, commandFraming(full[pos:pos+n], int(pos))...)
		pos += n
	}
	located := 0
	for range flips {
		at := framing[rng.IntN(len(framing))]
		damaged := slices.Clone(full)
		damaged[at] = flipTo(rng, damaged[at])
		dir := t.TempDir()
		path := filepath.Join(dir, FileName)
		if err := os.WriteFile(path, damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Open(dir, Options{NoSync: true})
		if !errors.Is(err, ErrCorrupt) {
			t.Fatalf("seed %d: byte %d (%q → %q) changed: err = %v, want ErrCorrupt", seed, at, full[at], damaged[at], err)
		}
		msg := err.Error()
		if strings.Contains(msg, "\n") || !strings.Contains(msg, path) || !strings.Contains(msg, "move it aside") {
			t.Fatalf("seed %d: byte %d changed: %q", seed, at, msg)
		}
		var fd *fileDamage
		if !errors.As(err, &fd) {
			continue
		}
		located++
		// The command holding the damage, and the one before it.
		i, _ := slices.BinarySearch(starts, int64(at)+1)
		floor := lo
		if i >= 2 {
			floor = starts[i-2]
		}
		if !strings.Contains(msg, fmt.Sprintf("at byte %d of %d", fd.at, len(full))) || fd.at > int64(at) || (fd.at < floor && i >= 2) {
			t.Fatalf("seed %d: byte %d changed (command at %d): %q", seed, at, starts[max(i-1, 0)], msg)
		}
		if b, _ := os.ReadFile(path); !bytes.Equal(b, damaged) {
			t.Fatalf("seed %d: a refused file was changed", seed)
		}
	}
	t.Logf("seed %d: %d framing bytes changed, all refused, %d with the offset of the damage", seed, flips, located)
}

// TestDamagedValueRefused changes one byte inside a command (a key, a
// value, a command name: anything but the RESP framing) in the middle of a
// store file, 60 times. In a store of schema version 2 every value is
// sealed with a checksum of its key and itself: each change is refused at
// Open with ErrCorrupt, or, when it hit a command a later one superseded
// (an older copy of the tail log block, of the journal, of a cell), the
// store opens and reads exactly what the undamaged file holds. Never is a
// changed byte read as another value. A store of schema version 1 (no
// seals) is measured: most such changes read as other values there.
func TestDamagedValueRefused(t *testing.T) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "v2", true: "v1"}[legacy], func(t *testing.T) {
			damagedValues(t, legacy)
		})
	}
}

// storeContents is what a store reads: every log and every cell, printed.
func storeContents(t *testing.T, dir string) (string, error) {
	t.Helper()
	s, err := Open(dir, Options{NoSync: true})
	if err != nil {
		return "", err
	}
	defer s.Close()
	var b strings.Builder
	err = s.LoadCells(func(k meter.CellKey, c meter.Cell) { fmt.Fprintf(&b, "%+v %+v\n", k, c) })
	if err != nil {
		return "", err
	}
	cursor := ""
	for {
		page, next, err := s.Logs(LogQuery{Org: "acme", Limit: MaxLogLimit, Cursor: cursor})
		if err != nil {
			return "", err
		}
		for i := range page {
			fmt.Fprintf(&b, "%+v\n", page[i])
		}
		if next == "" {
			return b.String(), nil
		}
		cursor = next
	}
}

func damagedValues(t *testing.T, legacy bool) {
	const batches, per, flips = 8, 25, 60
	full, sizes, _, _ := faultFileWith(t, Options{legacySchema: legacy}, batches, per, 9)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), full, 0o600); err != nil {
		t.Fatal(err)
	}
	want, err := storeContents(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(11, 3))
	lo, hi := sizes[batches/4], sizes[3*batches/4]
	isFraming := map[int]bool{}
	for pos := lo; pos < hi; {
		n, err := scanCommand(bufio.NewReader(bytes.NewReader(full[pos:])), int64(len(full))-pos)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range commandFraming(full[pos:pos+n], int(pos)) {
			isFraming[i] = true
		}
		pos += n
	}
	refused, same, other := 0, 0, 0
	for range flips {
		at := int(lo) + rng.IntN(int(hi-lo))
		for isFraming[at] {
			at++
		}
		damaged := slices.Clone(full)
		damaged[at] = flipTo(rng, damaged[at])
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, FileName), damaged, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := storeContents(t, dir)
		switch {
		case err != nil && !errors.Is(err, ErrCorrupt):
			t.Fatalf("byte %d changed: %v, want ErrCorrupt", at, err)
		case err != nil:
			refused++
			if !legacy && !strings.Contains(err.Error(), "checksum") && !strings.Contains(err.Error(), "cannot open store") {
				t.Errorf("byte %d changed: %v", at, err)
			}
		case got == want:
			same++
		default:
			other++
			if !legacy {
				t.Errorf("byte %d changed: the store opened and reads other values", at)
			}
		}
	}
	t.Logf("%d of %d changed bytes refused at start, %d in superseded commands (the store reads as before), %d read as other values",
		refused, flips, same, other)
	if !legacy && refused == 0 {
		t.Errorf("no change refused: none hit a value the store holds")
	}
}

// commandFraming returns the offsets (from base) of the framing bytes of
// one RESP command: every byte of its header lines ("*N\r\n", "$N\r\n"),
// and the CRLF after each value.
func commandFraming(cmd []byte, base int) []int {
	var out []int
	i := 0
	line := func() {
		for i < len(cmd) {
			out = append(out, base+i)
			i++
			if cmd[i-1] == '\n' {
				return
			}
		}
	}
	line() // *N
	for i < len(cmd) {
		start := i
		line() // $N
		n := 0
		for _, c := range cmd[start+1 : i-2] {
			n = n*10 + int(c-'0')
		}
		i += n
		out = append(out, base+i, base+i+1) // CRLF after the value
		i += 2
	}
	return out
}

// flipTo returns a byte other than b: a digit for a digit (a plausible but
// wrong length), anything else otherwise.
func flipTo(rng *rand.Rand, b byte) byte {
	if b >= '0' && b <= '9' {
		return '0' + (b-'0'+1+byte(rng.IntN(9)))%10
	}
	for {
		if c := byte(rng.IntN(256)); c != b {
			return c
		}
	}
}
