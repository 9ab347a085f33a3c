package fleet

import (
	"errors"
	"reflect"
	"testing"

	"github.com/infermeter/infermeter/meter"
	"github.com/infermeter/infermeter/meter/usage"
)

func sampleEvent() meter.Event {
	e := meter.Event{
		ID: 1_735_689_600_000_000_123, Time: 1_735_689_599_000_000_000,
		Org: "acme", User: "alice", Department: "research", BillingMode: "org_pays",
		Upstream: "openai", Model: "openai/gpt-4o", Tags: "env=prod",
		Category: usage.CategoryChatCompletions, Stream: true, Status: 200,
		CostNano: 123456, Priced: true, LatencyMicros: 1500, TTFTMicros: 300,
		RequestBytes: 100, ResponseBytes: 2000, PromptHash: 0xfeedface, ProviderRequestID: "req_1",
	}
	e.Usage.Input = usage.Of(1200)
	e.Usage.CacheRead = usage.Of(0)
	e.Usage.Output = usage.Of(345)
	e.Usage.Source = usage.SourceProvider
	return e
}

func TestEventPayloadRoundTrip(t *testing.T) {
	f := func(name string, in meter.Event) {
		t.Helper()
		b, err := encodeEvent(&in, "pod-1/abc", in.ID-5)
		if err != nil {
			t.Fatal(err)
		}
		got, prev, err := decodeEvent(b)
		if err != nil {
			t.Fatalf("%s: %s", name, err)
		}
		want := in
		want.ID, want.Origin, want.OriginID, want.Capture, want.Repeat = 0, "pod-1/abc", in.ID, nil, false
		if prev != in.ID-5 || !reflect.DeepEqual(got, want) {
			t.Fatalf("%s: round trip\n got %+v (prev %d)\nwant %+v", name, got, prev, want)
		}
	}
	f("sample", sampleEvent())
	e := sampleEvent()
	e.Usage = usage.Usage{}
	e.ErrorType, e.Status, e.ErrorMessage = usage.ErrRateLimit, 429, "slow down \"now\""
	f("error without usage", e)
	e = sampleEvent()
	e.Usage.ProviderCostNano = usage.Of(-3)
	e.Capture = &meter.Capture{RequestBody: "secret"}
	f("last count, capture left out", e)
}

func TestDecodeEventRefuses(t *testing.T) {
	for name, in := range map[string]string{
		"not json":     "{",
		"version":      `{"v":2,"o":"a","i":5,"org":"x"}`,
		"no origin":    `{"v":1,"i":5,"org":"x"}`,
		"no id":        `{"v":1,"o":"a","org":"x"}`,
		"prev":         `{"v":1,"o":"a","i":5,"p":5,"org":"x"}`,
		"no org":       `{"v":1,"o":"a","i":5}`,
		"counts":       `{"v":1,"o":"a","i":5,"org":"x","n":[null,null,null,null,null,null,null,null,null,null,null,null,null,null]}`,
		"count length": `{"v":1,"o":"a","i":5,"org":"x","n":[[1]]}`,
	} {
		if _, _, err := decodeEvent([]byte(in)); !errors.Is(err, errBadPayload) {
			t.Errorf("%s: err = %v, want errBadPayload", name, err)
		}
	}
}

func FuzzDecodeEvent(f *testing.F) {
	e := sampleEvent()
	b, err := encodeEvent(&e, "pod-1/abc", 7)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1,"o":"a","i":5,"org":"x","n":[null,[3,1]]}`))
	f.Add([]byte(`{"v":1,"o":"a","i":5,"org":"x","n":[[1]]}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, prev, err := decodeEvent(b)
		if err != nil {
			if !errors.Is(err, errBadPayload) {
				t.Fatalf("error %v does not wrap errBadPayload", err)
			}
			return
		}
		// What decodes encodes to a payload that decodes the same.
		ev.ID = ev.OriginID
		again, err := encodeEvent(&ev, ev.Origin, prev)
		if err != nil {
			t.Fatal(err)
		}
		ev2, prev2, err := decodeEvent(again)
		ev.ID = 0
		if err != nil || prev2 != prev || !reflect.DeepEqual(ev2, ev) {
			t.Fatalf("round trip: %+v, %d, %v; want %+v, %d", ev2, prev2, err, ev, prev)
		}
	})
}
