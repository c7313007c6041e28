// Package gcfloor keeps the garbage collector from running while the heap
// is small. Go collects when the heap has grown by GOGC percent (100) over
// what the last collection left live; a server whose live heap is a few
// megabytes then collects many times a second under load, each time at a
// cost that hardly depends on how little there is to collect. With a floor
// the heap may first grow to floor bytes: after each collection the GC
// percent is set so that the next one comes at the larger of the floor and
// where Go's default would have it.
//
// The percent is worked out as Go's pacer sets its goal (what is live,
// grown by the percent of what is live and of the stacks and globals it
// scans, and no less than a minimum heap that grows with the percent), and
// again after every collection, from what that collection found live, so a heap that grows past the floor is back to
// Go's default at the next collection; a memory limit (GOMEMLIMIT) holds
// as before.
package gcfloor

import (
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync"
)

// Start keeps the floor until the returned stop is called, which puts the
// GC percent back to what it was. Only one floor is kept at a time: Start
// while another is kept replaces it. With the collector off (GOGC=off)
// there is nothing to hold back, and Start does nothing.
func Start(floor uint64) (stop func()) {
	mu.Lock()
	defer mu.Unlock()
	if cur != nil {
		cur.stopped = true
	} else {
		before = debug.SetGCPercent(100)
		debug.SetGCPercent(before)
		if before < 0 {
			return func() {}
		}
	}
	f := &keeper{floor: floor, base: before}
	cur = f
	f.adjust()
	arm(f)
	return func() {
		mu.Lock()
		defer mu.Unlock()
		if cur == f {
			cur.stopped = true
			cur = nil
			debug.SetGCPercent(before)
		}
	}
}

var (
	mu     sync.Mutex
	cur    *keeper
	before int // the GC percent when the first floor started
)

type keeper struct {
	floor   uint64
	base    int // the percent of the heap above the floor: GOGC's
	stopped bool
}

// Percent returns the GC percent that puts the next collection at the
// larger of floor and where GOGC=base would put it. Go's pacer sets the
// goal at live + (live + roots) × percent/100, where roots are the stacks
// and globals it scans; so does Percent.
func Percent(floor, live, roots uint64, base int) int {
	scan := float64(live) + float64(roots)
	if scan == 0 {
		scan = 1
	}
	if float64(live)+scan*float64(base)/100 >= float64(floor) {
		return base
	}
	p := math.Ceil((float64(floor) - float64(live)) * 100 / scan)
	return int(min(p, math.MaxInt32))
}

var samples = []metrics.Sample{
	{Name: "/gc/heap/live:bytes"},
	{Name: "/gc/scan/stack:bytes"},
	{Name: "/gc/scan/globals:bytes"},
}

// adjust sets the GC percent from what the last collection left live.
// The caller holds mu.
func (f *keeper) adjust() {
	metrics.Read(samples)
	var v [3]uint64
	for i, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			return // a runtime without these measures: Go's default stays
		}
		v[i] = s.Value.Uint64()
	}
	p := Percent(f.floor, v[0], v[1]+v[2], f.base)
	debug.SetGCPercent(p)
	if p <= f.base {
		return
	}
	// The pacer also keeps a minimum heap that grows with the percent (4
	// MiB × GOGC/100); where that is what holds, the goal is beyond the
	// floor, in proportion to the percent, which is brought down to match.
	metrics.Read(goal)
	if goal[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	if g := goal[0].Value.Uint64(); g > f.floor {
		if q := int(math.Ceil(float64(p) * float64(f.floor) / float64(g))); q < p {
			debug.SetGCPercent(max(q, f.base))
		}
	}
}

var goal = []metrics.Sample{{Name: "/gc/heap/goal:bytes"}}

// arm runs f's adjust after the next collection, and arms it again, until
// f is stopped: a finalizer runs once the collection that found its object
// unreachable is over.
func arm(f *keeper) {
	t := &tick{}
	runtime.SetFinalizer(t, func(*tick) {
		mu.Lock()
		defer mu.Unlock()
		if f.stopped {
			return
		}
		f.adjust()
		arm(f)
	})
}

// tick is the object whose finalizer marks a collection; it holds a
// pointer so that it is not batched with other tiny allocations, whose
// finalizers may never run.
type tick struct{ _ *byte }
