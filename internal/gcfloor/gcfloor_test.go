package gcfloor

import (
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestPercent(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		floor, live uint64
		base, want  int
	}{
		{64 * mib, 1 * mib, 100, 6300},     // next at 64 MiB
		{64 * mib, 20 * mib, 100, 220},     // 20 MiB × 3.2 = 64 MiB
		{64 * mib, 32 * mib, 100, 100},     // twice live is the floor
		{64 * mib, 500 * mib, 100, 100},    // above the floor: Go's default
		{64 * mib, 30 * mib, 200, 200},     // 30 MiB × 3 > 64 MiB: GOGC=200 as set
		{64 * mib, 10 * mib, 50, 540},      // a lower GOGC, under the floor
		{64 * mib, 0, 100, 6710886300},     // nothing live yet: as if 1 byte
		{1 << 62, 1, 100, 2147483647},      // capped
		{0, 10 * mib, 100, 100},            // no floor
		{64 * mib, 64*mib - 1, 100, 100},   // just under the floor, twice is over it
		{64 * mib, 64 * mib / 3, 100, 201}, // rounded up, never under the floor
	} {
		got := Percent(tc.floor, tc.live, tc.base)
		if tc.want > 2147483647 {
			tc.want = 2147483647
		}
		if got != tc.want {
			t.Errorf("Percent(%d, %d, %d) = %d, want %d", tc.floor, tc.live, tc.base, got, tc.want)
		}
		if tc.live > 0 && float64(tc.live)*(1+float64(got)/100) < float64(min(tc.floor, 1<<40)) && got < 2147483647 {
			t.Errorf("Percent(%d, %d, %d) = %d puts the next collection under the floor", tc.floor, tc.live, tc.base, got)
		}
	}
}

// gogc reads the GC percent in force.
func gogc() uint64 {
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
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
