package store

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

// encodeEvents interns evs (all of one org) into d and returns their block.
func encodeEvents(t testing.TB, d *dict, evs []meter.Event) string {
	t.Helper()
	s := &Store{dict: d}
	b := newBatch()
	recs := make([]rec, len(evs))
	for i := range evs {
		r, err := s.toRec(b, &evs[i])
		if err != nil {
			t.Fatal(err)
		}
		recs[i] = r
	}
	return string(encodeBlock(nil, recs))
}

func decodeEvents(t testing.TB, d *dict, org, v string) []meter.Event {
	t.Helper()
	first := be64(v, 0) // test blocks carry their first ID in front
	recs, err := decodeBlock(nil, first, v[8:])
	if err != nil {
		t.Fatalf("decodeBlock: %v", err)
	}
	out := make([]meter.Event, len(recs))
	for i := range recs {
		if out[i], err = recs[i].event(org, d.snapshot()); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

func withFirst(first uint64, v string) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(first >> (56 - 8*i))
	}
	return string(b[:]) + v
}

func TestCodecRoundTrip(t *testing.T) {
	f := func(name string, evs []meter.Event) {
		t.Helper()
		d := newDict()
		v := encodeEvents(t, d, evs)
		got := decodeEvents(t, d, evs[0].Org, withFirst(evs[0].ID, v))
		if !reflect.DeepEqual(got, evs) {
			t.Fatalf("%s: round trip\n got %+v\nwant %+v", name, got, evs)
		}
	}
	full := fullEvent(baseID)
	f("every field", []meter.Event{full})

	zero := meter.Event{ID: 1, Org: "o"}
	f("zero values", []meter.Event{zero})

	// Not reported vs reported zero, one count at a time.
	var evs []meter.Event
	for i := 0; i < numCounts; i++ {
		e := meter.Event{ID: baseID + uint64(i), Time: int64(baseID), Org: "o"}
		*countFields(&e.Usage)[i] = usage.Of(0)
		evs = append(evs, e)
	}
	f("reported zeros", evs)

	extreme := full
	extreme.ID = ^uint64(0)
	extreme.Time = -1 << 63
	extreme.Status = -1
	extreme.CostNano = 1<<63 - 1
	extreme.LatencyMicros = -1 << 63
	extreme.Category, extreme.ErrorType = 255, 255
	extreme.Usage.Tier, extreme.Usage.Source = 255, 255
	extreme.User = "tab\tcomma,equals=newline\nnul\x00"
	first := full
	first.ID = 5
	f("extremes", []meter.Event{first, extreme})

	f("generated", genEvents("acme", baseID, 200, 1))
}

func TestCodecSize(t *testing.T) {
	d := newDict()
	evs := genEvents("acme", baseID, maxBlockEvents, 2)
	v := encodeEvents(t, d, evs)
	// A typical request log is a few dozen bytes.
	if per := len(v) / len(evs); per > 48 {
		t.Fatalf("%d bytes per event, want at most 48", per)
	}
}

func TestDecodeBlockErrors(t *testing.T) {
	d := newDict()
	evs := genEvents("acme", baseID, 3, 3)
	v := encodeEvents(t, d, evs)
	f := func(name, v string) {
		t.Helper()
		if _, err := decodeBlock(nil, baseID, v); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
	f("empty", "")
	f("bad version", "\x02"+v[1:])
	f("zero count", "\x01\x00\x00")
	f("truncated", v[:len(v)-1])
	f("trailing", v+"\x00")
	f("wrong last", "\x01\x03\x05"+v[3:])
	// A flag bit this build does not know.
	st := &Store{dict: d}
	r, err := st.toRec(newBatch(), &evs[0])
	if err != nil {
		t.Fatal(err)
	}
	one := string(encodeBlock(nil, []rec{r}))
	pre := appendBlockHeader(nil, r.id, r.id, 1)
	pre = binary.AppendUvarint(pre, 0)
	pre = binary.AppendUvarint(pre, zigzag(int64(r.id-uint64(r.time))))
	for _, id := range [...]uint32{r.user, r.department, r.billingMode, r.upstream, r.model, r.tags} {
		pre = binary.AppendUvarint(pre, uint64(id))
	}
	at := len(pre) // the flags byte
	if one[:at] != string(pre) {
		t.Fatalf("record layout changed")
	}
	f("unknown flag", one[:at]+string([]byte{one[at] | 1<<5})+one[at+1:])
	if _, err := decodeBlock(nil, baseID, v); err != nil {
		t.Fatalf("valid block: %v", err)
	}
}

func FuzzDecodeBlock(f *testing.F) {
	d := newDict()
	f.Add(encodeEvents(f, d, []meter.Event{fullEvent(baseID)}))
	f.Add(encodeEvents(f, d, genEvents("acme", baseID, 5, 4)))
	f.Add(encodeEvents(f, d, []meter.Event{originEvent(baseID)}))
	f.Add(encodeEvents(f, d, []meter.Event{originEvent(baseID), fullEvent(baseID + 7)}))
	f.Add("")
	f.Add("\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01")
	f.Add("\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x40\x00\x00\x00\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, v string) {
		recs, err := decodeBlock(nil, baseID, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) || len(recs) != 0 {
				t.Fatalf("err = %v with %d records", err, len(recs))
			}
			return
		}
		// What decodes must survive a round trip.
		again, err := decodeBlock(nil, baseID, string(encodeBlock(nil, recs)))
		if err != nil || !reflect.DeepEqual(again, recs) {
			t.Fatalf("round trip = %+v, %v; want %+v", again, err, recs)
		}
		for i := range recs {
			if recs[i].origin == 0 && recs[i].originID != 0 {
				t.Fatalf("origin id %d without an origin", recs[i].originID)
			}
			_, _ = recs[i].event("o", d.snapshot())
		}
	})
}

func TestCellCodec(t *testing.T) {
	k := cellIDs{org: 1, user: 2, model: 3, department: 4, billingMode: 5, tags: 6, category: usage.CategoryEmbeddings, hour: -3600}
	got, err := parseCellKey(cellKey(k))
	if err != nil || got != k {
		t.Fatalf("cell key round trip = %+v, %v; want %+v", got, err, k)
	}
	if a, b := cellKey(cellIDs{org: 1, hour: -3600}), cellKey(cellIDs{org: 1, hour: 3600}); a >= b {
		t.Fatalf("cell keys do not sort by hour")
	}
	c := meter.Cell{Requests: 10, Errors: 1, Streams: 2, Unpriced: 3, Estimated: 4, InputTokens: 5, OutputTokens: 6,
		CachedTokens: 7, CacheWrite: 8, Reasoning: 9, CostNano: -10, LatencyMicros: 11, TTFTMicros: 12, TTFTCount: 13}
	c.LatencyBuckets[0], c.LatencyBuckets[7], c.LatencyBuckets[23] = 1, 1<<32-1, 3
	v := string(appendCell(nil, &c))
	back, err := decodeCell(v)
	if err != nil || back != c {
		t.Fatalf("cell round trip = %+v, %v; want %+v", back, err, c)
	}
	if _, err := decodeCell(v[:len(v)-1]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("truncated cell: err = %v", err)
	}
}

func FuzzDecodeCell(f *testing.F) {
	c := meter.Cell{Requests: 3, CostNano: 99}
	c.LatencyBuckets[4] = 2
	f.Add(string(appendCell(nil, &c)))
	f.Add("\x01")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := decodeCell(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		if again, err := decodeCell(string(appendCell(nil, &c))); err != nil || again != c {
			t.Fatalf("round trip = %+v, %v; want %+v", again, err, c)
		}
	})
}

func FuzzDecodeJournal(f *testing.F) {
	b := newBatch()
	b.set("ka", "va")
	b.delete("kb")
	f.Add(b.encode())
	f.Add("\x01\x01\x05ab")
	f.Fuzz(func(t *testing.T, v string) {
		b, err := decodeJournal(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		// Decoding keeps the last write of a key, so re-encoding is stable.
		again, err := decodeJournal(b.encode())
		if err != nil || !reflect.DeepEqual(again.ops, b.ops) {
			t.Fatalf("journal re-decode = %+v, %v; want %+v", again, err, b.ops)
		}
	})
}

// TestCellKeyErrorType: the error type byte round-trips, keys written
// before it existed read as no error, and an unknown type is refused.
func TestCellKeyErrorType(t *testing.T) {
	ids := cellIDs{org: 1, user: 2, model: 3, department: 4, billingMode: 5, tags: 6, category: usage.CategoryChatCompletions, errorType: usage.ErrRateLimit, hour: -3600}
	k := cellKey(ids)
	got, err := parseCellKey(k)
	if err != nil || got != ids {
		t.Fatalf("parseCellKey(cellKey(%+v)) = %+v, %v", ids, got, err)
	}
	old := k[:oldCellKeyLen]
	got, err = parseCellKey(old)
	want := ids
	want.errorType = usage.ErrNone
	if err != nil || got != want {
		t.Fatalf("old key: %+v, %v; want %+v", got, err, want)
	}
	bad := k[:oldCellKeyLen] + string(rune(len(usage.ErrorTypes())+1))
	if _, err := parseCellKey(bad); err == nil {
		t.Fatal("unknown error type accepted")
	}
}

// TestDecodeCellVersion1: cells written before the repeat counters read
// with those counters zero.
func TestDecodeCellVersion1(t *testing.T) {
	v1 := []byte{1}
	for i := int64(1); i <= 14; i++ {
		v1 = binary.AppendVarint(v1, i*10)
	}
	v1 = binary.AppendUvarint(v1, 1<<3)
	v1 = binary.AppendUvarint(v1, 7)
	c, err := decodeCell(string(v1))
	if err != nil {
		t.Fatal(err)
	}
	if c.Requests != 10 || c.TTFTCount != 140 || c.Repeated != 0 || c.RepeatedCostNano != 0 || c.LatencyBuckets[3] != 7 {
		t.Fatalf("%+v", c)
	}
	c.Repeated, c.RepeatedCostNano = 3, 4
	back, err := decodeCell(string(appendCell(nil, &c)))
	if err != nil || back != c {
		t.Fatalf("round trip: %+v, %v; want %+v", back, err, c)
	}
}
