package childproc

import (
	"os"
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	status := "Name:\tinfermeter\nVmPeak:\t 1268404 kB\nVmHWM:\t   20480 kB\nVmRSS:\t   15360 kB\nThreads:\t7\n"
	m, err := ParseStatus([]byte(status))
	if err != nil || m.RSS != 15<<20 || m.HWM != 20<<20 {
		t.Fatalf("parseStatus = %+v, %v", m, err)
	}
	if _, err := ParseStatus([]byte("VmRSS:\t 12 MB\nVmHWM:\t1 kB\n")); err == nil {
		t.Fatal("a value not in kB was accepted")
	}
	if _, err := ParseStatus([]byte("Name:\tx\n")); err == nil {
		t.Fatal("a status without VmRSS was accepted")
	}
	if _, err := ReadMemory(os.Getpid()); err != nil {
		t.Skipf("no /proc here: %v", err)
	}
}

func TestParseMetrics(t *testing.T) {
	body := "# HELP x\n# TYPE infermeter_meter_recorded_events_total counter\ninfermeter_meter_recorded_events_total 1234\n" +
		"infermeter_store_flushed_events_total{org=\"a b\"} 10\ninfermeter_store_flushed_events_total{org=\"c\"} 5\n" +
		"infermeter_meter_recorded_events_total_other 9\nbroken\n"
	rec, okRec := MetricValue([]byte(body), "infermeter_meter_recorded_events_total")
	flushed, okFlushed := MetricValue([]byte(body), "infermeter_store_flushed_events_total")
	_, okAbsent := MetricValue([]byte(body), "absent")
	if rec != 1234 || flushed != 15 || !okRec || !okFlushed || okAbsent {
		t.Fatalf("MetricValue = %v %v, %v %v, absent %v", rec, okRec, flushed, okFlushed, okAbsent)
	}
}

func TestMainStack(t *testing.T) {
	dump := "SIGQUIT: quit\nPC=0x490181 m=0 sigcode=0\n\ngoroutine 0 gp=0x1 m=0 [idle]:\nruntime.futex(0x1)\n\t/x.s:569\n\n" +
		"goroutine 1 gp=0x3f m=nil [runnable]:\nruntime.mapIterNext(0x3f74662a1710?)\n\t/usr/local/go/src/runtime/map.go:168 +0x25\n" +
		"github.com/infermeter/infermeter/meter/budget.(*orgBook).member(0x3f, {0x3f, 0xc})\n\t/src/meter/budget/ledger.go:246 +0x1ee\n" +
		"main.newApp(0x3f, {0x3f?, 0x0?, 0x0?})\n\t/src/app.go:125 +0xac9\n\ngoroutine 2 gp=0x3f [force gc (idle)]:\nruntime.gopark()\n"
	want := "meter/budget.(*orgBook).member ← main.newApp"
	if got := mainStack([]byte(dump)); got != want {
		t.Fatalf("mainStack = %q, want %q", got, want)
	}
	if got := mainStack([]byte("nothing")); !strings.Contains(got, "no goroutine 1") {
		t.Fatalf("mainStack without a dump = %q", got)
	}
}

func TestParseStatusRSS(t *testing.T) {
	got, err := ParseStatus([]byte("Name:\tinfermeter\nVmHWM:\t  130000 kB\nVmRSS:\t  123456 kB\nThreads:\t14\n"))
	if err != nil || got.RSS != 123456<<10 {
		t.Errorf("ParseStatus = %+v, %v; want RSS %d", got, err, 123456<<10)
	}
	for _, in := range []string{"Name:\tx\n", "VmRSS:\t12 MB\n", "VmRSS:\tx kB\n"} {
		if _, err := ParseStatus([]byte(in)); err == nil {
			t.Errorf("ParseStatus(%q): no error", in)
		}
	}
}

func TestMetricValue(t *testing.T) {
	body := []byte("# HELP x\ngo_goroutines_extra 9\ngo_goroutines 42\nprocess_resident_memory_bytes 1.5e+07\n")
	if v, ok := MetricValue(body, "go_goroutines"); !ok || v != 42 {
		t.Errorf("go_goroutines = %v, %t; want 42", v, ok)
	}
	if v, ok := MetricValue(body, "process_resident_memory_bytes"); !ok || v != 1.5e7 {
		t.Errorf("process_resident_memory_bytes = %v, %t; want 1.5e7", v, ok)
	}
	if _, ok := MetricValue(body, "missing"); ok {
		t.Error("missing metric found")
	}
}
