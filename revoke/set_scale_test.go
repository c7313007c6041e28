package revoke

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// maxBytesPerEntry bounds the heap a Set takes per entry at scale.
const maxBytesPerEntry = 150

// TestSetMillion loads a million revocations, as a node does from its store
// on start-up, and checks the set's heap per entry.
func TestSetMillion(t *testing.T) {
	if testing.Short() {
		t.Skip("loads a million entries")
	}
	const n = 1_000_000
	clk := newClock()
	rs := makeRevocations(makeIDs(2*n, 5)[:n], clk.Now())
	miss := makeIDs(1000, 6)

	var s *Set
	var took time.Duration
	perEntry := heapPerEntry(n, func() {
		start := time.Now()
		s = NewSet(clk.Now)
		s.addAll(rs)
		took = time.Since(start)
	})
	t.Logf("loaded %d entries in %v, %.1f B of heap per entry", n, took, perEntry)
	if perEntry > maxBytesPerEntry {
		t.Errorf("heap per entry = %.1f B, want at most %d", perEntry, maxBytesPerEntry)
	}
	if got := s.Len(); got != n {
		t.Errorf("Len() = %d, want %d", got, n)
	}
	for i := 0; i < n; i += 997 {
		if !s.Revoked(rs[i].SessionID) {
			t.Fatalf("Revoked(rs[%d]) = false, want true", i)
		}
	}
	for _, sid := range miss {
		if s.Revoked(sid) {
			t.Fatalf("Revoked(%q) = true for an id never added", sid)
		}
	}
}

// heapPerEntry returns the live heap that build leaves behind, per entry
// of n.
func heapPerEntry(n int, build func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// makeRevocations returns a revocation of each id, ending at 15 minutes
// after now or a little sooner.
func makeRevocations(ids []string, now time.Time) []valet.Revocation {
	rs := make([]valet.Revocation, len(ids))
	for i, sid := range ids {
		rs[i] = valet.Revocation{SessionID: sid, Until: now.Add(15*time.Minute - time.Duration(i)*time.Microsecond)}
	}
	return rs
}

// benchIDs are the ids of the benchmarks: each size uses the first 2×size.
var benchIDs = sync.OnceValue(func() []string { return makeIDs(2*benchSizes[len(benchSizes)-1].n, 7) })

var benchSizes = []struct {
	name string
	n    int
}{{"1k", 1_000}, {"100k", 100_000}, {"1M", 1_000_000}}

// BenchmarkSetRevoked measures Revoked on a set of each size, for ids held
// (hit) and not (miss), taken in turn from a list as long as the set so that
// the probes go all over its tables. At 1M the slots take 24MB and the
// control words 2MB: a hit waits for the last-level cache where it can hold
// them beside the stream of ids asked about (tens of MB a pass) and the work
// of the machine, and for memory where it cannot (BenchmarkSetFloor says how
// long each takes), and the control words that a miss reads may be pushed
// out of the nearer caches too. The hot cases take their ids in turn from a
// thousand, like the few revoked sessions whose tokens keep coming back and
// the sessions in use, so that what they read stays in cache as it would in
// real traffic; a hot hit costs the hash, the loads and the clock.
func BenchmarkSetRevoked(b *testing.B) {
	ids := benchIDs()
	for _, size := range benchSizes {
		s := NewSet(nil)
		s.addAll(makeRevocations(ids[:size.n], time.Now().Add(time.Hour)))
		held, others := ids[:size.n], ids[size.n:2*size.n]
		for _, c := range []struct {
			name string
			ids  []string
			want bool
		}{
			{"hit", held, true},
			{"hit/hot", hotIDs(held, 1000), true},
			{"miss", others, false},
			{"miss/hot", hotIDs(others, 1000), false},
		} {
			if got := s.Revoked(c.ids[0]); got != c.want {
				b.Fatalf("%s: Revoked = %v, want %v", c.name, got, c.want)
			}
			b.Run(size.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				var r bool
				i := 0
				for b.Loop() {
					r = s.Revoked(c.ids[i])
					if i++; i == len(c.ids) {
						i = 0
					}
				}
				sinkBool = r
			})
			b.Run(size.name+"/"+c.name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var r bool
					i := 0
					for pb.Next() {
						r = s.Revoked(c.ids[i])
						if i++; i == len(c.ids) {
							i = 0
						}
					}
					_ = r
				})
			})
		}
	}
}

// hotIDs returns n ids spread over held, copied next to each other as the
// ids of requests would be, fresh from their tokens, rather than scattered
// over the heap like those of held.
func hotIDs(held []string, n int) []string {
	var b strings.Builder
	for i := range n {
		b.WriteString(held[i*len(held)/n])
	}
	all := b.String()
	hot := make([]string, n)
	for i := range hot {
		hot[i] = all[i*idLen : (i+1)*idLen]
	}
	return hot
}

// BenchmarkSetFloor measures the latency of a load from memory that the load
// before it chose, in random order over 64-byte lines of a buffer as big as
// the control words (2MB) and the slots (24MB) of a set of a million, and as
// the slots were when they held the ids (128MB): what a hit at random in such
// a set must wait at least, since an answer needs the slot's hash, and the
// clock that Revoked reads on a hit waits for the load.
func BenchmarkSetFloor(b *testing.B) {
	for _, mb := range []int{2, 24, 128} {
		b.Run(fmt.Sprintf("%dMB", mb), func(b *testing.B) {
			const line = 8 // uint64s in 64 bytes
			n := mb << 20 / 64
			next := make([]uint64, n*line)
			// Each line points to the next in a random order of them all: one
			// cycle through the buffer.
			order := make([]uint64, n)
			for i := range order {
				order[i] = uint64(i)
			}
			r := rand.New(rand.NewChaCha8([32]byte{11}))
			r.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
			for i, l := range order {
				next[l*line] = order[(i+1)%n] * line
			}
			p := uint64(0)
			for range n {
				p = next[p]
			}
			b.ResetTimer()
			for b.Loop() {
				p = next[p]
			}
			sinkBool = p == 1
		})
	}
}

// BenchmarkSetAdd measures Add on a set that holds a steady number of live
// entries: each Add of a new id comes as the oldest entry ends, so the cost
// includes the rebuilds that drop expired entries. The clock moves a second,
// the unit of an entry's end, at each Add. The ids cycle through twice the
// size, so an id comes back long after its entry ended.
func BenchmarkSetAdd(b *testing.B) {
	ids := benchIDs()
	const tick = time.Second
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			var ticks int
			now := func() time.Time { return base.Add(time.Duration(ticks) * tick) }
			s := NewSet(now)
			pool := ids[:2*size.n]
			life := time.Duration(size.n) * tick
			for ; ticks < size.n; ticks++ {
				s.Add(valet.Revocation{SessionID: pool[ticks], Until: now().Add(life)})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s.Add(valet.Revocation{SessionID: pool[ticks%len(pool)], Until: now().Add(life)})
				ticks++
			}
			b.StopTimer()
			if got := s.Len(); got != size.n {
				b.Fatalf("Len() = %d, want %d", got, size.n)
			}
		})
	}
}

// BenchmarkSetLoad measures loading a set of each size from a slice of
// revocations, as a node does from its store on start-up, and reports the
// heap the set keeps per entry.
func BenchmarkSetLoad(b *testing.B) {
	ids := benchIDs()
	now := time.Now()
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			rs := makeRevocations(ids[:size.n], now.Add(time.Hour))
			var s *Set
			perEntry := heapPerEntry(size.n, func() {
				s = NewSet(nil)
				s.addAll(rs)
			})
			sinkBool = s.Revoked(rs[0].SessionID)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s = NewSet(nil)
				s.addAll(rs)
			}
			b.ReportMetric(perEntry, "B/entry")
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size.n), "ns/entry")
		})
	}
}

// BenchmarkSetSweep measures Sweep on a set of each size in a steady state
// where a fifteenth of the entries end between two sweeps, as with
// 15-minute tokens swept every minute. The clock moves a second, the unit of
// an entry's end, at each Add. It reports the mean time for which Sweep
// holds one shard's lock.
func BenchmarkSetSweep(b *testing.B) {
	ids := benchIDs()
	base := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			var ticks int
			now := func() time.Time { return base.Add(time.Duration(ticks) * time.Second) }
			s := NewSet(now)
			pool := ids[:2*size.n]
			life := time.Duration(size.n) * time.Second
			step := size.n / 15
			next := 0
			add := func(n int) {
				for range n {
					s.Add(valet.Revocation{SessionID: pool[next%len(pool)], Until: now().Add(life)})
					next++
					ticks++
				}
			}
			add(size.n)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				add(step)
				b.StartTimer()
				s.Sweep()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/shardCount, "ns/shard")
		})
	}
}
