package store

import (
	"errors"
	"reflect"
	"slices"
	"testing"

	"github.com/infermeter/infermeter/meter"
)

func originEvent(id uint64) meter.Event {
	e := fullEvent(id)
	e.Origin, e.OriginID = "sidecar-1/0123abcd", id-42
	return e
}

func TestCodecOrigin(t *testing.T) {
	d := newDict()
	evs := []meter.Event{originEvent(baseID), fullEvent(baseID + 1), originEvent(baseID + 2)}
	evs[2].OriginID = ^uint64(0)
	v := encodeEvents(t, d, evs)
	got := decodeEvents(t, d, "acme", withFirst(baseID, v))
	if !reflect.DeepEqual(got, evs) {
		t.Fatalf("round trip\n got %+v\nwant %+v", got, evs)
	}
	// A record without an origin is as long as before the flag existed.
	plain := encodeEvents(t, newDict(), []meter.Event{fullEvent(baseID)})
	withOrigin := encodeEvents(t, newDict(), []meter.Event{originEvent(baseID)})
	if len(withOrigin) <= len(plain) {
		t.Fatalf("origin not encoded: %d vs %d bytes", len(withOrigin), len(plain))
	}
	// An origin flag that names no origin is malformed.
	r, err := (&Store{dict: newDict()}).toRec(newBatch(), &evs[1])
	if err != nil {
		t.Fatal(err)
	}
	bad := string(encodeBlock(nil, []rec{r}))
	i := len(bad) - 1
	for ; i > 0 && bad[i] != byte(flagStream|flagPriced|flagErrorMessage|flagRequestID|flagPromptHash); i-- {
	}
	if i == 0 {
		t.Fatal("flags byte not found")
	}
	b := []byte(bad)
	b[i] |= flagOrigin
	if _, err := decodeBlock(nil, baseID+1, string(b)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("decode with a bare origin flag: %v, want ErrCorrupt", err)
	}
}

func TestFollow(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	// Three orgs, interleaved IDs, several blocks each.
	var all []meter.Event
	for i, org := range []string{"acme", "globex", "initech"} {
		evs := genEvents(org, baseID+uint64(i)*1000, 150, uint64(i))
		all = append(all, evs...)
	}
	// Apply in ID order in a few batches, as the meter does.
	slices.SortFunc(all, func(a, b meter.Event) int { return int(int64(a.ID - b.ID)) })
	all[7].Origin, all[7].OriginID = "peer/1", 99
	for i := 0; i < len(all); i += 100 {
		if err := s.Apply(nil, all[i:min(i+100, len(all))]); err != nil {
			t.Fatal(err)
		}
	}
	follow := func(after uint64, n int) []meter.Event {
		t.Helper()
		evs, err := s.Follow(after, n)
		if err != nil {
			t.Fatal(err)
		}
		return evs
	}
	var got []meter.Event
	cursor := uint64(0)
	for {
		evs := follow(cursor, 37)
		if len(evs) == 0 {
			break
		}
		if len(evs) > 37 {
			t.Fatalf("Follow returned %d events, asked for at most 37", len(evs))
		}
		got = append(got, evs...)
		cursor = evs[len(evs)-1].ID
	}
	if !slices.Equal(ids(got), ids(all)) {
		t.Fatalf("followed IDs differ:\n got %v\nwant %v", ids(got), ids(all))
	}
	if got[7].Origin != "peer/1" || got[7].OriginID != 99 || got[7].Org != all[7].Org {
		t.Fatalf("event 7 = %+v", got[7])
	}
	// From the middle of a block.
	if evs := follow(all[100].ID, 3); !slices.Equal(ids(evs), ids(all[101:104])) {
		t.Fatalf("after %d: %v, want %v", all[100].ID, ids(evs), ids(all[101:104]))
	}
	if evs := follow(all[len(all)-1].ID, 10); len(evs) != 0 {
		t.Fatalf("after the newest: %d events", len(evs))
	}
}

func TestFollowCountsUnfollowedEvictions(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{MaxLogs: 100})
	evs := genEvents("acme", baseID, 300, 3)
	s.SetFollowed(evs[149].ID)
	for i := 0; i < len(evs); i += 50 {
		if err := s.Apply(nil, evs[i:i+50]); err != nil {
			t.Fatal(err)
		}
	}
	// 200 logs were evicted, the oldest first: 150 at or below the cursor,
	// 50 above it.
	if n := s.TakeUnfollowedEvictions(); n != 50 {
		t.Fatalf("unfollowed evictions = %d, want 50", n)
	}
	if n := s.TakeUnfollowedEvictions(); n != 0 {
		t.Fatalf("second take = %d, want 0", n)
	}
}

func TestApplyWithState(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	evs := genEvents("acme", baseID, 10, 5)
	if err := s.ApplyWithState(nil, evs, map[string][]byte{"fleet/mark/a": []byte("42"), "x": nil}); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyWithState(nil, nil, map[string][]byte{"only": []byte("state")}); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s = openTest(t, dir, Options{})
	for k, want := range map[string]string{"fleet/mark/a": "42", "x": "", "only": "state"} {
		v, ok, err := s.GetState(k)
		if err != nil || !ok || string(v) != want {
			t.Fatalf("state %q = %q, %v, %v; want %q", k, v, ok, err, want)
		}
	}
	if s.LogCount() != 10 {
		t.Fatalf("%d logs, want 10", s.LogCount())
	}
}
