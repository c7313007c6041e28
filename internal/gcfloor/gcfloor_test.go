package gcfloor

import (
	"github.com/valetauth/valet/internal/loadtest"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		floor, live, roots uint64
		base, want         int
	}{
		{64 * mib, 1 * mib, 0, 100, 6300},       // next at 64 MiB
		{64 * mib, 1 * mib, 3 * mib, 100, 1575}, // the roots count as the pacer counts them
		{64 * mib, 20 * mib, 0, 100, 220},       // 20 + 20 × 2.2 = 64 MiB
		{64 * mib, 32 * mib, 0, 100, 100},       // twice live is the floor
		{64 * mib, 30 * mib, 4 * mib, 100, 100}, // 30 + 34 = 64 MiB
		{64 * mib, 500 * mib, 0, 100, 100},      // above the floor: Go's default
		{64 * mib, 30 * mib, 0, 200, 200},       // 30 × 3 > 64 MiB: GOGC=200 as set
		{64 * mib, 10 * mib, 0, 50, 540},        // a lower GOGC, under the floor
		{64 * mib, 0, 0, 100, 2147483647},       // nothing at all yet: capped
		{64 * mib, 0, 2 * mib, 100, 3200},       // only roots
		{1 << 62, 1, 0, 100, 2147483647},        // capped
		{0, 10 * mib, 0, 100, 100},              // no floor
		{64 * mib, 64*mib - 1, 0, 100, 100},     // just under the floor, twice is over it
		{64 * mib, 64 * mib / 3, 0, 100, 201},   // rounded up, never under the floor
		{64 * mib, 1 * mib, 1 * mib, 0, 3150},   // GOGC=0 under the floor
		{64 * mib, 63 * mib, 1 * mib, 0, 2},     // GOGC=0 just under it
	} {
		got := Percent(tc.floor, tc.live, tc.roots, tc.base)
		if got != tc.want {
			t.Errorf("Percent(%d, %d, %d, %d) = %d, want %d", tc.floor, tc.live, tc.roots, tc.base, got, tc.want)
		}
		goal := float64(tc.live) + float64(tc.live+tc.roots)*float64(got)/100
		if got < 2147483647 && goal < float64(tc.floor) {
			t.Errorf("Percent(%d, %d, %d, %d) = %d puts the goal at %.0f, under the floor", tc.floor, tc.live, tc.roots, tc.base, got, goal)
		}
	}
}

// gogc reads the GC percent in force.
func gogc() uint64 { return read("/gc/gogc:percent") }

func read(name string) uint64 {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

// waitPercent runs collections until the percent in force satisfies ok:
// the floor is adjusted by a finalizer, which runs after a collection, on
// a goroutine of its own.
func waitPercent(t *testing.T, what string, ok func(uint64) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok(gogc()) {
		if time.Now().After(deadline) {
			t.Fatalf("the GC percent is %d, not %s", gogc(), what)
		}
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
}

// TestStart: with little live, the percent rises so that the next
// collection comes at the floor; with more live than the floor, it is back
// to GOGC's; stop puts back what was set before.
func TestStart(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	const floor = 256 << 20
	stop := Start(floor)
	waitPercent(t, "raised to reach the floor", func(p uint64) bool { return p > 100 })
	// The runtime's own goal for the next collection is at the floor, not
	// beyond it: the pacer's roots are counted as it counts them.
	runtime.GC()
	waitPercent(t, "adjusted after the collection", func(p uint64) bool { return p > 100 })
	if goal := read("/gc/heap/goal:bytes"); goal < floor || goal > floor+floor/20 {
		t.Errorf("the heap goal is %d bytes, want the floor, %d", goal, floor)
	}

	big := make([]*[1 << 20]byte, 0, 300)
	for range 300 { // 300 MiB live, in pieces the collector must mark
		big = append(big, new([1 << 20]byte))
	}
	waitPercent(t, "back to 100 with more live than the floor", func(p uint64) bool { return p == 100 })
	runtime.KeepAlive(big)
	big = nil
	waitPercent(t, "raised again once the heap is small", func(p uint64) bool { return p > 100 })

	debug.SetGCPercent(100) // stop restores what was there before Start
	stop()
	if p := gogc(); p != 100 {
		t.Fatalf("after stop the percent is %d, want 100", p)
	}
	runtime.GC()
	runtime.GC()
	time.Sleep(50 * time.Millisecond)
	if p := gogc(); p != 100 {
		t.Errorf("the floor was adjusted after stop: percent %d", p)
	}
}

// TestStartTwice: a second floor replaces the first, and its stop restores
// the percent of before the first.
func TestStartTwice(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(150))
	stop1 := Start(128 << 20)
	stop2 := Start(512 << 20)
	stop1() // no longer kept: does nothing
	waitPercent(t, "raised to the second floor", func(p uint64) bool { return p > 150 })
	stop2()
	if p := gogc(); p != 150 {
		t.Errorf("after stop the percent is %d, want 150 (as before the first Start)", p)
	}
}

// TestStartOff: with the collector off, Start leaves it off.
func TestStartOff(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	stop := Start(64 << 20)
	runtime.GC()
	time.Sleep(20 * time.Millisecond)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("the GC percent is %d, want -1 (off)", p)
	}
	stop()
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("after stop the GC percent is %d, want -1 (off)", p)
	}
}

// sink keeps what BenchmarkGarbage allocates from being optimized away.
var sink []*[128]byte

// BenchmarkGarbage allocates as a request to a server does (some twenty
// small objects, 2.5 KiB, all garbage once answered) over a live heap of a
// few megabytes, with Go's default and with a floor of 64 MiB. cpu-ns/op
// counts the collector's work on every thread, which ns/op leaves out
// where it runs beside the benchmark on another CPU.
func BenchmarkGarbage(b *testing.B) {
	live := make([]*[1024]byte, 4096) // 4 MiB live
	for i := range live {
		live[i] = new([1024]byte)
	}
	for _, floor := range []uint64{0, 64 << 20} {
		name := "go-default"
		if floor > 0 {
			name = "floor-64MiB"
		}
		b.Run(name, func(b *testing.B) {
			defer debug.SetGCPercent(debug.SetGCPercent(100))
			if floor > 0 {
				defer Start(floor)()
			}
			runtime.GC()
			sink = make([]*[128]byte, 20)
			b.ReportAllocs()
			cpu0 := loadtest.CPUTime()
			for b.Loop() {
				for i := range sink {
					sink[i] = new([128]byte)
				}
			}
			b.ReportMetric(float64(loadtest.CPUTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
	runtime.KeepAlive(live)
}
