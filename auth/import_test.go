package auth

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/store/memory"
)

// testParams are cheap argon2id parameters for tests.
var testParams = password.Params{Memory: 8192, Iterations: 1, Parallelism: 1}

// newImportService returns a service on a fresh memory store, its user
// store, and its log.
func newImportService(tb testing.TB, users valet.UserStore) (*Service, valet.UserStore, *lockedBuffer) {
	tb.Helper()
	stores := memory.New().Stores()
	if users != nil {
		stores.Users = users
	}
	log := &lockedBuffer{}
	s, err := New(context.Background(), Config{
		Stores: stores, Hasher: password.NewHasher(testParams, 0, 0), KeyReload: -1,
		Logger: slog.New(slog.NewJSONHandler(log, nil)),
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s, stores.Users, log
}

// vector is a hash made by another system's own tool, from
// password/testdata/vectors.txt.
type vector struct{ name, password, hash string }

func readVectors(tb testing.TB) []vector {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "password", "testdata", "vectors.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []vector
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") || sc.Text() == "" {
			continue
		}
		parts := strings.Split(sc.Text(), "\t")
		if len(parts) != 3 {
			tb.Fatalf("vectors.txt: bad line %q", sc.Text())
		}
		out = append(out, vector{parts[0], parts[1], parts[2]})
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return out
}

// A valid hash of each kind, for lines whose hash is not the point.
const (
	bcryptHash = "$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm" // "bcrypt cost 10"
	goodLine   = `{"email":"good@example.com","password_hash":"` + bcryptHash + `"}`
)

// TestImportLineAttacks: every bad line fails on its own, with its number
// and a reason, and the lines around it are imported.
func TestImportLineAttacks(t *testing.T) {
	huge := `{"email":"big@example.com","roles":["` + strings.Repeat("a", MaxImportLineBytes) + `"]}`
	tests := []struct {
		name string
		line string
		// want is a part of the reason; "" means the line is imported.
		want string
	}{
		{"malformed JSON", `{"email":`, "not valid JSON"},
		{"not JSON at all", `email=ada@example.com`, "not valid JSON"},
		{"an array", `["ada@example.com"]`, "must be a JSON object"},
		{"a string", `"ada@example.com"`, "must be a JSON object"},
		{"null", `null`, "email is missing"},
		{"two objects", `{"email":"two@example.com"} {"email":"three@example.com"}`, "more than one JSON value"},
		{"trailing brace", `{"email":"two@example.com"}}`, "more than one JSON value"},
		{"huge line", huge, "longer than 64 KiB"},
		{"unknown field", `{"email":"x@example.com","password":"hunter2"}`, `"password" is not one of`},
		{"long unknown field", `{"email":"x@example.com","` + strings.Repeat("z", 5000) + `":1}`, "…\" is not one of"},
		{"unknown field with a terminal escape", `{"email":"x@example.com","\u001b[31m":1}`, `"\x1b[31m" is not one of`},
		{"email missing", `{"password_hash":"` + bcryptHash + `"}`, "email is missing"},
		{"email not a string", `{"email":5}`, "email must be a string"},
		{"email empty", `{"email":""}`, "email address like"},
		{"email with a display name", `{"email":"Ada <ada@example.com>"}`, "email address like"},
		{"NUL in email", `{"email":"ada\u0000@example.com"}`, "email address like"},
		{"raw NUL byte", "{\"email\":\"ada\x00@example.com\"}", "not valid JSON"},
		{"CR LF in email", `{"email":"ada@example.com\r\nBcc: x@example.com"}`, "email address like"},
		{"invalid UTF-8", "{\"email\":\"ad\xffa@example.com\"}", "not valid UTF-8"},
		{"bad hash", `{"email":"x@example.com","password_hash":"hunter2"}`, "none of the supported formats"},
		{"empty hash", `{"email":"x@example.com","password_hash":""}`, "hash is empty"},
		{"hash not a string", `{"email":"x@example.com","password_hash":true}`, "password_hash must be a string"},
		{"the unusable password as a hash", `{"email":"x@example.com","password_hash":"!"}`, "none of the supported formats"},
		{"bcrypt cost 15", `{"email":"x@example.com","password_hash":"$2b$15$` + bcryptHash[7:] + `"}`, "bcrypt cost is 15"},
		{"bcrypt $2x$", `{"email":"x@example.com","password_hash":"$2x$10$` + bcryptHash[7:] + `"}`, "$2x$"},
		{"scrypt N 2^18", `{"email":"x@example.com","password_hash":"$scrypt$ln=18,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw"}`, "N is 2^18"},
		{"argon2id of 2 GiB", `{"email":"x@example.com","password_hash":"$argon2id$v=19$m=2097152,t=1,p=1$YXJnb24yaWQtc2FsdC00Mg$GZlmh3lgZixONBoJ067wioNlIYN0ezDgIA37fZTTEAI"}`, "at most 1048576 KiB"},
		{"pbkdf2 of 100 million iterations", `{"email":"x@example.com","password_hash":"pbkdf2_sha256$100000000$seasalt$YIWkt6M1JFXrHg5s0jZjBSc7C2Cz6QvchSJ0h8Y+i7c="}`, "iteration"},
		{"hash with a newline", `{"email":"x@example.com","password_hash":"$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6J\n"}`, "bcrypt hash must be"},
		{"wrong role", `{"email":"x@example.com","roles":["BAD ROLE"]}`, "A role is 1 to 64 characters"},
		{"empty role", `{"email":"x@example.com","roles":[""]}`, "A role is 1 to 64 characters"},
		{"roles not an array", `{"email":"x@example.com","roles":"admin"}`, "roles must be an array of strings"},
		{"a role not a string", `{"email":"x@example.com","roles":[1]}`, "roles must be an array of strings"},
		{"created_at not RFC 3339", `{"email":"x@example.com","created_at":"yesterday"}`, "not an RFC 3339 time"},
		{"created_at without a zone", `{"email":"x@example.com","created_at":"2021-03-04T05:06:07"}`, "not an RFC 3339 time"},
		{"created_at month 13", `{"email":"x@example.com","created_at":"2021-13-04T05:06:07Z"}`, "not an RFC 3339 time"},
		{"created_at a number", `{"email":"x@example.com","created_at":1614834367}`, "created_at must be a string"},
		{"created_at in the future", `{"email":"x@example.com","created_at":"2999-01-01T00:00:00Z"}`, "in the future"},
		{"email_verified not a bool", `{"email":"x@example.com","email_verified":"yes"}`, "email_verified must be true or false"},
		{"duplicate email", `{"email":"good@example.com"}`, "on line 1 already"},
		{"duplicate email in another case", `{"email":" GOOD@Example.com "}`, "on line 1 already"},

		{"blank line", ``, ""},
		{"spaces", "  \t ", ""},
		{"CR LF", `{"email":"crlf@example.com"}` + "\r", ""},
		{"every field", `{"email":"all@example.com","password_hash":"` + bcryptHash + `","email_verified":true,"roles":["admin","admin","user"],"created_at":"2021-03-04T05:06:07.5+02:00","disabled":true}`, ""},
		{"no password", `{"email":"nopw@example.com"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, users, _ := newImportService(t, nil)
			in := goodLine + "\n" + tc.line + "\n" + `{"email":"after@example.com"}` + "\n"
			rep, err := s.ImportUsers(ctx, strings.NewReader(in), ImportOptions{})
			if err != nil {
				t.Fatalf("ImportUsers: %v", err)
			}
			wantCreated, wantFailed := 2, 1
			if tc.want == "" {
				wantFailed = 0
				if strings.TrimSpace(tc.line) != "" {
					wantCreated = 3
				}
			}
			if got, want := [3]int{rep.Lines, rep.Created, rep.Failed}, [3]int{3, wantCreated, wantFailed}; got != want {
				t.Fatalf("lines, created, failed = %v, want %v; failures %v", got, want, rep.Failures)
			}
			if tc.want != "" {
				f := rep.Failures[0]
				if f.Line != 2 || !strings.Contains(f.Reason, tc.want) {
					t.Errorf("failure = %+v, want line 2 and a reason with %q", f, tc.want)
				}
				if len(f.Reason) > 300 || strings.Contains(f.Reason, "hunter2") {
					t.Errorf("reason %q quotes the input", f.Reason)
				}
			}
			for _, e := range []string{"good@example.com", "after@example.com"} {
				if _, err := users.UserByEmail(ctx, e); err != nil {
					t.Errorf("%s was not imported: %v", e, err)
				}
			}
		})
	}
}

// TestImportStoresTheLine: what a good line says is what is stored.
func TestImportStoresTheLine(t *testing.T) {
	ctx := context.Background()
	s, users, _ := newImportService(t, nil)
	in := "\xef\xbb\xbf" + `{"email":" Ada@Example.com ","password_hash":"` + bcryptHash + `","email_verified":true,"roles":["admin","admin","user"],"created_at":"2021-03-04T05:06:07.123456789+02:00","disabled":true}` + "\n" +
		`{"email":"bob@example.com"}`
	rep, err := s.ImportUsers(ctx, strings.NewReader(in), ImportOptions{})
	if err != nil || rep.Created != 2 || rep.Failed != 0 {
		t.Fatalf("ImportUsers = %+v, %v", rep, err)
	}
	tests := []struct {
		email    string
		hash     string
		roles    []string
		disabled bool
		created  time.Time
	}{
		{"ada@example.com", bcryptHash, []string{"admin", "user"}, true, time.Date(2021, 3, 4, 3, 6, 7, 123456000, time.UTC)},
		{"bob@example.com", unusablePasswordHash, nil, false, time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.email, func(t *testing.T) {
			u, err := users.UserByEmail(ctx, tc.email)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := u.PasswordHash, tc.hash; got != want {
				t.Errorf("hash = %q, want %q", got, want)
			}
			if got, want := u.Roles, tc.roles; !slices.Equal(got, want) {
				t.Errorf("roles = %q, want %q", got, want)
			}
			if got, want := u.Disabled, tc.disabled; got != want {
				t.Errorf("disabled = %v, want %v", got, want)
			}
			if !tc.created.IsZero() && !u.CreatedAt.Equal(tc.created) {
				t.Errorf("created_at = %v, want %v", u.CreatedAt, tc.created)
			}
			if u.ID == "" || u.CreatedAt.IsZero() || u.UpdatedAt.IsZero() {
				t.Errorf("user = %+v, want an id and times", u)
			}
		})
	}
}

// TestImportConflicts: skip keeps a stored user, update replaces its hash
// and roles and keeps the rest, and a dry run stores nothing.
func TestImportConflicts(t *testing.T) {
	const storedPW = "a stored passphrase"
	in := `{"email":"ada@example.com","password_hash":"` + bcryptHash + `","roles":["imported"],"created_at":"2001-01-01T00:00:00Z","disabled":false}` + "\n" +
		`{"email":"new@example.com"}` + "\n"
	tests := []struct {
		name       string
		opts       ImportOptions
		wantCounts [3]int // created, updated, skipped
		wantHash   func(old string) string
		wantRoles  []string
		wantNew    bool
	}{
		{"skip", ImportOptions{}, [3]int{1, 0, 1}, func(old string) string { return old }, []string{"admin"}, true},
		{"update", ImportOptions{OnConflict: valet.ConflictUpdate}, [3]int{1, 1, 0}, func(string) string { return bcryptHash }, []string{"imported"}, true},
		{"dry run skip", ImportOptions{DryRun: true}, [3]int{1, 0, 1}, func(old string) string { return old }, []string{"admin"}, false},
		{"dry run update", ImportOptions{DryRun: true, OnConflict: valet.ConflictUpdate}, [3]int{1, 1, 0}, func(old string) string { return old }, []string{"admin"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			s, users, _ := newImportService(t, nil)
			old, err := s.CreateUser(ctx, "ada@example.com", storedPW, []string{"admin"})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.UpdateUser(ctx, old.ID, UserPatch{Disabled: new(true)}, Client{}); err != nil {
				t.Fatal(err)
			}
			rep, err := s.ImportUsers(ctx, strings.NewReader(in), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := [3]int{rep.Created, rep.Updated, rep.Skipped}; got != tc.wantCounts {
				t.Errorf("created, updated, skipped = %v, want %v", got, tc.wantCounts)
			}
			if rep.DryRun != tc.opts.DryRun {
				t.Errorf("DryRun = %v, want %v", rep.DryRun, tc.opts.DryRun)
			}
			got, err := users.UserByEmail(ctx, "ada@example.com")
			if err != nil {
				t.Fatal(err)
			}
			if want := tc.wantHash(old.PasswordHash); got.PasswordHash != want {
				t.Errorf("hash = %q, want %q", got.PasswordHash, want)
			}
			if !slices.Equal(got.Roles, tc.wantRoles) {
				t.Errorf("roles = %q, want %q", got.Roles, tc.wantRoles)
			}
			if got.ID != old.ID || !got.CreatedAt.Equal(old.CreatedAt) || !got.Disabled {
				t.Errorf("stored user = %+v; want its id, creation time and disabled state kept", got)
			}
			_, err = users.UserByEmail(ctx, "new@example.com")
			if gotNew := err == nil; gotNew != tc.wantNew {
				t.Errorf("new@example.com stored = %v, want %v (%v)", gotNew, tc.wantNew, err)
			}
		})
	}
}

// TestImportOptions: a bad OnConflict is refused before anything is read,
// batches report progress, and failures are listed up to the bound.
func TestImportOptions(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newImportService(t, nil)
	if _, err := s.ImportUsers(ctx, strings.NewReader(goodLine), ImportOptions{OnConflict: "replace"}); !errors.Is(err, valet.ErrInvalidRequest) {
		t.Fatalf("OnConflict replace: %v, want invalid request", err)
	}

	var b strings.Builder
	const n = 2500
	for i := range n {
		fmt.Fprintf(&b, `{"email":"user%d@example.com"}`+"\n", i)
		b.WriteString("not json\n")
	}
	var progress [][2]int
	rep, err := s.ImportUsers(ctx, strings.NewReader(b.String()), ImportOptions{
		BatchSize: 1000,
		Progress:  func(r ImportReport) { progress = append(progress, [2]int{r.Created, r.Failed}) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := [4]int{rep.Lines, rep.Created, rep.Failed, len(rep.Failures)}, [4]int{2 * n, n, n, MaxImportFailures}; got != want {
		t.Errorf("lines, created, failed, listed = %v, want %v", got, want)
	}
	if got, want := progress, [][2]int{{1000, 999}, {2000, 1999}, {2500, 2500}}; !slices.Equal(got, want) {
		t.Errorf("progress = %v, want %v", got, want)
	}
	if f := rep.Failures[MaxImportFailures-1]; f.Line != 2*MaxImportFailures {
		t.Errorf("last listed failure is line %d, want %d", f.Line, 2*MaxImportFailures)
	}
}

// failingReader fails after its data.
type failingReader struct{ data *strings.Reader }

func (f failingReader) Read(p []byte) (int, error) {
	if f.data.Len() == 0 {
		return 0, errors.New("disk on fire")
	}
	return f.data.Read(p)
}

// failingImports is a user store whose bulk import and updates fail.
type failingImports struct {
	valet.UserStore
	fail bool
}

func (f *failingImports) ImportUsers(ctx context.Context, users []valet.User, c valet.OnConflict) (int, int, int, error) {
	if f.fail {
		return 0, 0, 0, fmt.Errorf("%w: the disk is full", valet.ErrUnavailable)
	}
	return f.UserStore.(valet.UserImporter).ImportUsers(ctx, users, c)
}

func (f *failingImports) UpdateUser(ctx context.Context, u valet.User) error {
	if f.fail {
		return fmt.Errorf("%w: the disk is full", valet.ErrUnavailable)
	}
	return f.UserStore.UpdateUser(ctx, u)
}

// TestImportFailures: a reader or a store that fails stops the import
// with an error and the report of what was stored before.
func TestImportFailures(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newImportService(t, nil)
	rep, err := s.ImportUsers(ctx, failingReader{strings.NewReader(goodLine + "\n")}, ImportOptions{})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("reader failure: %v", err)
	}
	if rep.Lines != 1 || rep.Created != 0 {
		t.Errorf("report after a reader failure = %+v; want line 1 read and nothing stored", rep)
	}

	st := &failingImports{UserStore: memory.New(), fail: true}
	s, _, log := newImportService(t, st)
	_, err = s.ImportUsers(ctx, strings.NewReader(goodLine), ImportOptions{})
	if !errors.Is(err, valet.ErrUnavailable) {
		t.Fatalf("store failure: %v, want unavailable", err)
	}
	ev := auditEvents(t, log.String())
	if len(ev) != 1 || ev[0]["event"] != "user.import" || ev[0]["err"] == nil {
		t.Errorf("audit events = %v, want one user.import with the error", ev)
	}
	if strings.Contains(log.String(), bcryptHash) {
		t.Error("the log holds a password hash")
	}
}

// plainUsers hides the bulk import of a store, to try the one-by-one path.
type plainUsers struct{ valet.UserStore }

func TestImportWithoutBulkStore(t *testing.T) {
	ctx := context.Background()
	s, users, _ := newImportService(t, plainUsers{memory.New()})
	if _, err := s.CreateUser(ctx, "ada@example.com", "a stored passphrase", []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	in := `{"email":"ada@example.com","password_hash":"` + bcryptHash + `"}` + "\n" + `{"email":"new@example.com"}`
	// The passes run in order: the second finds new@example.com stored by
	// the first.
	for _, tc := range []struct {
		c    valet.OnConflict
		want [3]int
	}{{valet.ConflictSkip, [3]int{1, 0, 1}}, {valet.ConflictUpdate, [3]int{0, 2, 0}}} {
		rep, err := s.ImportUsers(ctx, strings.NewReader(in), ImportOptions{OnConflict: tc.c})
		if err != nil {
			t.Fatal(err)
		}
		if got := [3]int{rep.Created, rep.Updated, rep.Skipped}; got != tc.want {
			t.Errorf("%s: created, updated, skipped = %v, want %v", tc.c, got, tc.want)
		}
	}
	u, err := users.UserByEmail(ctx, "ada@example.com")
	if err != nil || u.PasswordHash != bcryptHash || len(u.Roles) != 0 {
		t.Errorf("after the update: %+v, %v", u, err)
	}
}

// TestImportedLoginUpgrades: a hash made by each system's own tool signs in
// with its password, is then argon2id at today's parameters, and signs in
// again; a wrong password is refused and leaves the hash alone.
func TestImportedLoginUpgrades(t *testing.T) {
	ctx := context.Background()
	s, users, _ := newImportService(t, nil)
	vectors := readVectors(t)
	if testing.Short() {
		// One vector of each scheme: the password package's tests verify
		// them all.
		seen := map[string]bool{}
		vectors = slices.DeleteFunc(vectors, func(v vector) bool {
			scheme, _, _ := strings.Cut(strings.TrimPrefix(v.hash, "$"), "$")
			if strings.HasPrefix(scheme, "2") {
				scheme = "bcrypt"
			}
			dup := seen[scheme]
			seen[scheme] = true
			return dup
		})
	}
	var in bytes.Buffer
	for i, v := range vectors {
		fmt.Fprintf(&in, `{"email":"v%d@example.com","password_hash":%q}`+"\n", i, v.hash)
	}
	rep, err := s.ImportUsers(ctx, &in, ImportOptions{})
	if err != nil || rep.Created != len(vectors) || rep.Failed != 0 {
		t.Fatalf("ImportUsers = %+v, %v", rep, err)
	}
	for i, v := range vectors {
		t.Run(v.name, func(t *testing.T) {
			email := fmt.Sprintf("v%d@example.com", i)
			// A prefix, since bcrypt reads only the first 72 bytes.
			if _, err := s.Login(ctx, email, "wrong "+v.password, valet.ModeSession, Client{}); !errors.Is(err, valet.ErrInvalidCredentials) {
				t.Fatalf("wrong password: %v, want invalid credentials", err)
			}
			if u, _ := users.UserByEmail(ctx, email); u.PasswordHash != v.hash {
				t.Fatalf("a wrong password changed the hash to %q", u.PasswordHash)
			}
			if _, err := s.Login(ctx, email, v.password, valet.ModeSession, Client{}); err != nil {
				t.Fatalf("first login: %v", err)
			}
			u, err := users.UserByEmail(ctx, email)
			if err != nil {
				t.Fatal(err)
			}
			// argon2id at today's parameters, or the imported argon2id hash
			// when it is stronger than those.
			if _, _, _, err := password.Decode(u.PasswordHash); err != nil || password.NeedsRehash(u.PasswordHash, testParams) {
				t.Fatalf("after the first login the hash is %q (%v), want argon2id at least as strong as %+v", u.PasswordHash, err, testParams)
			}
			if strings.HasPrefix(v.hash, "$argon2id$") != (u.PasswordHash == v.hash) {
				t.Errorf("hash %q after the first login; only a strong argon2id hash is kept", u.PasswordHash)
			}
			if _, err := s.Login(ctx, email, v.password, valet.ModeSession, Client{}); err != nil {
				t.Fatalf("second login: %v", err)
			}
			if again, _ := users.UserByEmail(ctx, email); again.PasswordHash != u.PasswordHash {
				t.Error("the second login hashed again")
			}
		})
	}
}

// TestUnusablePassword: an account imported without a hash signs in with
// no password, and a password change asking for its current one fails as
// a wrong password would.
func TestUnusablePassword(t *testing.T) {
	ctx := context.Background()
	s, _, _ := newImportService(t, nil)
	if _, err := s.ImportUsers(ctx, strings.NewReader(`{"email":"nopw@example.com"}`), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, pw := range []string{"", "!", "correct horse battery"} {
		if _, err := s.Login(ctx, "nopw@example.com", pw, valet.ModeSession, Client{}); !errors.Is(err, valet.ErrInvalidCredentials) {
			t.Errorf("login with %q: %v, want invalid credentials", pw, err)
		}
	}
	u, err := s.UserByEmail(ctx, "nopw@example.com")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ChangePassword(ctx, &valet.Identity{User: u}, "!", "a brand new passphrase", Client{})
	if !errors.Is(err, valet.ErrInvalidCredentials) {
		t.Errorf("ChangePassword: %v, want invalid credentials", err)
	}
}

// staleUsers answers logins with the user as it was before an
// administrator disabled it, as a login that read it just before does.
type staleUsers struct {
	valet.UserStore
	stale valet.User
}

func (s staleUsers) UserByEmail(ctx context.Context, email string) (valet.User, error) {
	return s.stale, nil
}

// TestUpgradeKeepsConcurrentChanges: the rehash at login writes only the
// hash, so it does not undo a disable that happened while it hashed; and a
// store that cannot take the new hash does not fail the login.
func TestUpgradeKeepsConcurrentChanges(t *testing.T) {
	ctx := context.Background()
	mem := memory.New()
	s, _, _ := newImportService(t, mem)
	if _, err := s.ImportUsers(ctx, strings.NewReader(goodLine), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	before, err := mem.UserByEmail(ctx, "good@example.com")
	if err != nil {
		t.Fatal(err)
	}
	disabled := before
	disabled.Disabled = true
	if err := mem.UpdateUser(ctx, disabled); err != nil {
		t.Fatal(err)
	}
	s, _, _ = newImportService(t, staleUsers{UserStore: mem, stale: before})
	if _, err := s.Login(ctx, "good@example.com", "bcrypt cost 10", valet.ModeSession, Client{}); !errors.Is(err, valet.ErrUserDisabled) {
		t.Errorf("login: %v, want the account disabled", err)
	}
	after, _ := mem.UserByID(ctx, before.ID)
	if !after.Disabled {
		t.Error("the rehash enabled the account again")
	}
	if after.PasswordHash == bcryptHash {
		t.Error("the hash was not upgraded")
	}

	failing := &failingImports{UserStore: memory.New()}
	s, _, log := newImportService(t, failing)
	if _, err := s.ImportUsers(ctx, strings.NewReader(goodLine), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	failing.fail = true
	if _, err := s.Login(ctx, "good@example.com", "bcrypt cost 10", valet.ModeSession, Client{}); err != nil {
		t.Fatalf("login with a store that cannot take the new hash: %v", err)
	}
	if !strings.Contains(log.String(), "password rehash not stored") {
		t.Errorf("the failure is not logged: %s", log)
	}
	if strings.Contains(log.String(), "bcrypt cost 10") || strings.Contains(log.String(), "$argon2id$") {
		t.Error("the log holds the password or a hash")
	}
	if u, _ := failing.UserByEmail(ctx, "good@example.com"); u.PasswordHash != bcryptHash {
		t.Errorf("hash = %q, want the imported one kept", u.PasswordHash)
	}
}

// TestExportImportRoundTrip: what ExportUsers writes, ImportUsers reads
// back into another store as the same users.
func TestExportImportRoundTrip(t *testing.T) {
	ctx := context.Background()
	src, srcUsers, _ := newImportService(t, nil)
	in := goodLine + "\n" +
		`{"email":"nopw@example.com","roles":["admin"],"created_at":"2020-02-03T04:05:06.789Z"}` + "\n" +
		`{"email":"off@example.com","disabled":true}` + "\n"
	if _, err := src.ImportUsers(ctx, strings.NewReader(in), ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateUser(ctx, "native@example.com", "a native passphrase", []string{"user"}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	n, err := src.ExportUsers(ctx, &out)
	if err != nil || n != 4 {
		t.Fatalf("ExportUsers = %d, %v", n, err)
	}
	if strings.Contains(out.String(), `"!"`) {
		t.Errorf("the unusable password is exported: %s", out.String())
	}
	dst, dstUsers, _ := newImportService(t, nil)
	rep, err := dst.ImportUsers(ctx, &out, ImportOptions{})
	if err != nil || rep.Created != 4 || rep.Failed != 0 {
		t.Fatalf("import of the export = %+v, %v", rep, err)
	}
	want, _, _ := srcUsers.ListUsers(ctx, valet.UserQuery{})
	got, _, _ := dstUsers.ListUsers(ctx, valet.UserQuery{})
	if len(got) != len(want) {
		t.Fatalf("%d users after the round trip, want %d", len(got), len(want))
	}
	// By email: users imported at once share a creation time, and are
	// listed in the order of their random ids.
	byEmail := map[string]valet.User{}
	for _, g := range got {
		byEmail[g.Email] = g
	}
	for _, w := range want {
		g := byEmail[w.Email]
		if g.PasswordHash != w.PasswordHash || !slices.Equal(g.Roles, w.Roles) ||
			g.Disabled != w.Disabled || !g.CreatedAt.Equal(w.CreatedAt.Truncate(time.Microsecond)) {
			t.Errorf("%s = %+v, want %+v", w.Email, g, w)
		}
	}
	if _, err := dst.Login(ctx, "native@example.com", "a native passphrase", valet.ModeSession, Client{}); err != nil {
		t.Errorf("native user after the round trip: %v", err)
	}
}

// TestPasswordPolicy: every new password follows the policy, with the
// account's email, the site's name and the current password as context.
func TestPasswordPolicy(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name, email, pw string
		want            string // a part of the refusal; "" to accept
	}{
		{"repeated", "ada@example.com", "aaaaaaaaaaaa", "repeated characters"},
		{"sequence", "ada@example.com", "abcdefgh", "sequences"},
		{"common", "ada@example.com", "letmein123", "too common"},
		{"the email", "ada@example.com", "ada@example.com", "email address"},
		{"the local part", "lovelace1815@example.com", "lovelace1815", "email address"},
		{"the site name", "ada@example.com", "valetvalet", "name of this site"},
		{"short", "ada@example.com", "tr0ub4d", "at least 8"},
		{"good", "ada@example.com", "correct horse battery", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, _, _ := newImportService(t, nil)
			_, err := s.Signup(ctx, tc.email, tc.pw, Client{})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Signup: %v", err)
			case tc.want != "" && (!errors.Is(err, valet.ErrWeakPassword) || !strings.Contains(valet.Message(err), tc.want)):
				t.Fatalf("Signup: %v, want a weak password with %q", err, tc.want)
			}
			other, _, _ := newImportService(t, nil)
			if _, err := other.CreateUser(ctx, tc.email, tc.pw, nil); (err == nil) != (tc.want == "") {
				t.Errorf("CreateUser: %v, want the same answer as Signup", err)
			}
		})
	}

	s, _, _ := newImportService(t, nil)
	const pw = "correct horse battery"
	u, err := s.Signup(ctx, "ada@example.com", pw, Client{})
	if err != nil {
		t.Fatal(err)
	}
	id := &valet.Identity{User: u}
	changes := []struct {
		name, next, want string
	}{
		{"the same", pw, "different from your current one"},
		{"the same in full-width letters", "ｃｏｒｒｅｃｔ horse battery", "different from your current one"},
		{"the email", "ada@example.com", "email address"},
		{"common", "password123", "too common"},
		{"good", "a different passphrase", ""},
	}
	for _, tc := range changes {
		t.Run("change to "+tc.name, func(t *testing.T) {
			_, err := s.ChangePassword(ctx, id, pw, tc.next, Client{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("ChangePassword: %v", err)
				}
				return
			}
			if !errors.Is(err, valet.ErrWeakPassword) || !strings.Contains(valet.Message(err), tc.want) {
				t.Fatalf("ChangePassword: %v, want a weak password with %q", err, tc.want)
			}
		})
	}

	custom, _, _ := newImportService(t, nil)
	custom.cfg.PasswordPolicy = password.Policy{MinLength: 15}
	if _, err := custom.Signup(ctx, "ada@example.com", "correct horse", Client{}); !errors.Is(err, valet.ErrWeakPassword) {
		t.Errorf("Signup under a 15-character policy: %v, want a weak password", err)
	}
}
