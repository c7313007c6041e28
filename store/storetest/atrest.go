package storetest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
)

// AtRest drives a hybrid session, a touch, a refresh family with one
// rotation and a revocation through st, then reads everything the backend
// holds with dump and checks that the secrets a client would hold (the
// session secret, both refresh tokens) appear nowhere in it, while their
// hashes do (so the dump did read the records). where names the backend in
// messages, e.g. "Redis".
func AtRest(t *testing.T, st valet.Stores, where string, dump func(tb testing.TB) string) {
	t.Helper()
	ctx := testContext(t)
	n := time.Now()

	user := valet.NewID()
	sessionSecret := valet.NewID()
	sess := valet.Session{
		ID: valet.HashSecret(sessionSecret), UserID: user, Mode: valet.ModeHybrid,
		CreatedAt: n, LastSeenAt: n, ExpiresAt: n.Add(time.Hour), IdleExpiresAt: n.Add(time.Hour),
		UserAgent: "test", IP: "127.0.0.1",
	}
	if err := st.Sessions.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	if err := st.Sessions.TouchSession(ctx, sess.ID, n.Add(time.Minute), n.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	firstToken, nextToken := valet.NewID(), valet.NewID()
	f := valet.RefreshFamily{
		ID: valet.NewID(), UserID: user, SessionID: sess.ID, RotatedAt: n, CreatedAt: n,
		ExpiresAt: n.Add(time.Hour), IdleExpiresAt: n.Add(time.Hour),
	}
	if err := st.Refresh.CreateRefreshFamily(ctx, f, valet.HashSecret(firstToken)); err != nil {
		t.Fatal(err)
	}
	// The successor is stored sealed; random bytes stand in for the sealed
	// form here.
	sealed := make([]byte, 48)
	if _, err := rand.Read(sealed); err != nil {
		t.Fatal(err)
	}
	ok, err := st.Refresh.AdvanceRefreshFamily(ctx, f.ID, 0, valet.HashSecret(nextToken), sealed, n, n.Add(time.Hour))
	if err != nil || !ok {
		t.Fatalf("AdvanceRefreshFamily = %t, %v", ok, err)
	}
	if err := st.Revocations.AddRevocation(ctx, valet.Revocation{SessionID: sess.ID, Until: n.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	all := dump(t)
	for name, secret := range map[string]string{
		"session secret": sessionSecret, "first refresh token": firstToken, "next refresh token": nextToken,
	} {
		if strings.Contains(all, secret) {
			t.Errorf("the %s appears in %s", name, where)
		}
		if !strings.Contains(all, valet.HashSecret(secret)) {
			t.Errorf("the hash of the %s does not appear in %s; the dump missed a record", name, where)
		}
	}
}
