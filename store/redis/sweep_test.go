package redis

import (
	"slices"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/valetauth/valet"
)

func TestSweepPrunesIndexes(t *testing.T) {
	ctx := testContext(t)
	s := openTest(t, Config{})
	n := time.Now()
	user, other := valet.NewID(), valet.NewID()

	// More sessions than one script run looks at, so that pruning goes on
	// from a cursor; Redis keeps so large a zset as a hash table.
	const sessions = 3*pruneBatch + 17
	var kept, gone []string
	for i := range sessions {
		sess := newSession(user, n.Add(time.Duration(i)*time.Millisecond))
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if i%5 == 0 {
			kept = append(kept, sess.ID)
		} else {
			gone = append(gone, sess.ID)
		}
	}
	otherSession := newSession(other, n)
	if err := s.CreateSession(ctx, otherSession); err != nil {
		t.Fatal(err)
	}
	hybrid := newSession(user, n)
	if err := s.CreateSession(ctx, hybrid); err != nil {
		t.Fatal(err)
	}
	kept = append(kept, hybrid.ID)
	var keptFamilies, goneFamilies []string
	for i := range 6 {
		f := newFamily(user, "", n)
		if i%2 == 0 {
			f.SessionID = hybrid.ID
		}
		if err := s.CreateRefreshFamily(ctx, f, valet.HashSecret(valet.NewID())); err != nil {
			t.Fatal(err)
		}
		if i < 2 {
			keptFamilies = append(keptFamilies, f.ID)
		} else {
			goneFamilies = append(goneFamilies, f.ID)
		}
	}

	// Deleting the records is what Redis does when their time is up.
	var del []string
	for _, id := range gone {
		del = append(del, s.sessionKey(id))
	}
	for _, id := range goneFamilies {
		del = append(del, s.familyKey(id))
	}
	if err := s.client.Del(ctx, del...).Err(); err != nil {
		t.Fatal(err)
	}

	// Sweep prunes whatever now is: a record whose key is there stays.
	got, err := s.Sweep(ctx, n.Add(365*24*time.Hour))
	if err != nil || got != 0 {
		t.Fatalf("Sweep = %d, %v; want 0, nil", got, err)
	}

	members := func(key string, zset bool) []string {
		t.Helper()
		var (
			m   []string
			err error
		)
		if zset {
			m, err = s.client.ZRange(ctx, key, 0, -1).Result()
		} else {
			m, err = s.client.SMembers(ctx, key).Result()
		}
		if err != nil && err != goredis.Nil {
			t.Fatal(err)
		}
		slices.Sort(m)
		return m
	}
	sorted := func(ids ...string) []string {
		ids = slices.Clone(ids)
		slices.Sort(ids)
		return ids
	}
	tests := []struct {
		name string
		key  string
		zset bool
		want []string
	}{
		{"user's sessions", s.userSessionsKey(user), true, sorted(kept...)},
		{"other user's sessions", s.userSessionsKey(other), true, []string{otherSession.ID}},
		{"user's families", s.userFamiliesKey(user), false, sorted(keptFamilies...)},
		{"session's families", s.sessionFamiliesKey(hybrid.ID), false, keptFamilies[:1]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := members(tc.key, tc.zset); !slices.Equal(got, tc.want) {
				t.Errorf("index holds %d entries, want %d", len(got), len(tc.want))
			}
		})
	}
	if pruned, err := s.pruneIndexes(ctx); err != nil || pruned != 0 {
		t.Errorf("pruning again removed %d entries, %v; want 0, nil", pruned, err)
	}
}

func TestGlobEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"valet:", "valet:"},
		{"a*b?c[d]e\\f^", `a\*b\?c\[d\]e\\f\^`},
	}
	for _, tc := range tests {
		if got := globEscape(tc.in); got != tc.want {
			t.Errorf("globEscape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
