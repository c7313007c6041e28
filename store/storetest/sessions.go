package storetest

import (
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/valetauth/valet"
)

// newSession returns a live session of userID created at created by a
// password sign-in, keyed, as sessions are, by the hash of a fresh secret.
func newSession(userID string, created time.Time) valet.Session {
	return valet.Session{
		ID:            valet.HashSecret(valet.NewID()),
		UserID:        userID,
		Mode:          valet.ModeSession,
		CreatedAt:     created,
		LastSeenAt:    created,
		ExpiresAt:     created.Add(24 * time.Hour),
		IdleExpiresAt: created.Add(2 * time.Hour),
		UserAgent:     "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
		IP:            "203.0.113.7",
		AMR:           []string{valet.AMRPassword},
		AuthTime:      created,
	}
}

// The bounds, in bytes, of the client text a session records. A store cuts
// longer text to them (see checkCleaned).
const (
	maxUserAgent = 512
	maxIP        = 64
)

// The bounds of a session's AMR: how many methods it keeps, and how many
// bytes a method's name may have.
const (
	maxAMR       = 8
	maxAMRMethod = 16
)

// checkCleaned checks that a store kept the client text in as it must:
// valid UTF-8 with each run of invalid bytes as one U+FFFD, no NUL bytes,
// and cut after the last whole character that fits in bound bytes.
func checkCleaned(tb testing.TB, field, got, in string, bound int) {
	tb.Helper()
	if !utf8.ValidString(got) {
		tb.Errorf("%s = %q, not valid UTF-8", field, got)
	}
	if strings.IndexByte(got, 0) >= 0 {
		tb.Errorf("%s = %q holds a NUL byte", field, got)
	}
	if len(got) > bound {
		tb.Errorf("%s has %d bytes, want at most %d", field, len(got), bound)
	}
	full := strings.ReplaceAll(strings.ToValidUTF8(in, "\uFFFD"), "\x00", "")
	if !strings.HasPrefix(full, got) {
		tb.Fatalf("%s = %q, not a prefix of the cleaned input %q", field, got, full)
	}
	if rest := full[len(got):]; rest != "" {
		if _, size := utf8.DecodeRuneInString(rest); len(got)+size <= bound {
			tb.Errorf("%s = %q (%d bytes) stops before %q, which fits in %d bytes", field, got, len(got), rest, bound)
		}
	}
}

func testSessions(t *testing.T, newStores func(testing.TB) valet.Stores) {
	run := member(t, newStores, func(st valet.Stores) (valet.SessionStore, bool) { return st.Sessions, st.Sessions != nil })

	run("CreateAndFind", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		user := valet.NewID()

		hybrid := newSession(user, n.Add(-time.Minute))
		hybrid.Mode = valet.ModeHybrid
		hybrid.LastSeenAt = n
		hybrid.IP = "2001:db8::1"
		hybrid.UserAgent = ""
		noIdle := newSession(user, n)
		noIdle.IdleExpiresAt = time.Time{}
		unicode := newSession(valet.NewID(), n)
		unicode.UserAgent = "Ünïcode agent/1.0 \"quoted\" ; 日本語"
		longLived := newSession(user, n)
		longLived.ExpiresAt = n.AddDate(1, 0, 0)
		longLived.IdleExpiresAt = n.AddDate(0, 1, 0)
		// A session made before sign-ins were recorded, or by a caller
		// that records none, has no methods and no time.
		noAuth := newSession(user, n)
		noAuth.AMR, noAuth.AuthTime = nil, time.Time{}
		emptyAMR := newSession(user, n)
		emptyAMR.AMR = []string{}
		multi := newSession(user, n)
		multi.AMR = []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}
		multi.AuthTime = n.Add(-time.Second)
		longestAMR := newSession(user, n)
		longestAMR.AMR = []string{"a", "b", "c", "d", "e", "f", "g", strings.Repeat("z", maxAMRMethod)}

		tests := []struct {
			name string
			s    valet.Session
		}{
			{"session mode", newSession(user, n)},
			{"hybrid mode", hybrid},
			{"no idle expiry", noIdle},
			{"unicode user agent", unicode},
			{"long lived", longLived},
			{"no auth recorded", noAuth},
			{"empty amr", emptyAMR},
			{"multi-factor", multi},
			{"amr at its bounds", longestAMR},
		}
		for _, tc := range tests {
			noErr(t, "CreateSession "+tc.name, ss.CreateSession(ctx, tc.s))
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, found, err := ss.Session(ctx, tc.s.ID)
				noErr(t, "Session", err)
				if !found {
					t.Fatalf("Session(%q) found = false, want true", tc.s.ID)
				}
				if d := diffSession(got, tc.s); d != "" {
					t.Errorf("Session: %s", d)
				}
			})
		}
	})

	run("ClientText", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		user := valet.NewID()
		tests := []struct {
			name      string
			userAgent string
			ip        string
		}{
			{"invalid UTF-8", "Mozilla/5.0 \xff\xfe (X11) \xc3", "203.0.113.7"},
			{"truncated character at the end", "agent/1.0 \xe6\x97", "203.0.113.7"},
			{"NUL bytes", "curl/8.0\x00\x00 (\x00)", "203.0.113.7\x00"},
			{"600 bytes of 3-byte characters", strings.Repeat("日", 200), "2001:db8::1"},
			{"600 bytes of 2-byte characters after one byte", "a" + strings.Repeat("é", 300), "2001:db8::1"},
			{"a character across the bound", strings.Repeat("a", 511) + "日本", "2001:db8::1"},
			{"invalid bytes across the bound", strings.Repeat("a", 510) + "\xff\xfe\xfd\xfc", "2001:db8::1"},
			{"all at once", strings.Repeat("\xff日\x00é", 100), "\xff\x00" + strings.Repeat("9", 100)},
			{"only NUL bytes", "\x00\x00\x00", "\x00"},
		}
		stored := make([]valet.Session, len(tests))
		for i, tc := range tests {
			s := newSession(user, n)
			s.UserAgent, s.IP = tc.userAgent, tc.ip
			stored[i] = s
			noErr(t, "CreateSession "+tc.name, ss.CreateSession(ctx, s))
		}
		for i, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				want := stored[i]
				got, found, err := ss.Session(ctx, want.ID)
				noErr(t, "Session", err)
				if !found {
					t.Fatalf("Session(%q) found = false, want true", want.ID)
				}
				checkCleaned(t, "UserAgent", got.UserAgent, tc.userAgent, maxUserAgent)
				checkCleaned(t, "IP", got.IP, tc.ip, maxIP)
				// Every other field is stored as given.
				got.UserAgent, got.IP = want.UserAgent, want.IP
				if d := diffSession(got, want); d != "" {
					t.Errorf("Session: %s", d)
				}
			})
		}
		if sl, ok := ss.(valet.SessionLister); ok {
			list, err := sl.UserSessions(ctx, user)
			noErr(t, "UserSessions", err)
			if len(list) != len(tests) {
				t.Fatalf("UserSessions returned %d sessions, want %d", len(list), len(tests))
			}
			for _, s := range list {
				got, _, err := ss.Session(ctx, s.ID)
				noErr(t, "Session", err)
				if s.UserAgent != got.UserAgent || s.IP != got.IP {
					t.Errorf("UserSessions has UserAgent %q, IP %q; Session has %q, %q", s.UserAgent, s.IP, got.UserAgent, got.IP)
				}
			}
		}
	})

	amrTests := []struct {
		name string
		in   []string
		want []string
	}{
		{"upper case", []string{"PWD", valet.AMRPassword}, []string{"pwd"}},
		{"empty method", []string{"", valet.AMROTP}, []string{"otp"}},
		{"too long", []string{strings.Repeat("a", maxAMRMethod+1), valet.AMRPassword}, []string{"pwd"}},
		{"comma", []string{"pwd,otp"}, nil},
		{"space, NUL and non-ASCII", []string{"p d", "pwd\x00", "pw\xff", "pwé", "hwk"}, []string{"hwk"}},
		{"more than the bound", []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"dropped ones do not count", []string{"A", "a", "B", "b", "c", "d", "e", "f", "g", "h", "i"}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
	}
	if len(amrTests[len(amrTests)-1].want) != maxAMR {
		t.Fatalf("the AMR cases do not reach the bound of %d methods", maxAMR)
	}

	run("AMR", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		for _, tc := range amrTests {
			t.Run(tc.name, func(t *testing.T) {
				s := newSession(valet.NewID(), n)
				s.AMR = tc.in
				noErr(t, "CreateSession", ss.CreateSession(ctx, s))
				got, found, err := ss.Session(ctx, s.ID)
				noErr(t, "Session", err)
				if !found {
					t.Fatalf("Session(%q) found = false, want true", s.ID)
				}
				want := s
				want.AMR = tc.want
				if d := diffSession(got, want); d != "" {
					t.Errorf("Session after CreateSession: %s", d)
				}

				noErr(t, "SetSessionAuth", ss.SetSessionAuth(ctx, s.ID, n, []string{valet.AMRPassword}))
				noErr(t, "SetSessionAuth", ss.SetSessionAuth(ctx, s.ID, n, tc.in))
				got, _, err = ss.Session(ctx, s.ID)
				noErr(t, "Session", err)
				want.AuthTime = n
				if d := diffSession(got, want); d != "" {
					t.Errorf("Session after SetSessionAuth: %s", d)
				}
			})
		}
	})

	run("SetAuth", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		s := newSession(valet.NewID(), n.Add(-time.Hour))
		s.LastSeenAt = n.Add(-time.Minute)
		other := newSession(s.UserID, n.Add(-time.Hour))
		noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		noErr(t, "CreateSession", ss.CreateSession(ctx, other))

		steps := []struct {
			name     string
			authTime time.Time
			amr      []string
		}{
			{"second factor", n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}},
			{"again, with other methods", n.Add(time.Second), []string{valet.AMRSoftwareKey, valet.AMRUser}},
			{"no methods", n.Add(2 * time.Second), nil},
			{"no time", time.Time{}, []string{valet.AMRPassword}},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				amr := slices.Clone(step.amr)
				noErr(t, "SetSessionAuth", ss.SetSessionAuth(ctx, s.ID, step.authTime, amr))
				// The store keeps its own copy.
				for i := range amr {
					amr[i] = "changed"
				}
				want := s
				want.AuthTime, want.AMR = step.authTime, step.amr
				got, found, err := ss.Session(ctx, s.ID)
				noErr(t, "Session", err)
				if !found {
					t.Fatalf("Session found = false after SetSessionAuth, want true")
				}
				if d := diffSession(got, want); d != "" {
					t.Errorf("Session after SetSessionAuth: %s", d)
				}
				if sl, ok := ss.(valet.SessionLister); ok {
					list, err := sl.UserSessions(ctx, s.UserID)
					noErr(t, "UserSessions", err)
					i := slices.IndexFunc(list, func(l valet.Session) bool { return l.ID == s.ID })
					if i < 0 {
						t.Fatalf("UserSessions after SetSessionAuth lacks the session")
					}
					if d := diffSession(list[i], want); d != "" {
						t.Errorf("UserSessions after SetSessionAuth: %s", d)
					}
				}
			})
		}

		// A touch after it keeps what it set.
		noErr(t, "SetSessionAuth", ss.SetSessionAuth(ctx, s.ID, n, []string{valet.AMRPassword, valet.AMRMulti}))
		noErr(t, "TouchSession", ss.TouchSession(ctx, s.ID, n, n.Add(time.Hour)))
		want := s
		want.AuthTime, want.AMR = n, []string{valet.AMRPassword, valet.AMRMulti}
		want.LastSeenAt, want.IdleExpiresAt = n, n.Add(time.Hour)
		got, found, err := ss.Session(ctx, s.ID)
		noErr(t, "Session", err)
		if !found {
			t.Fatalf("Session found = false after TouchSession, want true")
		}
		if d := diffSession(got, want); d != "" {
			t.Errorf("Session after SetSessionAuth and TouchSession: %s", d)
		}

		got, found, err = ss.Session(ctx, other.ID)
		noErr(t, "Session", err)
		if !found {
			t.Fatalf("the other session is gone after SetSessionAuth")
		}
		if d := diffSession(got, other); d != "" {
			t.Errorf("the other session changed: %s", d)
		}
	})

	run("SetAuthGone", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		deleted := newSession(valet.NewID(), n)
		noErr(t, "CreateSession", ss.CreateSession(ctx, deleted))
		if _, err := ss.DeleteSession(ctx, deleted.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		expired := newSession(valet.NewID(), n.Add(-25*time.Hour))
		expired.ExpiresAt = n.Add(-time.Hour)
		noErr(t, "CreateSession", ss.CreateSession(ctx, expired))
		idle := newSession(valet.NewID(), n.Add(-time.Hour))
		idle.IdleExpiresAt = n.Add(-time.Second)
		noErr(t, "CreateSession", ss.CreateSession(ctx, idle))

		tests := []struct {
			name string
			id   string
		}{
			{"unknown", valet.HashSecret(valet.NewID())},
			{"deleted", deleted.ID},
			{"expired", expired.ID},
			{"idle expired", idle.ID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				noErr(t, "SetSessionAuth", ss.SetSessionAuth(ctx, tc.id, n, []string{valet.AMRPassword, valet.AMROTP, valet.AMRMulti}))
				// Recording a sign-in must not bring back a session that
				// ended.
				if got, found, err := ss.Session(ctx, tc.id); err != nil || found {
					t.Errorf("Session after SetSessionAuth = %+v, %t, %v; want found false", got, found, err)
				}
				// Nor may a touch after it.
				noErr(t, "TouchSession", ss.TouchSession(ctx, tc.id, n, n.Add(time.Hour)))
				if got, found, err := ss.Session(ctx, tc.id); err != nil || found {
					t.Errorf("Session after SetSessionAuth and TouchSession = %+v, %t, %v; want found false", got, found, err)
				}
			})
		}
	})

	run("NotFound", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		user := valet.NewID()
		live := newSession(user, n)
		noErr(t, "CreateSession", ss.CreateSession(ctx, live))

		absolute := newSession(user, n.Add(-25*time.Hour))
		absolute.LastSeenAt = n.Add(-time.Minute)
		absolute.ExpiresAt = n.Add(-time.Second)
		absolute.IdleExpiresAt = n.Add(time.Hour)
		idle := newSession(user, n.Add(-3*time.Hour))
		idle.ExpiresAt = n.Add(time.Hour)
		idle.IdleExpiresAt = n.Add(-time.Second)
		both := newSession(user, n.Add(-48*time.Hour))
		both.ExpiresAt = n.Add(-24 * time.Hour)
		both.IdleExpiresAt = n.Add(-47 * time.Hour)
		for _, s := range []valet.Session{absolute, idle, both} {
			noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		}

		tests := []struct {
			name string
			id   string
		}{
			{"unknown", valet.HashSecret(valet.NewID())},
			{"empty id", ""},
			{"prefix of a live id", live.ID[:len(live.ID)-1]},
			{"absolute expiry passed", absolute.ID},
			{"idle expiry passed", idle.ID},
			{"both expiries passed", both.ID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, found, err := ss.Session(ctx, tc.id)
				noErr(t, "Session", err)
				if found {
					t.Errorf("Session(%q) = %+v, found true; want found false", tc.id, got)
				}
			})
		}
	})

	run("Touch", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		s := newSession(valet.NewID(), n.Add(-30*time.Minute))
		s.IdleExpiresAt = n.Add(10 * time.Minute)
		other := newSession(s.UserID, n.Add(-30*time.Minute))
		noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		noErr(t, "CreateSession", ss.CreateSession(ctx, other))

		steps := []struct {
			name     string
			lastSeen time.Time
			idle     time.Time
		}{
			{"forward", n, n.Add(2 * time.Hour)},
			{"again", n.Add(time.Second), n.Add(2*time.Hour + time.Second)},
			{"idle past absolute", n.Add(2 * time.Second), s.ExpiresAt.Add(time.Hour)},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				noErr(t, "TouchSession", ss.TouchSession(ctx, s.ID, step.lastSeen, step.idle))
				want := s
				want.LastSeenAt = step.lastSeen
				want.IdleExpiresAt = step.idle
				got, found, err := ss.Session(ctx, s.ID)
				noErr(t, "Session", err)
				if !found {
					t.Fatalf("Session found = false after TouchSession, want true")
				}
				if d := diffSession(got, want); d != "" {
					t.Errorf("Session after TouchSession: %s", d)
				}
			})
		}

		got, found, err := ss.Session(ctx, other.ID)
		noErr(t, "Session", err)
		if !found {
			t.Fatalf("the other session is gone after TouchSession")
		}
		if d := diffSession(got, other); d != "" {
			t.Errorf("the other session changed: %s", d)
		}
	})

	run("TouchIntoIdleExpiry", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		s := newSession(valet.NewID(), n.Add(-time.Hour))
		noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		noErr(t, "TouchSession", ss.TouchSession(ctx, s.ID, n, n.Add(-time.Second)))
		if got, found, err := ss.Session(ctx, s.ID); err != nil || found {
			t.Errorf("Session after an idle expiry in the past = %+v, %t, %v; want found false", got, found, err)
		}
	})

	run("TouchGone", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		deleted := newSession(valet.NewID(), n)
		noErr(t, "CreateSession", ss.CreateSession(ctx, deleted))
		if _, err := ss.DeleteSession(ctx, deleted.ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		expired := newSession(valet.NewID(), n.Add(-25*time.Hour))
		expired.ExpiresAt = n.Add(-time.Hour)
		noErr(t, "CreateSession", ss.CreateSession(ctx, expired))
		// A session that ended by idleness is gone even though its absolute
		// expiry is ahead: a late touch must not extend it.
		idle := newSession(valet.NewID(), n.Add(-time.Hour))
		idle.IdleExpiresAt = n.Add(-time.Second)
		noErr(t, "CreateSession", ss.CreateSession(ctx, idle))

		tests := []struct {
			name string
			id   string
		}{
			{"unknown", valet.HashSecret(valet.NewID())},
			{"deleted", deleted.ID},
			{"expired", expired.ID},
			{"idle expired", idle.ID},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				noErr(t, "TouchSession", ss.TouchSession(ctx, tc.id, n, n.Add(time.Hour)))
				// Touching must not bring back a session that ended.
				if got, found, err := ss.Session(ctx, tc.id); err != nil || found {
					t.Errorf("Session after TouchSession = %+v, %t, %v; want found false", got, found, err)
				}
			})
		}
	})

	run("Delete", func(t *testing.T, ss valet.SessionStore) {
		ctx := testContext(t)
		n := now()
		s := newSession(valet.NewID(), n)
		other := newSession(s.UserID, n)
		noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		noErr(t, "CreateSession", ss.CreateSession(ctx, other))

		steps := []struct {
			name string
			id   string
			want bool
		}{
			{"existing", s.ID, true},
			{"again", s.ID, false},
			{"unknown", valet.HashSecret(valet.NewID()), false},
		}
		for _, step := range steps {
			t.Run(step.name, func(t *testing.T) {
				got, err := ss.DeleteSession(ctx, step.id)
				noErr(t, "DeleteSession", err)
				if got != step.want {
					t.Errorf("DeleteSession = %t, want %t", got, step.want)
				}
				if _, found, err := ss.Session(ctx, step.id); err != nil || found {
					t.Errorf("Session after DeleteSession: found %t, error %v; want false, nil", found, err)
				}
			})
		}
		if _, found, err := ss.Session(ctx, other.ID); err != nil || !found {
			t.Errorf("the other session: found %t, error %v; want true, nil", found, err)
		}
	})
}

func testSessionLister(t *testing.T, newStores func(testing.TB) valet.Stores) {
	type lister interface {
		valet.SessionStore
		valet.SessionLister
	}
	run := member(t, newStores, func(st valet.Stores) (lister, bool) {
		l, ok := st.Sessions.(lister)
		return l, ok
	})

	setup := func(t *testing.T, ss lister) listerFixture {
		t.Helper()
		ctx := testContext(t)
		n := now()
		f := listerFixture{user: valet.NewID(), other: valet.NewID()}
		oldest := newSession(f.user, n.Add(-3*time.Minute))
		newest := newSession(f.user, n.Add(-time.Minute))
		newest.Mode = valet.ModeHybrid
		middle := newSession(f.user, n.Add(-2*time.Minute))
		absolute := newSession(f.user, n.Add(-25*time.Hour))
		absolute.ExpiresAt = n.Add(-time.Second)
		absolute.IdleExpiresAt = n.Add(time.Hour)
		idle := newSession(f.user, n.Add(-30*time.Second))
		idle.IdleExpiresAt = n.Add(-time.Second)
		f.otherLive = newSession(f.other, n)
		for _, s := range []valet.Session{oldest, newest, absolute, middle, f.otherLive, idle} {
			noErr(t, "CreateSession", ss.CreateSession(ctx, s))
		}
		f.live = []valet.Session{newest, middle, oldest}
		f.expired = []string{absolute.ID, idle.ID}
		return f
	}

	run("UserSessions", func(t *testing.T, ss lister) {
		ctx := testContext(t)
		f := setup(t, ss)
		tests := []struct {
			name string
			user string
			want []valet.Session
		}{
			{"newest first, live only", f.user, f.live},
			{"other user", f.other, []valet.Session{f.otherLive}},
			{"unknown user", valet.NewID(), nil},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				got, err := ss.UserSessions(ctx, tc.user)
				noErr(t, "UserSessions", err)
				if !slices.Equal(sessionIDs(got), sessionIDs(tc.want)) {
					t.Fatalf("UserSessions = %q, want %q", sessionIDs(got), sessionIDs(tc.want))
				}
				for i := range got {
					if d := diffSession(got[i], tc.want[i]); d != "" {
						t.Errorf("UserSessions[%d]: %s", i, d)
					}
				}
			})
		}
	})

	run("UserSessionsAfterChanges", func(t *testing.T, ss lister) {
		ctx := testContext(t)
		f := setup(t, ss)
		n := now()
		// The middle session ends by idleness and the newest is deleted; the
		// oldest stays, moved forward by a touch.
		noErr(t, "TouchSession", ss.TouchSession(ctx, f.live[1].ID, n, n.Add(-time.Second)))
		if _, err := ss.DeleteSession(ctx, f.live[0].ID); err != nil {
			t.Fatalf("DeleteSession: %v", err)
		}
		noErr(t, "TouchSession", ss.TouchSession(ctx, f.live[2].ID, n, n.Add(time.Hour)))
		want := f.live[2]
		want.LastSeenAt = n
		want.IdleExpiresAt = n.Add(time.Hour)

		got, err := ss.UserSessions(ctx, f.user)
		noErr(t, "UserSessions", err)
		if len(got) != 1 {
			t.Fatalf("UserSessions = %q, want [%q]", sessionIDs(got), want.ID)
		}
		if d := diffSession(got[0], want); d != "" {
			t.Errorf("UserSessions[0]: %s", d)
		}
	})

	tests := []struct {
		name   string
		except func(f listerFixture) string
		kept   func(f listerFixture) []valet.Session
	}{
		{
			name:   "all",
			except: func(f listerFixture) string { return "" },
			kept:   func(f listerFixture) []valet.Session { return nil },
		},
		{
			name:   "all but the current",
			except: func(f listerFixture) string { return f.live[1].ID },
			kept:   func(f listerFixture) []valet.Session { return f.live[1:2] },
		},
		{
			name:   "except names another user's session",
			except: func(f listerFixture) string { return f.otherLive.ID },
			kept:   func(f listerFixture) []valet.Session { return nil },
		},
		{
			name:   "except names an unknown session",
			except: func(f listerFixture) string { return valet.HashSecret(valet.NewID()) },
			kept:   func(f listerFixture) []valet.Session { return nil },
		},
	}
	for _, tc := range tests {
		run("DeleteUserSessions/"+tc.name, func(t *testing.T, ss lister) {
			ctx := testContext(t)
			f := setup(t, ss)
			except := tc.except(f)
			kept := tc.kept(f)
			var wantRemoved []string
			for _, s := range f.live {
				if !slices.ContainsFunc(kept, func(k valet.Session) bool { return k.ID == s.ID }) {
					wantRemoved = append(wantRemoved, s.ID)
				}
			}

			removed, err := ss.DeleteUserSessions(ctx, f.user, except)
			noErr(t, "DeleteUserSessions", err)
			// Sessions that had expired may or may not be counted: a store
			// is free to have dropped them already.
			removed = slices.DeleteFunc(slices.Clone(removed), func(id string) bool {
				return slices.Contains(f.expired, id)
			})
			slices.Sort(removed)
			slices.Sort(wantRemoved)
			if !slices.Equal(removed, wantRemoved) {
				t.Errorf("DeleteUserSessions removed %q, want %q", removed, wantRemoved)
			}

			for _, id := range wantRemoved {
				if _, found, err := ss.Session(ctx, id); err != nil || found {
					t.Errorf("Session(%q) after DeleteUserSessions: found %t, error %v; want false, nil", id, found, err)
				}
			}
			got, err := ss.UserSessions(ctx, f.user)
			noErr(t, "UserSessions", err)
			if !slices.Equal(sessionIDs(got), sessionIDs(kept)) {
				t.Errorf("UserSessions after DeleteUserSessions = %q, want %q", sessionIDs(got), sessionIDs(kept))
			}
			if _, found, err := ss.Session(ctx, f.otherLive.ID); err != nil || !found {
				t.Errorf("the other user's session: found %t, error %v; want true, nil", found, err)
			}

			again, err := ss.DeleteUserSessions(ctx, f.user, except)
			noErr(t, "DeleteUserSessions again", err)
			if len(again) != 0 {
				t.Errorf("DeleteUserSessions again removed %q, want none", again)
			}
		})
	}
}

// listerFixture is what SessionLister's tests start from: three live
// sessions of one user, created out of order, one session of that user past
// each kind of expiry, and a live session of another user.
type listerFixture struct {
	user, other string
	live        []valet.Session // newest first
	expired     []string
	otherLive   valet.Session
}

func sessionIDs(ss []valet.Session) []string {
	ids := make([]string, len(ss))
	for i, s := range ss {
		ids[i] = s.ID
	}
	return ids
}
