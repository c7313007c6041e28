// Package revoke keeps the set of revoked hybrid-mode sessions in memory on
// every node and broadcasts each revocation to the other nodes.
//
// A hybrid access token names its server session in the sid claim. Checking
// it costs a signature check, a claims check and a lookup of sid in a Set: no
// store round trip. A Node keeps its Set current: it loads the revocations
// recorded in a valet.RevocationStore when it starts and each time its
// Transport reconnects, and it adds every revocation that any node publishes.
// While the Transport has been down for longer than Config.MaxStale, a
// message may have been missed, so Node.Check falls back to asking the
// session store whether the session still exists.
package revoke

import (
	"hash/maphash"
	"math"
	"math/bits"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valetauth/valet"
)

// Set is the in-memory revocation set. An entry lives only until its Until,
// after which every token that could name the session has expired anyway,
// so the set holds the sessions revoked within the lifetime of one access
// token: at most a few million on a large deployment.
//
// The set is split into shards by a seeded 64-bit hash of the session id. An
// id of 43 bytes, the length of every real one (unpadded base64url of 32
// bytes, the form of valet.NewID and valet.HashSecret), is held in its
// shard's open-addressing hash table not as its bytes but as that hash, with
// its Until in whole seconds: 12 bytes a slot where the id and a nanosecond
// Until took 56, so that the slots of a million entries take 24MB, not
// 128MB, which a large last-level cache can hold (see table). Readers
// reach a table through an atomic pointer and probe it with atomic loads, so
// Revoked takes no lock and allocates nothing however many goroutines call
// it. A writer locks one shard, so Add is O(1), amortized over the
// occasional rebuild of one shard's table, which drops the shard's expired
// entries on the way and places each entry by its stored hash; Sweep goes
// one shard at a time. An id of any other length is kept in a map in its
// shard, which Revoked reads under the shard's read lock.
//
// Holding a hash rather than the id can only err one way: an id that is not
// in the set is reported revoked when its hash equals, in all 64 bits, that
// of an entry. The seed is random and secret to the process, so no one can
// aim for a collision, and with maphash as good as a random function of it
// the chance for an id not held is at most n/2^64 a check with n entries:
// the 8 bits that pick the shard always agree, the other 56 must too, with
// one of the n/256 entries of the shard. That is 5e-14 at a million
// entries: one false refusal in seven months at a million checks a second,
// in sixty years at ten thousand. Such an error fails closed: a token of a
// live session is refused as if the session had been revoked.
//
// An entry ends at its Until rounded up to a whole second from the set's
// creation, never earlier: it counts for less than a second longer than
// asked, when no token that names the session is valid anyway. With the real
// clock, a hit reads the monotonic clock alone and adds the wall clock's
// offset from it as of the latest Add or Sweep (a node sweeps every minute),
// so after the wall clock is set back by d an entry may end up to d early
// until the next of those.
//
// A Set is safe for concurrent use. The zero Set is not usable; call NewSet.
type Set struct {
	now  func() time.Time
	seed maphash.Seed
	// epoch is the wall time of the set's creation, without its monotonic
	// reading: stamps count seconds from it.
	epoch time.Time
	// mono is set when now is time.Now. A hit then reads the monotonic
	// clock alone, as time.Since(start), which costs half what time.Now
	// does, and adds skew, the nanoseconds by which the wall clock has
	// moved from the monotonic one since start, as of the latest full
	// reading (see clock). A hit's clock comes after its loads from the
	// table, so it adds its whole cost to the hit's.
	mono  bool
	start time.Time
	skew  atomic.Int64
	// others counts the ids held in the shards' maps, so that Revoked can
	// skip them while there are none.
	others atomic.Int64
	// tables[i] is shard i's table of canonical ids, nil when it has none.
	// It is apart from shards so that readers share cache lines that only
	// a rebuild writes.
	tables [shardCount]atomic.Pointer[table]
	shards [shardCount]shard
	// mark is the stamp of the latest Add that changed the set: Len leaves
	// out the entries that had ended by then, as if that Add had dropped
	// them.
	mark atomic.Uint32
}

const (
	shardBits  = 8
	shardCount = 1 << shardBits
	// tagShift puts a slot's 7-bit tag just below the shard bits of the
	// hash, and homeShift the 3 bits of its home slot below those; the group
	// index comes from the low bits.
	tagShift  = 64 - shardBits - 7
	homeShift = tagShift - 3
	// groupSlots is the number of slots that one control word describes.
	groupSlots = 8
	// A table is rebuilt when an insert would take it past 7/8 full. One
	// that Add rebuilds is at most 7/16 full; one that a load builds may be
	// fuller.
	maxLoadNum, maxLoadDen = 7, 8

	dead = 0 // the until of a slot whose entry Sweep dropped

	idLen = 43 // the length of a canonical id, and of the ids in tables

	lsb = 0x0101010101010101
	msb = 0x8080808080808080
)

// shard is one shard's writer state.
type shard struct {
	// mu is held by writers of the shard. Readers of ids of idLen bytes
	// never take it; readers of other ids and Len take it for reading.
	mu sync.RWMutex
	// other holds the ids whose length is not idLen, with the stamps of
	// their Until.
	other map[string]uint32
	// used counts the table's occupied slots, including dropped ones; live
	// counts those not dropped, expired or not.
	used, live int
	// No entry of the table (tabMin) or of other (otherMin) that is not
	// dropped ends before these, so Sweep and Len can skip a shard where
	// nothing has ended.
	tabMin, otherMin uint32
}

// table is an open-addressing hash table of the hashes of ids of idLen bytes
// in groups of eight slots, probed group by group. Once readers can see a
// table, a slot is never emptied: a dropped entry keeps its slot and hash
// until the table is rebuilt, so a probe never stops short of an entry that
// was there when it began.
//
// The hash of an id names, besides its group, a home slot in that group,
// which the id takes when it is free: about four ids in five do, in a table
// half full. A lookup tries the home slot before the rest of the group. Its
// address comes from the hash alone, so a processor that guesses the tag
// there matches fetches the slot while the control word is still on its
// way: a hit then waits for the cache or memory once, not twice. With
// 12-byte slots the tables of a million entries, at most 7/8 full and
// usually about half, take 24MB of slots and 2MB of control words. A
// last-level cache that has that much to spare holds them, and a hit at
// random then waits for it rather than for memory; one shared with other
// work, as on a small virtual machine, may not (see BenchmarkSetFloor).
type table struct {
	// ctrl[g] has a byte for each slot of group g: 0 while the slot is
	// free, else 0x80 | the tag of its hash. A writer fills a slot before it
	// sets the slot's byte. The control words are apart from the slots so
	// that all of them, a byte per slot, stay in cache: a miss, the common
	// case, reads nothing else but for one in 128 tags in use.
	ctrl  []uint64
	slots []slot // group g is slots[g*groupSlots:][:groupSlots]
	mask  uint64 // len(ctrl) - 1, a power of two less one
}

// slot holds one entry in 12 bytes: the hash of its id in two halves, which
// keep the slot 4-byte aligned where a uint64 would pad it to 16, and the
// stamp of its Until. The hash stands for the id when a reader compares and
// when a rebuild places the entry, which needs no id back.
type slot struct {
	lo, hi uint32
	until  uint32 // stamp of the entry's Until, or dead
}

// hash returns the hash of the slot's id.
func (sl *slot) hash() uint64 { return uint64(sl.hi)<<32 | uint64(sl.lo) }

// NewSet returns an empty Set that reads the time from now (default
// time.Now when now is nil). The set's epoch, from which its stamps count
// seconds, is the time of the call. With time.Now, Revoked reads the
// monotonic clock only (see Set).
func NewSet(now func() time.Time) *Set {
	if now == nil {
		now = time.Now
	}
	start := now()
	s := &Set{now: now, seed: maphash.MakeSeed(), epoch: start.Round(0), start: start}
	// Only time.Now's code is at time.Now's address.
	s.mono = reflect.ValueOf(now).Pointer() == reflect.ValueOf(time.Now).Pointer()
	for i := range s.shards {
		s.shards[i].tabMin = math.MaxUint32
		s.shards[i].otherMin = math.MaxUint32
	}
	return s
}

// Add records r. An entry for the same session keeps the later Until. A
// revocation with an empty SessionID, or whose Until is not after now, is
// ignored: no token can be refused by it.
func (s *Set) Add(r valet.Revocation) {
	now := s.clock()
	if s.add(r, now) {
		s.mark.Store(s.stampNow(now))
	}
}

// addAll records every revocation in rs, reading the clock once. A large rs,
// such as the load from the store when a node starts or reconnects, is
// first put into new tables that no reader sees, so that it takes plain
// stores; then each shard in turn takes its new table, or merges it with
// the one readers see.
func (s *Set) addAll(rs []valet.Revocation) {
	now := s.clock()
	changed := false
	if len(rs) >= shardCount {
		changed = s.load(rs, now)
	} else {
		for _, r := range rs {
			if s.add(r, now) {
				changed = true
			}
		}
	}
	if changed {
		s.mark.Store(s.stampNow(now))
	}
}

// add records r as Add does, at time now, and reports whether the set
// changed.
func (s *Set) add(r valet.Revocation, now time.Time) bool {
	if r.SessionID == "" || !r.Until.After(now) {
		return false
	}
	until := s.stamp(r.Until)
	h := maphash.String(s.seed, r.SessionID)
	i := int(h >> (64 - shardBits))
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if len(r.SessionID) != idLen {
		return s.addOther(sh, r.SessionID, until)
	}
	return s.insert(i, h, until, s.stampNow(now))
}

// insert records the id whose hash is h with until in shard i's table that
// readers see, and reports whether the set changed. The caller holds the
// shard's lock.
func (s *Set) insert(i int, h uint64, until, now uint32) bool {
	sh := &s.shards[i]
	t := s.tables[i].Load()
	if t != nil {
		j, found := t.find(h)
		if found {
			sl := &t.slots[j]
			if sl.until >= until {
				return false
			}
			if sl.until == dead {
				sh.live++
			}
			atomic.StoreUint32(&sl.until, until)
			sh.tabMin = min(sh.tabMin, until)
			return true
		}
		if sh.used >= len(t.slots)*maxLoadNum/maxLoadDen {
			t = s.rebuild(i, now, 1, true)
		}
	} else {
		t = newTable(1)
		s.tables[i].Store(t)
	}
	g, j := t.free(h)
	sl := &t.slots[j]
	sl.lo, sl.hi = uint32(h), uint32(h>>32)
	atomic.StoreUint32(&sl.until, until)
	// The slot is complete before its control byte says so: a reader that
	// sees the byte sees the hash.
	atomic.StoreUint64(&t.ctrl[g], t.ctrl[g]|uint64(tag(h))<<(8*(j%groupSlots)))
	sh.used++
	sh.live++
	sh.tabMin = min(sh.tabMin, until)
	return true
}

// batch is a table that no reader sees, being filled for one shard.
type batch struct {
	t      *table
	n      int    // entries in t
	minEnd uint32 // least until in t
}

// load records rs as addAll does and reports whether the set changed.
func (s *Set) load(rs []valet.Revocation, now time.Time) bool {
	var size [shardCount]int
	for _, r := range rs {
		if len(r.SessionID) == idLen {
			size[maphash.String(s.seed, r.SessionID)>>(64-shardBits)]++
		}
	}
	batches := make([]batch, shardCount)
	changed := false
	for _, r := range rs {
		if r.SessionID == "" || !r.Until.After(now) {
			continue
		}
		if len(r.SessionID) != idLen {
			if s.add(r, now) {
				changed = true
			}
			continue
		}
		until := s.stamp(r.Until)
		h := maphash.String(s.seed, r.SessionID)
		b := &batches[h>>(64-shardBits)]
		if b.t == nil {
			b.t, b.minEnd = newTable(groupsFor(size[h>>(64-shardBits)])), math.MaxUint32
		}
		if added, _ := b.t.put(h, until); added {
			b.n++
		}
		b.minEnd = min(b.minEnd, until)
	}
	stampNow := s.stampNow(now)
	for i := range batches {
		if batches[i].n > 0 && s.merge(i, &batches[i], stampNow) {
			changed = true
		}
	}
	return changed
}

// merge records the entries of b in shard i and reports whether the set
// changed. It copies the smaller of b and the shard's table into the other,
// or into a new table.
func (s *Set) merge(i int, b *batch, now uint32) bool {
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.used == 0 {
		// As when a node starts: b becomes the table.
		s.tables[i].Store(b.t)
		sh.used, sh.live, sh.tabMin = b.n, b.n, b.minEnd
		return true
	}
	changed := false
	if b.n*4 < sh.used {
		b.t.each(func(sl *slot) {
			if s.insert(i, sl.hash(), sl.until, now) {
				changed = true
			}
		})
		return changed
	}
	live := sh.live
	t := s.copyTable(i, now, b.n, false)
	changed = sh.live < live
	b.t.each(func(sl *slot) {
		added, ok := t.put(sl.hash(), sl.until)
		if added {
			sh.used++
			sh.live++
		}
		if ok {
			sh.tabMin = min(sh.tabMin, sl.until)
			changed = true
		}
	})
	s.tables[i].Store(t)
	return changed
}

// addOther records in sh, whose lock the caller holds, an id whose length
// is not idLen.
func (s *Set) addOther(sh *shard, sid string, until uint32) bool {
	old, ok := sh.other[sid]
	switch {
	case ok && old >= until:
		return false
	case ok:
		sh.other[sid] = until
	default:
		if sh.other == nil {
			sh.other = make(map[string]uint32)
		}
		// The id may be a slice of a larger message; hold only its bytes.
		sh.other[strings.Clone(sid)] = until
		s.others.Add(1)
	}
	sh.otherMin = min(sh.otherMin, until)
	return true
}

// Revoked reports whether sid has an entry that has not ended by now (see
// Set for when an entry ends, and for the rare id reported revoked that was
// never added). It returns false for an unknown or empty sid. It does not
// allocate, and for a sid of a canonical id's length it takes no lock.
func (s *Set) Revoked(sid string) bool {
	if sid == "" {
		return false
	}
	h := maphash.String(s.seed, sid)
	i := h >> (64 - shardBits)
	var until uint32
	found := false
	if len(sid) == idLen {
		if t := s.tables[i].Load(); t != nil {
			until, found = t.lookup(h)
		}
	} else if s.others.Load() != 0 {
		sh := &s.shards[i]
		sh.mu.RLock()
		until, found = sh.other[sid]
		sh.mu.RUnlock()
	}
	// The clock is read only on a hit: most ids asked about are not revoked.
	return found && until > s.stampHit()
}

// Len returns the number of entries held, including those that expired
// since the last Add or Sweep. It locks each shard in turn and, in a shard
// where an entry has ended since, counts entry by entry: it is meant for
// logs and tests, not for every request.
func (s *Set) Len() int {
	mark := s.mark.Load()
	n := 0
	for i := range s.shards {
		n += s.count(i, mark)
	}
	return n
}

// count returns how many entries of shard i end after mark.
func (s *Set) count(i int, mark uint32) int {
	sh := &s.shards[i]
	sh.mu.RLock()
	defer sh.mu.RUnlock()
	if min(sh.tabMin, sh.otherMin) > mark {
		return sh.live + len(sh.other)
	}
	n := 0
	if t := s.tables[i].Load(); t != nil {
		t.each(func(sl *slot) {
			if sl.until > mark {
				n++
			}
		})
	}
	for _, until := range sh.other {
		if until > mark {
			n++
		}
	}
	return n
}

// Sweep drops the entries that have ended by now. It locks one shard at a
// time, and only the writers and the readers of the map of that shard wait
// for it; it skips a shard where nothing has ended.
func (s *Set) Sweep() {
	now := s.stampNow(s.clock())
	for i := range s.shards {
		s.sweep(i, now)
	}
}

func (s *Set) sweep(i int, now uint32) {
	sh := &s.shards[i]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.tabMin <= now {
		// Marking entries dropped in place spares a copy of the table
		// until dropped entries outnumber the others.
		least := uint32(math.MaxUint32)
		s.tables[i].Load().each(func(sl *slot) {
			switch {
			case sl.until == dead:
			case sl.until <= now:
				atomic.StoreUint32(&sl.until, dead)
				sh.live--
			default:
				least = min(least, sl.until)
			}
		})
		sh.tabMin = least
		if sh.used-sh.live > sh.live {
			s.rebuild(i, now, 0, true)
		}
	}
	if sh.otherMin <= now {
		least, dropped := uint32(math.MaxUint32), 0
		for sid, until := range sh.other {
			if until <= now {
				delete(sh.other, sid)
				dropped++
			} else {
				least = min(least, until)
			}
		}
		sh.otherMin = least
		s.others.Add(int64(-dropped))
		// A Go map never shrinks; a fresh one lets the memory of a burst of
		// revocations go once most of it has expired.
		switch {
		case len(sh.other) == 0:
			sh.other = nil
		case dropped > len(sh.other):
			sh.other = cloneMap(sh.other)
		}
	}
}

func cloneMap(m map[string]uint32) map[string]uint32 {
	c := make(map[string]uint32, len(m))
	for k, v := range m {
		c[k] = v
	}
	return c
}

// rebuild replaces shard i's table with a copy from copyTable and returns
// it. Readers go on probing the old table until they load the new one; both
// hold every live entry of the shard.
func (s *Set) rebuild(i int, now uint32, extra int, spare bool) *table {
	t := s.copyTable(i, now, extra, spare)
	s.tables[i].Store(t)
	return t
}

// copyTable returns a new table, not yet seen by readers, that holds shard
// i's entries that end after now and has room for extra more, and sets the
// shard's counts to match it. With spare, the table is at most half as full
// as a table may get, so that as many inserts as it took to build come
// before the next rebuild. It returns nil for a table that would be empty.
// The caller holds the shard's lock.
func (s *Set) copyTable(i int, now uint32, extra int, spare bool) *table {
	sh := &s.shards[i]
	old := s.tables[i].Load()
	kept := 0
	old.each(func(sl *slot) {
		if sl.until > now {
			kept++
		}
	})
	sh.used, sh.live, sh.tabMin = kept, kept, math.MaxUint32
	if kept+extra == 0 {
		return nil
	}
	need := kept + extra
	if spare {
		need *= 2
	}
	t := newTable(groupsFor(need))
	old.each(func(sl *slot) {
		if sl.until > now {
			t.place(*sl)
			sh.tabMin = min(sh.tabMin, sl.until)
		}
	})
	return t
}

// groupsFor returns the number of groups of the smallest table that holds
// n entries.
func groupsFor(n int) int {
	groups := 1
	for n*maxLoadDen > groups*groupSlots*maxLoadNum {
		groups *= 2
	}
	return groups
}

func newTable(groups int) *table {
	return &table{
		ctrl:  make([]uint64, groups),
		slots: make([]slot, groups*groupSlots),
		mask:  uint64(groups - 1),
	}
}

// lookup returns the until of the slot of the id whose hash is h.
func (t *table) lookup(h uint64) (until uint32, found bool) {
	want := tag(h)
	g := h & t.mask
	ctrl := atomic.LoadUint64(&t.ctrl[g])
	// The home slot first, and with an address that does not depend on
	// ctrl, so that the slot can be on its way while ctrl is.
	j := home(h)
	if uint8(ctrl>>(8*j)) == want {
		if sl := &t.slots[int(g)*groupSlots+j]; sl.hash() == h {
			return atomic.LoadUint32(&sl.until), true
		}
	}
	for step := uint64(1); ; step++ {
		for m := match(ctrl, want); m != 0; m &= m - 1 {
			sl := &t.slots[int(g)*groupSlots+bits.TrailingZeros64(m)/8]
			if sl.hash() == h {
				return atomic.LoadUint32(&sl.until), true
			}
		}
		if ^ctrl&msb != 0 {
			// A free slot ends the probe: the id would have been put there.
			return 0, false
		}
		g = (g + step) & t.mask
		ctrl = atomic.LoadUint64(&t.ctrl[g])
	}
}

// find returns the slot of the id whose hash is h, and whether it is there.
// The caller holds the shard's lock.
func (t *table) find(h uint64) (j int, found bool) {
	want := tag(h)
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		ctrl := t.ctrl[g]
		for m := match(ctrl, want); m != 0; m &= m - 1 {
			j := int(g)*groupSlots + bits.TrailingZeros64(m)/8
			if t.slots[j].hash() == h {
				return j, true
			}
		}
		if ^ctrl&msb != 0 {
			return 0, false
		}
	}
}

// free returns the group and the slot for a new entry of hash h: the home
// slot of the first group on its probe sequence that has a free slot, if
// that is free, else that group's first free slot. The caller holds the
// shard's lock, and the table is never full.
func (t *table) free(h uint64) (g uint64, j int) {
	for g, step := h&t.mask, uint64(1); ; g, step = (g+step)&t.mask, step+1 {
		if empty := ^t.ctrl[g] & msb; empty != 0 {
			if home := home(h); empty>>(8*home)&0x80 != 0 {
				return g, int(g)*groupSlots + home
			}
			return g, int(g)*groupSlots + bits.TrailingZeros64(empty)/8
		}
	}
}

// put records the id whose hash is h with until in t, which readers do not
// see yet and which has room for it. It reports whether the id was new to t
// and whether t changed.
func (t *table) put(h uint64, until uint32) (added, changed bool) {
	j, found := t.find(h)
	switch {
	case !found:
		t.place(slot{lo: uint32(h), hi: uint32(h >> 32), until: until})
		return true, true
	case t.slots[j].until < until:
		t.slots[j].until = until
		return false, true
	}
	return false, false
}

// place puts sl in the first free slot on the probe sequence of its hash,
// with plain stores: t is not yet seen by readers.
func (t *table) place(sl slot) {
	h := sl.hash()
	g, j := t.free(h)
	t.slots[j] = sl
	t.ctrl[g] |= uint64(tag(h)) << (8 * (j % groupSlots))
}

// each calls f for every occupied slot of t, which may be nil. The caller
// holds the shard's lock.
func (t *table) each(f func(*slot)) {
	if t == nil {
		return
	}
	for g, ctrl := range t.ctrl {
		for m := ctrl & msb; m != 0; m &= m - 1 {
			f(&t.slots[g*groupSlots+bits.TrailingZeros64(m)/8])
		}
	}
}

// tag returns the control byte of a slot whose id hashes to h.
func tag(h uint64) uint8 { return 0x80 | uint8(h>>tagShift)&0x7f }

// home returns the index in its group of the home slot of an id that hashes
// to h.
func home(h uint64) int { return int(h>>homeShift) & (groupSlots - 1) }

// match returns a word with the top bit set in each byte of ctrl equal to
// want, and no other bit.
func match(ctrl uint64, want uint8) uint64 {
	x := ctrl ^ lsb*uint64(want)
	// A byte's top bit ends up set iff the byte of x is zero; no carry
	// crosses bytes, so there are no false matches.
	return ^((x&^msb + ^uint64(msb)) | x | ^uint64(msb))
}

// stamp returns the stamp of an entry that ends at t: the whole seconds
// from the set's epoch to t, rounded up so that no entry ends before its
// Until, at least 1 and at most math.MaxUint32 (136 years on). No time has
// the stamp dead.
func (s *Set) stamp(t time.Time) uint32 {
	d := t.Sub(s.epoch)
	sec := d / time.Second
	if d%time.Second > 0 {
		sec++
	}
	return uint32(min(max(sec, 1), math.MaxUint32))
}

// stampNow returns the stamp of the current time now: the whole seconds from
// the set's epoch to now, rounded down, so that an entry counts while its
// stamp is greater. It is 0 before the epoch.
func (s *Set) stampNow(now time.Time) uint32 {
	return uint32(min(max(now.Sub(s.epoch)/time.Second, 0), math.MaxUint32))
}

// clock returns the time now, and with the real clock records the wall
// clock's move from the monotonic one for stampHit. Add and Sweep read the
// time through it.
func (s *Set) clock() time.Time {
	now := s.now()
	if s.mono {
		s.skew.Store(int64(now.Round(0).Sub(s.epoch) - now.Sub(s.start)))
	}
	return now
}

// stampHit returns the stamp of the current time, for Revoked. With the real
// clock it reads the monotonic clock and adds the skew that clock last
// recorded: the wall time as of then plus the time elapsed since. After
// the wall clock is set back, entries may so end early until the next Add
// or Sweep.
func (s *Set) stampHit() uint32 {
	if !s.mono {
		return s.stampNow(s.now())
	}
	d := time.Since(s.start) + time.Duration(s.skew.Load())
	return uint32(min(max(d/time.Second, 0), math.MaxUint32))
}
