package store

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/buntdb"

	"github.com/infermeter/infermeter/meter"
)

// testCapture returns a capture whose bodies name id.
func testCapture(id int) *meter.Capture {
	return &meter.Capture{
		RequestHeaders: []meter.Header{{Name: "Content-Type", Value: "application/json"}, {Name: "X-Infermeter-Tags", Value: "env=prod"}},
		ResponseHeaders: []meter.Header{
			{Name: "X-Request-Id", Value: "req_1"}, {Name: "Empty", Value: ""},
		},
		RequestBody:       `{"model":"gpt-4o","n":` + strings.Repeat("1", id%7+1) + `}`,
		ResponseBody:      "data: {\"x\":\"\x00\xff\"}\n\n",
		ResponseTruncated: id%2 == 0,
	}
}

// captureKeys returns the IDs of the stored captures of org id 1.
func captureKeys(t *testing.T, s *Store) []uint64 {
	t.Helper()
	var out []uint64
	err := s.db.View(func(tx *buntdb.Tx) error {
		return tx.AscendRange("", string(rune(prefixCapture)), string(rune(prefixCapture+1)), func(k, _ string) bool {
			out = append(out, be64(k, 5))
			return true
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestCaptureCodec(t *testing.T) {
	f := func(name string, c *meter.Capture) {
		t.Helper()
		got, err := decodeCapture(string(appendCapture(nil, c)))
		if err != nil || !reflect.DeepEqual(got, c) {
			t.Fatalf("%s: round trip = %+v, %v; want %+v", name, got, err, c)
		}
	}
	f("full", testCapture(1))
	f("empty", &meter.Capture{})
	f("truncated both", &meter.Capture{RequestTruncated: true, ResponseTruncated: true, RequestBody: strings.Repeat("a", meter.MaxCaptureBody)})

	v := string(appendCapture(nil, testCapture(2)))
	for name, bad := range map[string]string{
		"empty":       "",
		"version":     "\x02" + v[1:],
		"flags":       v[:1] + "\x04" + v[2:],
		"truncated":   v[:len(v)-1],
		"trailing":    v + "\x00",
		"huge count":  "\x01\x00\xff\xff\x03",
		"long header": "\x01\x00\x01\x05ab",
	} {
		if _, err := decodeCapture(bad); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: err = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecodeCapture(f *testing.F) {
	f.Add(string(appendCapture(nil, testCapture(1))))
	f.Add(string(appendCapture(nil, &meter.Capture{})))
	f.Add("\x01\x03\x01\x01a\x00\x00\x00\x00")
	f.Fuzz(func(t *testing.T, v string) {
		c, err := decodeCapture(v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v", err)
			}
			return
		}
		again, err := decodeCapture(string(appendCapture(nil, c)))
		if err != nil || !reflect.DeepEqual(again, c) {
			t.Fatalf("round trip = %+v, %v; want %+v", again, err, c)
		}
	})
}

func TestCaptureApplyLogReopen(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir, Options{})
	evs := genEvents("acme", baseID, 10, 5)
	for i := range evs {
		evs[i].ProviderRequestID = "req_" + strings.Repeat("x", i)
		if i%3 == 0 {
			evs[i].Capture = testCapture(i)
		}
	}
	if err := s.Apply(nil, evs); err != nil {
		t.Fatal(err)
	}
	check := func(s *Store) {
		t.Helper()
		for i := range evs {
			got, ok, err := s.Log("acme", evs[i].ID)
			if err != nil || !ok || !reflect.DeepEqual(got, evs[i]) {
				t.Fatalf("Log(%d) = %+v, %v, %v;\nwant %+v", i, got, ok, err, evs[i])
			}
		}
		// Listings do not load captures.
		list, _, err := s.Logs(LogQuery{Org: "acme", Limit: 100})
		if err != nil || len(list) != len(evs) {
			t.Fatalf("Logs = %d, %v", len(list), err)
		}
		for _, e := range list {
			if e.Capture != nil {
				t.Fatalf("Logs returned a capture for %d", e.ID)
			}
		}
		if got := captureKeys(t, s); !slices.Equal(got, []uint64{evs[0].ID, evs[3].ID, evs[6].ID, evs[9].ID}) {
			t.Fatalf("capture keys %v", got)
		}
	}
	check(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	check(openTest(t, dir, Options{}))

	// A provider request id longer than the bound is cut.
	long := genEvents("acme", baseID+1e9, 1, 6)
	long[0].ProviderRequestID = strings.Repeat("r", meter.MaxProviderRequestID+10)
	s2 := openTest(t, t.TempDir(), Options{})
	if err := s2.Apply(nil, long); err != nil {
		t.Fatal(err)
	}
	got, _, _ := s2.Log("acme", long[0].ID)
	if got.ProviderRequestID != strings.Repeat("r", meter.MaxProviderRequestID) {
		t.Fatalf("long id kept as %d bytes", len(got.ProviderRequestID))
	}
}

func TestCaptureMissingIsCorrupt(t *testing.T) {
	s := openTest(t, t.TempDir(), Options{})
	evs := genEvents("acme", baseID, 1, 5)
	evs[0].Capture = testCapture(0)
	if err := s.Apply(nil, evs); err != nil {
		t.Fatal(err)
	}
	if err := s.db.Update(func(tx *buntdb.Tx) error {
		_, err := tx.Delete(captureKey(1, evs[0].ID))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Log("acme", evs[0].ID); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("Log = %v, want ErrCorrupt", err)
	}
}

func TestCaptureEvictedWithLogs(t *testing.T) {
	withCaptures := func(evs []meter.Event) []meter.Event {
		for i := range evs {
			evs[i].Capture = testCapture(i)
		}
		return evs
	}
	kept := func(t *testing.T, s *Store, org string) []uint64 {
		t.Helper()
		got, _, err := s.Logs(LogQuery{Org: org, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		out := ids(got)
		slices.Sort(out)
		return out
	}

	t.Run("max_logs", func(t *testing.T) {
		dir := t.TempDir()
		s := openTest(t, dir, Options{MaxLogs: 100})
		evs := withCaptures(genEvents("acme", baseID, 300, 1))
		// Whole blocks and partial blocks go, in batches of 70.
		for i := 0; i < len(evs); i += 70 {
			if err := s.Apply(nil, evs[i:min(i+70, len(evs))]); err != nil {
				t.Fatal(err)
			}
			if got, want := captureKeys(t, s), kept(t, s, "acme"); !slices.Equal(got, want) {
				t.Fatalf("after %d: captures %d, logs %d", i+70, len(got), len(want))
			}
		}
		if n := len(captureKeys(t, s)); n != 100 {
			t.Fatalf("%d captures kept, want 100", n)
		}
		// A store reopened with captures evicts them too.
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s = openTest(t, dir, Options{MaxLogs: 10})
		if err := s.Apply(nil, genEvents("acme", baseID+1e12, 1, 2)); err != nil {
			t.Fatal(err)
		}
		if got := captureKeys(t, s); !slices.Equal(got, ids(evs[291:])) {
			t.Fatalf("after reopen with max_logs 10: captures %v", got)
		}
	})

	t.Run("added and evicted in one batch", func(t *testing.T) {
		s := openTest(t, t.TempDir(), Options{MaxLogs: 5})
		evs := withCaptures(genEvents("acme", baseID, 150, 1))
		if err := s.Apply(nil, evs); err != nil {
			t.Fatal(err)
		}
		if got := captureKeys(t, s); !slices.Equal(got, ids(evs[145:])) {
			t.Fatalf("captures %v", got)
		}
	})

	t.Run("retention", func(t *testing.T) {
		now := time.Unix(0, int64(baseID)).Add(time.Hour)
		s := openTest(t, t.TempDir(), Options{LogRetention: 30 * time.Minute, Now: func() time.Time { return now }})
		var evs []meter.Event
		for i := range 120 {
			e := fullEvent(baseID - uint64(time.Hour) + uint64(i)*uint64(time.Minute))
			e.Time = int64(e.ID)
			if i%2 == 0 {
				e.Capture = testCapture(i)
			}
			evs = append(evs, e)
		}
		if err := s.Apply(nil, evs); err != nil {
			t.Fatal(err)
		}
		if n, err := s.EvictExpired(); n != 90 || err != nil {
			t.Fatalf("EvictExpired = %d, %v", n, err)
		}
		var want []uint64
		for i := 90; i < 120; i += 2 {
			want = append(want, evs[i].ID)
		}
		if got := captureKeys(t, s); !slices.Equal(got, want) {
			t.Fatalf("captures after retention %v, want %v", got, want)
		}
		got, ok, err := s.Log("acme", evs[90].ID)
		if err != nil || !ok || !reflect.DeepEqual(got.Capture, evs[90].Capture) {
			t.Fatalf("Log after retention = %+v, %v, %v", got.Capture, ok, err)
		}
	})
}
