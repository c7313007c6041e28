package revoke

import (
	"encoding/base64"
	"fmt"
	"hash/maphash"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/internal/testclock"
)

// clock is the shared settable test clock.
type clock = testclock.Clock

func newClock() *clock {
	return testclock.New(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
}

func TestSet(t *testing.T) {
	type add struct {
		sid string
		in  time.Duration // Until, from the start of the test
	}
	type probe struct {
		sid  string
		want bool
	}
	tests := []struct {
		name    string
		adds    []add
		advance time.Duration
		sweep   bool
		probes  []probe
		wantLen int
	}{
		{
			name:    "empty set knows nothing",
			probes:  []probe{{"a", false}, {"", false}},
			wantLen: 0,
		},
		{
			name:    "entry is revoked before its Until",
			adds:    []add{{"a", time.Minute}},
			advance: 59 * time.Second,
			probes:  []probe{{"a", true}, {"b", false}},
			wantLen: 1,
		},
		{
			name:    "entry ends at its Until",
			adds:    []add{{"a", time.Minute}},
			advance: time.Minute,
			probes:  []probe{{"a", false}},
			wantLen: 1,
		},
		{
			name:    "sweep drops expired entries only",
			adds:    []add{{"a", time.Minute}, {"b", time.Hour}},
			advance: 2 * time.Minute,
			sweep:   true,
			probes:  []probe{{"a", false}, {"b", true}},
			wantLen: 1,
		},
		{
			name:    "sweep with nothing expired keeps all",
			adds:    []add{{"a", time.Minute}, {"b", time.Hour}},
			sweep:   true,
			probes:  []probe{{"a", true}, {"b", true}},
			wantLen: 2,
		},
		{
			name:    "later Until wins",
			adds:    []add{{"a", time.Hour}, {"a", time.Minute}},
			advance: 30 * time.Minute,
			probes:  []probe{{"a", true}},
			wantLen: 1,
		},
		{
			name:    "later Until extends",
			adds:    []add{{"a", time.Minute}, {"a", time.Hour}},
			advance: 30 * time.Minute,
			probes:  []probe{{"a", true}},
			wantLen: 1,
		},
		{
			name:    "already expired and empty ids are ignored",
			adds:    []add{{"a", 0}, {"b", -time.Second}, {"", time.Hour}},
			probes:  []probe{{"a", false}, {"b", false}, {"", false}},
			wantLen: 0,
		},
	}
	for _, form := range idForms {
		for _, tc := range tests {
			t.Run(form.name+"/"+tc.name, func(t *testing.T) {
				clk := newClock()
				s := NewSet(clk.Now)
				for _, a := range tc.adds {
					s.Add(valet.Revocation{SessionID: form.id(a.sid), Until: clk.Now().Add(a.in)})
				}
				clk.Advance(tc.advance)
				if tc.sweep {
					s.Sweep()
				}
				for _, p := range tc.probes {
					if got := s.Revoked(form.id(p.sid)); got != p.want {
						t.Errorf("Revoked(%q) = %v, want %v", form.id(p.sid), got, p.want)
					}
				}
				if got := s.Len(); got != tc.wantLen {
					t.Errorf("Len() = %d, want %d", got, tc.wantLen)
				}
			})
		}
	}
}

// idForms are the kinds of id a Set holds: canonical ids (the form of every
// real session id) and other ids of their length in its tables, and ids of
// other lengths in its maps. Tests written with short names run with each.
var idForms = []struct {
	name string
	id   func(name string) string
}{
	{"string", func(name string) string { return name }},
	{"canonical", func(name string) string {
		if name == "" {
			return ""
		}
		return valet.HashSecret(name)
	}},
	{"43 bytes", func(name string) string {
		if name == "" {
			return ""
		}
		return name + strings.Repeat("\x00", idLen-len(name))
	}},
}

func TestSetAddDropsExpired(t *testing.T) {
	for _, form := range idForms {
		t.Run(form.name, func(t *testing.T) {
			clk := newClock()
			s := NewSet(clk.Now)
			s.Add(valet.Revocation{SessionID: form.id("old"), Until: clk.Now().Add(time.Minute)})
			clk.Advance(2 * time.Minute)
			s.Add(valet.Revocation{SessionID: form.id("new"), Until: clk.Now().Add(time.Minute)})
			if got, want := s.Len(), 1; got != want {
				t.Errorf("Len() after an Add past an expiry = %d, want %d", got, want)
			}
		})
	}
}

func TestSetLoadKeepsEntries(t *testing.T) {
	for _, form := range idForms {
		t.Run(form.name, func(t *testing.T) {
			clk := newClock()
			s := NewSet(clk.Now)
			s.Add(valet.Revocation{SessionID: form.id("heard"), Until: clk.Now().Add(time.Hour)})
			// A load from the store that predates a message must not undo it.
			s.addAll([]valet.Revocation{
				{SessionID: form.id("stored"), Until: clk.Now().Add(time.Hour)},
				{SessionID: form.id("heard"), Until: clk.Now().Add(time.Minute)},
			})
			clk.Advance(30 * time.Minute)
			for _, sid := range []string{"heard", "stored"} {
				if !s.Revoked(form.id(sid)) {
					t.Errorf("Revoked(%q) = false after load, want true", form.id(sid))
				}
			}
		})
	}
}

func TestSetConcurrent(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	s.Add(valet.Revocation{SessionID: "pinned", Until: clk.Now().Add(time.Hour)})

	const writers, perWriter, readers = 4, 200, 8
	var stop atomic.Bool
	var lost atomic.Int64
	var rg sync.WaitGroup
	for range readers {
		rg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				// An entry present from the start must survive every
				// concurrent copy of the map.
				if !s.Revoked("pinned") {
					lost.Add(1)
				}
				s.Revoked(fmt.Sprintf("w0-%d", i%perWriter))
				_ = s.Len()
			}
		})
	}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				s.Add(valet.Revocation{SessionID: fmt.Sprintf("w%d-%d", w, i), Until: clk.Now().Add(time.Hour)})
				if i%50 == 0 {
					s.Sweep()
				}
			}
		})
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()

	if got := lost.Load(); got != 0 {
		t.Errorf("pinned entry missing in %d reads", got)
	}
	if got, want := s.Len(), writers*perWriter+1; got != want {
		t.Errorf("Len() = %d, want %d (lost updates)", got, want)
	}
	for w := range writers {
		for i := range perWriter {
			if sid := fmt.Sprintf("w%d-%d", w, i); !s.Revoked(sid) {
				t.Fatalf("Revoked(%q) = false, want true", sid)
			}
		}
	}
}

func TestSetRevokedDoesNotAllocate(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	s.Add(valet.Revocation{SessionID: "a", Until: clk.Now().Add(time.Hour)})
	hit := valet.NewID()
	s.Add(valet.Revocation{SessionID: hit, Until: clk.Now().Add(time.Hour)})
	for _, sid := range []string{"a", "b", hit, valet.NewID()} {
		if got := testing.AllocsPerRun(100, func() { s.Revoked(sid) }); got != 0 {
			t.Errorf("Revoked(%q) allocates %v times, want 0", sid, got)
		}
	}
}

// TestSetRealClock checks the set that reads time.Now, whose hits read the
// monotonic clock and add the wall clock's offset from it as of the latest
// Add or Sweep.
func TestSetRealClock(t *testing.T) {
	s := NewSet(nil)
	if !s.mono {
		t.Fatal("NewSet(nil) does not read the monotonic clock on hits")
	}
	if !NewSet(time.Now).mono || NewSet(func() time.Time { return time.Now() }).mono {
		t.Fatal("only time.Now should count as the real clock")
	}
	sid, short := valet.NewID(), valet.NewID()
	s.Add(valet.Revocation{SessionID: sid, Until: time.Now().Add(time.Hour)})
	s.Add(valet.Revocation{SessionID: short, Until: time.Now().Add(-time.Second)})
	if !s.Revoked(sid) || s.Revoked(short) {
		t.Fatalf("Revoked = %v, %v, want true, false", s.Revoked(sid), s.Revoked(short))
	}
	if got := testing.AllocsPerRun(100, func() { s.Revoked(sid) }); got != 0 {
		t.Errorf("Revoked allocates %v times with the real clock, want 0", got)
	}
	if hit, now := s.stampHit(), s.stampNow(time.Now()); hit+1 < now || hit > now+1 {
		t.Errorf("stampHit() = %d, stamp of time.Now = %d", hit, now)
	}
	// As if the wall clock had been set two hours ahead: the entry has
	// ended by the wall clock, which the next Add or Sweep reads.
	s.skew.Add(int64(2 * time.Hour))
	if s.Revoked(sid) {
		t.Error("Revoked = true two hours past the entry's Until")
	}
	s.Sweep()
	if skew := time.Duration(s.skew.Load()); skew < -time.Second || skew > time.Second {
		t.Errorf("skew = %v after Sweep, want the wall clock's true offset, about 0", skew)
	}
	if !s.Revoked(sid) {
		t.Error("Revoked = false after Sweep read the clock again")
	}
}

var sinkBool bool

// BenchmarkRevoked measures Set.Revoked for a hit and a miss on a set of
// 1000 entries, beside the same lookups on a bare map (the floor) and on a
// sync.Map (the alternative design), each serial and with all CPUs reading.
func BenchmarkRevoked(b *testing.B) {
	const size = 1000
	now := time.Now()
	s := NewSet(nil)
	bare := make(map[string]time.Time, size)
	var sm sync.Map
	for i := range size {
		sid := valet.HashSecret(fmt.Sprint(i))
		until := now.Add(time.Hour)
		s.Add(valet.Revocation{SessionID: sid, Until: until})
		bare[sid] = until
		sm.Store(sid, until)
	}
	hit := valet.HashSecret("7")
	miss := valet.NewID()

	impls := []struct {
		name    string
		revoked func(string) bool
	}{
		{"set", s.Revoked},
		{"map", func(sid string) bool { _, ok := bare[sid]; return ok }},
		{"syncmap", func(sid string) bool {
			v, ok := sm.Load(sid)
			return ok && time.Now().Before(v.(time.Time))
		}},
	}
	for _, impl := range impls {
		for _, c := range []struct {
			name string
			sid  string
			want bool
		}{{"hit", hit, true}, {"miss", miss, false}} {
			if got := impl.revoked(c.sid); got != c.want {
				b.Fatalf("%s: revoked(%s) = %v, want %v", impl.name, c.name, got, c.want)
			}
			b.Run(impl.name+"/"+c.name, func(b *testing.B) {
				b.ReportAllocs()
				var r bool
				for b.Loop() {
					r = impl.revoked(c.sid)
				}
				sinkBool = r
			})
			b.Run(impl.name+"/"+c.name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					var r bool
					for pb.Next() {
						r = impl.revoked(c.sid)
					}
					_ = r
				})
			})
		}
	}
}

const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// TestSetIDFormsAreDistinct checks that two ids that a lenient base64url
// decoder reads as the same 32 bytes stay two ids.
func TestSetIDFormsAreDistinct(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	id := valet.HashSecret("x")
	stray := id[:42] + string(alphabet[strings.IndexByte(alphabet, id[42])^1])
	s.Add(valet.Revocation{SessionID: id, Until: clk.Now().Add(time.Hour)})
	if s.Revoked(stray) {
		t.Errorf("Revoked(%q) = true with only %q added", stray, id)
	}
	s.Add(valet.Revocation{SessionID: stray, Until: clk.Now().Add(time.Minute)})
	clk.Advance(2 * time.Minute)
	if !s.Revoked(id) || s.Revoked(stray) {
		t.Errorf("Revoked(%q), Revoked(%q) = %v, %v, want true, false", id, stray, s.Revoked(id), s.Revoked(stray))
	}
}

// TestSetSweep drives one Set through growth, a partial sweep, a revival and
// a full sweep, checking every id at each step.
func TestSetSweep(t *testing.T) {
	const n = 20000
	clk := newClock()
	s := NewSet(clk.Now)
	ids := makeIDs(n, 1)
	// Even ids end in a minute, odd ones in an hour.
	until := func(i int) time.Time {
		if i%2 == 0 {
			return clk.Now().Add(time.Minute)
		}
		return clk.Now().Add(time.Hour)
	}
	for i, sid := range ids {
		s.Add(valet.Revocation{SessionID: sid, Until: until(i)})
	}
	check := func(step string, want func(i int) bool) {
		t.Helper()
		for i, sid := range ids {
			if got := s.Revoked(sid); got != want(i) {
				t.Fatalf("%s: Revoked(ids[%d]) = %v, want %v", step, i, got, want(i))
			}
		}
	}
	check("after adds", func(int) bool { return true })
	if got := s.Len(); got != n {
		t.Errorf("Len() = %d, want %d", got, n)
	}

	clk.Advance(2 * time.Minute)
	check("after a minute", func(i int) bool { return i%2 == 1 })
	if got := s.Len(); got != n {
		t.Errorf("Len() before Sweep = %d, want %d", got, n)
	}
	s.Sweep()
	check("after Sweep", func(i int) bool { return i%2 == 1 })
	if got := s.Len(); got != n/2 {
		t.Errorf("Len() after Sweep = %d, want %d", got, n/2)
	}

	// A session revoked again after its entry was dropped is revoked again.
	s.Add(valet.Revocation{SessionID: ids[0], Until: clk.Now().Add(time.Hour)})
	check("after revival", func(i int) bool { return i%2 == 1 || i == 0 })
	if got := s.Len(); got != n/2+1 {
		t.Errorf("Len() after revival = %d, want %d", got, n/2+1)
	}

	clk.Advance(time.Hour)
	s.Sweep()
	check("after the hour", func(int) bool { return false })
	if got := s.Len(); got != 0 {
		t.Errorf("Len() after the last Sweep = %d, want 0", got)
	}
	for i := range s.tables {
		if s.tables[i].Load() != nil {
			t.Fatalf("shard %d still has a table once empty", i)
		}
	}
}

// TestSetBoundedWithoutSweep checks that what Add holds stays proportional
// to what is live even if Sweep never runs: a shard's table drops its
// expired entries when it is rebuilt.
func TestSetBoundedWithoutSweep(t *testing.T) {
	const perRound, rounds = 5000, 20
	clk := newClock()
	s := NewSet(clk.Now)
	ids := makeIDs(perRound*rounds, 2)
	for r := range rounds {
		for _, sid := range ids[r*perRound : (r+1)*perRound] {
			s.Add(valet.Revocation{SessionID: sid, Until: clk.Now().Add(time.Minute)})
		}
		clk.Advance(2 * time.Minute)
	}
	held := 0
	for i := range s.shards {
		held += s.shards[i].used
	}
	if held > 4*perRound {
		t.Errorf("%d slots held after %d rounds of %d entries, want at most %d", held, rounds, perRound, 4*perRound)
	}
	// The last round ended after the last Add: Len still counts it.
	if got := s.Len(); got != perRound {
		t.Errorf("Len() = %d, want %d", got, perRound)
	}
	t.Logf("%d slots held", held)
}

// TestSetConcurrentCanonical runs Add, Revoked, Len and Sweep at once on
// canonical ids while the clock moves, through many table rebuilds.
func TestSetConcurrentCanonical(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	pinned := makeIDs(64, 3)
	for _, sid := range pinned {
		s.Add(valet.Revocation{SessionID: sid, Until: clk.Now().Add(24 * time.Hour)})
	}

	const writers, perWriter, readers = 4, 3000, 4
	ids := makeIDs(writers*perWriter, 4)
	var stop atomic.Bool
	var lost atomic.Int64
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for i := r; !stop.Load(); i++ {
				// Entries present from the start must be found through
				// every rebuild and sweep of their shard.
				if !s.Revoked(pinned[i%len(pinned)]) {
					lost.Add(1)
				}
				s.Revoked(ids[i%len(ids)])
				if i%1000 == 0 {
					_ = s.Len()
				}
			}
		})
	}
	rg.Go(func() {
		for !stop.Load() {
			clk.Advance(time.Second)
			s.Sweep()
		}
	})
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			var batch []valet.Revocation
			for i, sid := range ids[w*perWriter : (w+1)*perWriter] {
				// Odd entries end within seconds, so sweeps and rebuilds
				// drop some while others are added.
				d := 12 * time.Hour
				if i%2 == 1 {
					d = time.Duration(i%5) * time.Second
				}
				r := valet.Revocation{SessionID: sid, Until: clk.Now().Add(d)}
				if w != 0 {
					s.Add(r)
					continue
				}
				// One writer loads batches, as a reconnecting node does.
				if batch = append(batch, r); len(batch) == 300 {
					s.addAll(batch)
					batch = batch[:0]
				}
			}
			s.addAll(batch)
		})
	}
	wg.Wait()
	stop.Store(true)
	rg.Wait()

	if got := lost.Load(); got != 0 {
		t.Errorf("pinned entries missing in %d reads", got)
	}
	clk.Advance(time.Hour)
	s.Sweep()
	for i, sid := range ids {
		if got, want := s.Revoked(sid), i%perWriter%2 == 0; got != want {
			t.Fatalf("Revoked(ids[%d]) = %v, want %v", i, got, want)
		}
	}
	if got, want := s.Len(), len(pinned)+len(ids)/2; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
}

// makeIDs returns n distinct canonical session ids, the same ones for the
// same seed.
func makeIDs(n int, seed byte) []string {
	r := rand.NewChaCha8([32]byte{seed})
	ids := make([]string, n)
	var b [32]byte
	for i := range ids {
		_, _ = r.Read(b[:])
		ids[i] = base64.RawURLEncoding.EncodeToString(b[:])
	}
	return ids
}

// TestSetSlotHashes checks that the tables hold the hash of each id as a
// reader computes it, from the string, whichever way the entry came in: a
// load into an empty set, a load merged into a set, or an Add, some of which
// rebuild tables, placing the entries by the hashes they hold.
func TestSetSlotHashes(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	ids := append(makeIDs(6000, 8), strings.Repeat("\xff", idLen))
	s.addAll(makeRevocations(ids[:2000], clk.Now()))
	s.addAll(makeRevocations(ids[2000:4000], clk.Now()))
	for _, r := range makeRevocations(ids[4000:], clk.Now()) {
		s.Add(r)
	}
	want := make(map[uint64]bool, len(ids))
	for _, sid := range ids {
		want[maphash.String(s.seed, sid)] = true
	}
	held := 0
	for i := range s.tables {
		s.tables[i].Load().each(func(sl *slot) {
			h := sl.hash()
			if !want[h] {
				t.Fatalf("shard %d holds hash %#x, of no id added", i, h)
			}
			if got := int(h >> (64 - shardBits)); got != i {
				t.Fatalf("shard %d holds hash %#x, of shard %d", i, h, got)
			}
			held++
		})
	}
	if held != len(ids) {
		t.Errorf("%d hashes held, want %d", held, len(ids))
	}
}

// TestSetHomeSlots checks that most ids sit in their home slots, which a
// lookup tries first and which spare a hit a wait for the control word. In a
// table half full, about four in five should.
func TestSetHomeSlots(t *testing.T) {
	// 256 ids a shard, in tables of 512 slots.
	const n = shardCount * 256
	clk := newClock()
	for _, tc := range []struct {
		name string
		add  func(s *Set, rs []valet.Revocation)
	}{
		{"load", (*Set).addAll},
		{"add", func(s *Set, rs []valet.Revocation) {
			for _, r := range rs {
				s.Add(r)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := NewSet(clk.Now)
			tc.add(s, makeRevocations(makeIDs(n, 12), clk.Now()))
			atHome, held := 0, 0
			for i := range s.tables {
				tab := s.tables[i].Load()
				tab.each(func(sl *slot) {
					h := sl.hash()
					j := int(h&tab.mask)*groupSlots + home(h)
					if &tab.slots[j] == sl {
						atHome++
					}
					held++
				})
			}
			if held != n {
				t.Fatalf("%d ids held, want %d", held, n)
			}
			share := float64(atHome) / float64(held)
			t.Logf("%.1f%% of ids in their home slots", 100*share)
			if share < 0.7 {
				t.Errorf("%.1f%% of ids in their home slots, want at least 70%%", 100*share)
			}
		})
	}
}

// TestSetLoadMerges loads batches large enough for addAll to build tables
// apart into sets of several sizes: an empty set, where the batch becomes
// the tables; one about as large, where both are copied into new tables;
// and a much larger one, where the batch is inserted in place.
func TestSetLoadMerges(t *testing.T) {
	tests := []struct {
		name        string
		held, batch int
		every       int // the batch brings a new Until for every this many held ids
	}{
		{"into empty", 0, 5000, 1},
		{"into similar", 4000, 5000, 3},
		{"into larger", 40000, 1000, 100},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			s := NewSet(clk.Now)
			ids := makeIDs(tc.held+tc.batch, 9)
			// Held entries end in an hour, except that a tenth end in a
			// minute; the batch brings an Until of 30 minutes for some held
			// ids, then its own ids, and entries that must change nothing.
			var rs []valet.Revocation
			for i, sid := range ids[:tc.held] {
				d := time.Hour
				if i%10 == 0 {
					d = time.Minute
				}
				s.Add(valet.Revocation{SessionID: sid, Until: clk.Now().Add(d)})
				if i%tc.every == 0 {
					rs = append(rs, valet.Revocation{SessionID: sid, Until: clk.Now().Add(30 * time.Minute)})
				}
			}
			for _, sid := range ids[tc.held:] {
				rs = append(rs, valet.Revocation{SessionID: sid, Until: clk.Now().Add(time.Hour)})
			}
			rs = append(rs,
				valet.Revocation{SessionID: valet.NewID(), Until: clk.Now()},
				valet.Revocation{SessionID: "", Until: clk.Now().Add(time.Hour)},
				valet.Revocation{SessionID: "not-canonical", Until: clk.Now().Add(time.Hour)},
			)
			s.addAll(rs)

			if got, want := s.Len(), tc.held+tc.batch+1; got != want {
				t.Errorf("Len() after load = %d, want %d", got, want)
			}
			if !s.Revoked("not-canonical") {
				t.Errorf(`Revoked("not-canonical") = false after load`)
			}
			check := func(when string, want func(i int) bool) {
				t.Helper()
				for i, sid := range ids {
					if got := s.Revoked(sid); got != want(i) {
						t.Fatalf("%s: Revoked(ids[%d]) = %v, want %v", when, i, got, want(i))
					}
				}
			}
			// The batch extends the held entries that ended in a minute and
			// does not shorten those that end in an hour.
			clk.Advance(15 * time.Minute)
			check("after 15 minutes", func(i int) bool { return i >= tc.held || i%10 != 0 || i%tc.every == 0 })
			clk.Advance(30 * time.Minute)
			check("after 45 minutes", func(i int) bool { return i >= tc.held || i%10 != 0 })
		})
	}
}

// TestSetRevive revokes again a session whose entry Sweep dropped but whose
// slot its table still holds.
func TestSetRevive(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	shardOf := func(sid string) uint64 { return maphash.String(s.seed, sid) >> (64 - shardBits) }
	ids := makeIDs(4000, 10)
	a, c := ids[0], ""
	for _, sid := range ids[1:] {
		if shardOf(sid) == shardOf(a) {
			c = sid
			break
		}
	}
	if c == "" {
		t.Fatal("no two ids share a shard")
	}
	s.Add(valet.Revocation{SessionID: a, Until: clk.Now().Add(time.Minute)})
	s.Add(valet.Revocation{SessionID: c, Until: clk.Now().Add(time.Hour)})
	clk.Advance(2 * time.Minute)
	s.Sweep()
	sh := &s.shards[shardOf(a)]
	if sh.used != 2 || sh.live != 1 {
		t.Fatalf("after Sweep: used, live = %d, %d, want 2, 1 (dropped in place)", sh.used, sh.live)
	}
	if s.Revoked(a) || s.Len() != 1 {
		t.Fatalf("after Sweep: Revoked(a), Len() = %v, %d, want false, 1", s.Revoked(a), s.Len())
	}
	s.Add(valet.Revocation{SessionID: a, Until: clk.Now().Add(time.Hour)})
	if !s.Revoked(a) || s.Len() != 2 || sh.used != 2 {
		t.Errorf("after a new Add: Revoked(a), Len(), used = %v, %d, %d, want true, 2, 2", s.Revoked(a), s.Len(), sh.used)
	}
}

func TestSetSweepOther(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	const short, long = 2000, 100
	for i := range short {
		s.Add(valet.Revocation{SessionID: fmt.Sprint("short-", i), Until: clk.Now().Add(time.Minute)})
	}
	for i := range long {
		s.Add(valet.Revocation{SessionID: fmt.Sprint("long-", i), Until: clk.Now().Add(time.Hour)})
	}
	clk.Advance(2 * time.Minute)
	s.Sweep()
	if got, want := s.Len(), long; got != want {
		t.Errorf("Len() = %d, want %d", got, want)
	}
	if got, want := s.others.Load(), int64(long); got != want {
		t.Errorf("others = %d, want %d", got, want)
	}
	for i := range short {
		if sid := fmt.Sprint("short-", i); s.Revoked(sid) {
			t.Fatalf("Revoked(%q) = true after its end", sid)
		}
	}
	for i := range long {
		if sid := fmt.Sprint("long-", i); !s.Revoked(sid) {
			t.Fatalf("Revoked(%q) = false before its end", sid)
		}
	}
	clk.Advance(time.Hour)
	s.Sweep()
	if got := s.others.Load(); got != 0 {
		t.Errorf("others = %d after the last Sweep, want 0", got)
	}
}

// TestStamp checks the stamps of times: seconds from the set's creation,
// rounded up for an entry's end and down for the current time, so that an
// entry counts while the time is before its Until, and for less than a
// second more.
func TestStamp(t *testing.T) {
	clk := newClock()
	epoch := clk.Now()
	s := NewSet(clk.Now)
	// Times in increasing order, some beyond what UnixNano covers or what
	// 32 bits of seconds from the epoch do.
	times := []time.Time{
		{},
		time.Date(1600, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Unix(0, math.MinInt64+1),
		epoch.Add(-time.Second),
		epoch,
		epoch.Add(time.Nanosecond),
		epoch.Add(time.Second),
		epoch.Add(time.Second + time.Nanosecond),
		epoch.Add(15 * time.Minute),
		time.Unix(0, math.MaxInt64),
		time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	for i, tm := range times {
		if s.stamp(tm) == dead {
			t.Errorf("stamp(%v) = dead", tm)
		}
		if i > 0 && s.stamp(tm) < s.stamp(times[i-1]) {
			t.Errorf("stamp(%v) = %d < stamp(%v) = %d", tm, s.stamp(tm), times[i-1], s.stamp(times[i-1]))
		}
		if i > 0 && s.stampNow(tm) < s.stampNow(times[i-1]) {
			t.Errorf("stampNow(%v) = %d < stampNow(%v) = %d", tm, s.stampNow(tm), times[i-1], s.stampNow(times[i-1]))
		}
	}
	for _, c := range []struct {
		in            time.Duration // from the epoch
		stamp, atTime uint32
	}{
		{-time.Hour, 1, 0},
		{0, 1, 0},
		{time.Nanosecond, 1, 0},
		{time.Second - time.Nanosecond, 1, 0},
		{time.Second, 1, 1},
		{time.Second + time.Nanosecond, 2, 1},
		{15 * time.Minute, 900, 900},
	} {
		tm := epoch.Add(c.in)
		if got := s.stamp(tm); got != c.stamp {
			t.Errorf("stamp(epoch%+v) = %d, want %d", c.in, got, c.stamp)
		}
		if got := s.stampNow(tm); got != c.atTime {
			t.Errorf("stampNow(epoch%+v) = %d, want %d", c.in, got, c.atTime)
		}
	}
	if got, want := s.stamp(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)), uint32(math.MaxUint32); got != want {
		t.Errorf("stamp(year 3000) = %d, want %d", got, want)
	}
	// An entry counts before its Until and stops within a second after.
	r := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		until := epoch.Add(time.Duration(r.Int64N(int64(time.Hour))))
		before := until.Add(-time.Duration(1 + r.Int64N(int64(2*time.Second))))
		if s.stamp(until) <= s.stampNow(before) {
			t.Fatalf("an entry ending at epoch+%v has ended at epoch+%v", until.Sub(epoch), before.Sub(epoch))
		}
		if s.stamp(until) > s.stampNow(until.Add(time.Second)) {
			t.Fatalf("an entry ending at epoch+%v counts a second later", until.Sub(epoch))
		}
	}
	// A time read with a monotonic clock stamps as its wall clock.
	s = NewSet(nil)
	if now := time.Now(); s.stamp(now) != s.stamp(now.Round(0)) || s.stampNow(now) != s.stampNow(now.Round(0)) {
		t.Errorf("stamp(now) differs from stamp of its wall time")
	}
}
