package revoke

import (
	"fmt"
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
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clk := newClock()
			s := NewSet(clk.Now)
			for _, a := range tc.adds {
				s.Add(valet.Revocation{SessionID: a.sid, Until: clk.Now().Add(a.in)})
			}
			clk.Advance(tc.advance)
			if tc.sweep {
				s.Sweep()
			}
			for _, p := range tc.probes {
				if got := s.Revoked(p.sid); got != p.want {
					t.Errorf("Revoked(%q) = %v, want %v", p.sid, got, p.want)
				}
			}
			if got := s.Len(); got != tc.wantLen {
				t.Errorf("Len() = %d, want %d", got, tc.wantLen)
			}
		})
	}
}

func TestSetAddDropsExpired(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	s.Add(valet.Revocation{SessionID: "old", Until: clk.Now().Add(time.Minute)})
	clk.Advance(2 * time.Minute)
	s.Add(valet.Revocation{SessionID: "new", Until: clk.Now().Add(time.Minute)})
	if got, want := s.Len(), 1; got != want {
		t.Errorf("Len() after an Add past an expiry = %d, want %d", got, want)
	}
}

func TestSetLoadKeepsEntries(t *testing.T) {
	clk := newClock()
	s := NewSet(clk.Now)
	s.Add(valet.Revocation{SessionID: "heard", Until: clk.Now().Add(time.Hour)})
	// A load from the store that predates a message must not undo it.
	s.addAll([]valet.Revocation{
		{SessionID: "stored", Until: clk.Now().Add(time.Hour)},
		{SessionID: "heard", Until: clk.Now().Add(time.Minute)},
	})
	clk.Advance(30 * time.Minute)
	for _, sid := range []string{"heard", "stored"} {
		if !s.Revoked(sid) {
			t.Errorf("Revoked(%q) = false after load, want true", sid)
		}
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
	for _, sid := range []string{"a", "b"} {
		if got := testing.AllocsPerRun(100, func() { s.Revoked(sid) }); got != 0 {
			t.Errorf("Revoked(%q) allocates %v times, want 0", sid, got)
		}
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
