package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// cli runs the binary with stdin and returns its stdout, its stderr and its
// exit code.
func cli(tb testing.TB, stdin string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Dir = tb.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		tb.Fatalf("valet %v: %v", args, err)
	}
	if strings.Contains(errb.String(), "panic") || strings.Contains(errb.String(), "goroutine ") {
		tb.Fatalf("valet %v crashed: %s", args, errb.String())
	}
	return out.String(), errb.String(), code
}

// exported is one line of `valet user export`.
type exported struct {
	Email        string   `json:"email"`
	PasswordHash string   `json:"password_hash"`
	Roles        []string `json:"roles"`
	Disabled     bool     `json:"disabled"`
	CreatedAt    string   `json:"created_at"`
}

// exportUsers runs `valet user export` on the database that db names and
// returns its users by email, and its raw lines.
func exportUsers(tb testing.TB, db []string) (map[string]exported, []string) {
	tb.Helper()
	out, errs, code := cli(tb, "", append([]string{"user", "export"}, db...)...)
	if code != 0 {
		tb.Fatalf("valet user export: exit %d: %s", code, errs)
	}
	users := map[string]exported{}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if l == "" {
			continue
		}
		var e exported
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			tb.Fatalf("export line %q: %v", l, err)
		}
		users[e.Email] = e
		lines = append(lines, l)
	}
	return users, lines
}

// importVector is a password hash made by another system's own tool.
type importVector struct{ name, password, hash string }

// referenceVectors returns the vectors of password/testdata/vectors.txt
// that the reference tools made (htpasswd -B, crypt(3), the argon2
// command, Python's hashlib) and Firebase's and Supabase's published
// fbscrypt vectors.
func referenceVectors(tb testing.TB) []importVector {
	tb.Helper()
	f, err := os.Open(filepath.Join("..", "..", "password", "testdata", "vectors.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []importVector
	published := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "# Published vectors") {
			published = true
		}
		if strings.HasPrefix(l, "#") || l == "" {
			continue
		}
		p := strings.Split(l, "\t")
		if len(p) != 3 {
			tb.Fatalf("vectors.txt: %q", l)
		}
		if !published || strings.HasPrefix(p[2], "$fbscrypt$") {
			out = append(out, importVector{p[0], p[1], p[2]})
		}
	}
	if len(out) < 15 {
		tb.Fatalf("only %d vectors", len(out))
	}
	return out
}

// TestImportVectors: hashes made by bcrypt's, argon2's, scrypt's, Django's
// and Firebase's own tools, imported with `valet user import`, sign in
// through the server; after the first sign-in `valet user export` shows
// argon2id at the server's parameters, and the password still works.
func TestImportVectors(t *testing.T) {
	skipInShort(t)
	backends := []struct {
		name string
		db   func(t *testing.T) []string
	}{
		{"sqlite", func(t *testing.T) []string { return []string{"--data-dir", t.TempDir()} }},
		{"postgres", func(t *testing.T) []string { return []string{"--db", pgSchema(t)} }},
	}
	vectors := referenceVectors(t)
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			// The stores side by side: the slow part is hashing, one
			// core's work each.
			t.Parallel()
			db := be.db(t)
			var in strings.Builder
			for i, v := range vectors {
				fmt.Fprintf(&in, `{"email":"v%d@example.com","password_hash":%q,"roles":["imported"]}`+"\n", i, v.hash)
			}
			file := filepath.Join(t.TempDir(), "users.jsonl")
			if err := os.WriteFile(file, []byte(in.String()), 0o600); err != nil {
				t.Fatal(err)
			}
			out, errs, code := cli(t, "", append([]string{"user", "import", file}, db...)...)
			if code != 0 || !strings.Contains(out, fmt.Sprintf("%d lines: %d created, 0 updated, 0 skipped, 0 failed", len(vectors), len(vectors))) {
				t.Fatalf("valet user import: exit %d\n%s%s", code, out, errs)
			}
			before, _ := exportUsers(t, db)

			s := startServer(t, nil, append(db, noThrottle...)...)
			for i, v := range vectors {
				t.Run(v.name, func(t *testing.T) {
					email := fmt.Sprintf("v%d@example.com", i)
					if got := before[email].PasswordHash; got != v.hash {
						t.Fatalf("stored hash %q, want the imported %q", got, v.hash)
					}
					// A prefix, since bcrypt reads only the first 72 bytes.
					wrong := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": "wrong " + v.password}})
					expect(t, "wrong password", wrong, 401, "invalid_credentials")
					first := do(t, s.URL, req{Method: "POST", Path: "/v1/login", Body: map[string]string{"email": email, "password": v.password, "mode": "token"}})
					expect(t, "first login", first, 200)
					tok := first.json(t)["access_token"].(string)
					me := do(t, s.URL, req{Path: "/v1/me", Bearer: tok})
					expect(t, "me", me, 200)
					if roles := me.json(t)["user"].(map[string]any)["roles"]; fmt.Sprint(roles) != "[imported]" {
						t.Errorf("roles = %v, want [imported]", roles)
					}
				})
			}

			after, _ := exportUsers(t, db)
			for i, v := range vectors {
				t.Run(v.name+" upgraded", func(t *testing.T) {
					email := fmt.Sprintf("v%d@example.com", i)
					got := after[email].PasswordHash
					// The server runs at m=8192, t=1 (startServer); a stronger
					// argon2id hash is kept as it is.
					want := "$argon2id$v=19$m=8192,t=1,p=1$"
					if strings.HasPrefix(v.hash, "$argon2id$") {
						want = v.hash
					}
					if !strings.HasPrefix(got, want) {
						t.Fatalf("hash after the first login = %q, want %s…", got, want)
					}
					expect(t, "login after the upgrade", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
						Body: map[string]string{"email": email, "password": v.password}}), 200)
				})
			}
		})
	}
}

// TestImportAttackLines: every bad line of an import is reported by number
// with a reason, and the others are imported; the command exits 1, and
// the server running beside it keeps serving.
func TestImportAttackLines(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	dir := t.TempDir()
	s := startServer(t, nil, append([]string{"--data-dir", dir}, noThrottle...)...)
	const bcrypt10 = "$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm" // "bcrypt cost 10"
	lines := []struct {
		line string
		want string // a part of the reason; "" for a line that is imported
	}{
		{`{"email":"first@example.com","password_hash":"` + bcrypt10 + `"}`, ""},
		{`{"email":"broken@example.com",`, "not valid JSON"},
		{`{"email":"big@example.com","roles":["` + strings.Repeat("r", 100<<10) + `"]}`, "longer than 64 KiB"},
		{`{"email":"hash@example.com","password_hash":"md5$abc$def"}`, "none of the supported formats"},
		{`{"email":"cost@example.com","password_hash":"$2b$15$` + bcrypt10[7:] + `"}`, "bcrypt cost is 15"},
		{`{"email":"scrypt@example.com","password_hash":"$scrypt$ln=18,r=8,p=1$MDEyMzQ1Njc4OWFiY2RlZg$ZEBCzLptWM7dhpNJDU2HbQ945ovKHmVEozHkePPbSqw"}`, "N is 2^18"},
		{`{"email":"nul\u0000@example.com"}`, "email address like"},
		{`{"email":"FIRST@example.com"}`, "on line 1 already"},
		{`{"email":"roles@example.com","roles":["Root Admin"]}`, "A role is"},
		{`{"email":"roles2@example.com","roles":"admin"}`, "roles must be an array"},
		{`{"email":"when@example.com","created_at":"01/02/2021"}`, "not an RFC 3339 time"},
		{`{"email":"later@example.com","created_at":"2999-01-01T00:00:00Z"}`, "in the future"},
		{`{"email":"field@example.com","is_admin":true}`, `"is_admin" is not one of`},
		{"{\"email\":\"\xff@example.com\"}", "not valid UTF-8"},
		{`{"email":"last@example.com","created_at":"2019-05-06T07:08:09Z","roles":["ops"]}`, ""},
	}
	var in strings.Builder
	for _, l := range lines {
		in.WriteString(l.line + "\n")
	}
	out, errs, code := cli(t, in.String(), "user", "import", "-", "--data-dir", dir)
	if code != 1 || !strings.Contains(errs, "13 of 15 lines were not imported") {
		t.Fatalf("exit %d, stderr %q; want 1 and the count of failed lines", code, errs)
	}
	if !strings.Contains(out, "15 lines: 2 created, 0 updated, 0 skipped, 13 failed") {
		t.Fatalf("summary:\n%s", out)
	}
	for i, l := range lines {
		prefix := fmt.Sprintf("line %d: ", i+1)
		var reason string
		for _, o := range strings.Split(out, "\n") {
			if r, ok := strings.CutPrefix(o, prefix); ok {
				reason = r
			}
		}
		if l.want == "" && reason != "" {
			t.Errorf("line %d failed: %s", i+1, reason)
		}
		if l.want != "" && !strings.Contains(reason, l.want) {
			t.Errorf("line %d: reason %q, want one with %q", i+1, reason, l.want)
		}
	}
	if strings.Contains(out, strings.Repeat("r", 100)) || strings.Contains(out, "md5$abc") {
		t.Error("the summary quotes the input")
	}
	users, _ := exportUsers(t, []string{"--data-dir", dir})
	if len(users) != 2 || users["last@example.com"].CreatedAt != "2019-05-06T07:08:09Z" || fmt.Sprint(users["last@example.com"].Roles) != "[ops]" {
		t.Fatalf("stored users = %+v", users)
	}
	expect(t, "healthz", do(t, s.URL, req{Path: "/healthz"}), 200)
	expect(t, "the imported user signs in", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "first@example.com", "password": "bcrypt cost 10"}}), 200)
	expect(t, "the user without a password cannot", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "last@example.com", "password": "any password at all"}}), 401, "invalid_credentials")

	// Many bad lines: the summary lists the first 50 and counts the rest.
	out, _, code = cli(t, strings.Repeat("nope\n", 120), "user", "import", "-", "--data-dir", dir)
	if code != 1 || !strings.Contains(out, "line 50: ") || strings.Contains(out, "line 51: ") || !strings.Contains(out, "(and 70 more failed lines)") {
		t.Fatalf("exit %d, summary:\n%s", code, out)
	}

	// Usage errors exit 2 and store nothing.
	usage := [][]string{
		{"user", "import", "--data-dir", dir},
		{"user", "import", "-", "--on-conflict", "overwrite", "--data-dir", dir},
		{"user", "import", "-", "extra", "--data-dir", dir},
	}
	for _, args := range usage {
		if _, errs, code := cli(t, lines[0].line, args...); code != 2 {
			t.Errorf("valet %v: exit %d (%s), want 2", args, code, errs)
		}
	}
	if _, errs, code := cli(t, "", "user", "import", filepath.Join(dir, "missing.jsonl"), "--data-dir", dir); code != 1 || !strings.Contains(errs, "cannot read the import") {
		t.Errorf("missing file: exit %d, %s", code, errs)
	}
}

// TestImportRoundTrip: a dry run stores nothing, a long import reports
// progress every 10,000 lines, export | import carries the users to
// another database, and --on-conflict update replaces hashes and roles.
// (The binary is built with -race, which makes each line cost ten times
// what it does in production: hence no more lines than that takes.)
func TestImportRoundTrip(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	src, dst := []string{"--data-dir", t.TempDir()}, []string{"--data-dir", t.TempDir()}
	const n = 10_500
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, `{"email":"user%05d@example.com","password_hash":"$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm","roles":["r%d"],"created_at":"2020-01-01T00:00:%02dZ","disabled":%v}`+"\n",
			i, i%7, i%60, i%1000 == 0)
	}
	// A dry run looks each user up: 1,000 of them are enough to show it.
	head := strings.Join(strings.SplitAfter(in.String(), "\n")[:1000], "")
	out, errs, code := cli(t, head, append([]string{"user", "import", "-", "--dry-run"}, src...)...)
	if code != 0 || !strings.Contains(out, "dry run: nothing was stored") || !strings.Contains(out, "1000 lines: 1000 created") {
		t.Fatalf("dry run: exit %d\n%s%s", code, out, errs)
	}
	// Every user is created now: the dry run stored none.
	out, errs, code = cli(t, in.String(), append([]string{"user", "import", "-"}, src...)...)
	if code != 0 || !strings.Contains(out, fmt.Sprintf("%d lines: %d created, 0 updated, 0 skipped", n, n)) {
		t.Fatalf("import: exit %d\n%s%s", code, out, errs)
	}
	var progress []string
	for _, l := range strings.Split(strings.TrimSpace(errs), "\n") {
		if strings.Contains(l, "lines read") {
			progress = append(progress, l)
		}
	}
	if len(progress) != 1 || !strings.HasPrefix(progress[0], "valet: 10000 lines read: 10000 created, 0 updated, 0 skipped, 0 failed") {
		t.Errorf("progress lines = %q, want one, at 10,000", progress)
	}

	_, lines := exportUsers(t, src)
	out, errs, code = cli(t, strings.Join(lines, "\n")+"\n", append([]string{"user", "import", "-"}, dst...)...)
	if code != 0 {
		t.Fatalf("import of the export: exit %d\n%s%s", code, out, errs)
	}
	_, copied := exportUsers(t, dst)
	slices.Sort(lines)
	slices.Sort(copied)
	if !slices.Equal(lines, copied) {
		t.Fatalf("export | import changed the users: %d lines, then %d", len(lines), len(copied))
	}

	s := startServer(t, nil, append(dst, noThrottle...)...)
	expect(t, "a carried user signs in", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "user00001@example.com", "password": "bcrypt cost 10"}}), 200)
	expect(t, "a carried disabled user does not", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "user01000@example.com", "password": "bcrypt cost 10"}}), 403, "forbidden")

	update := `{"email":"user00002@example.com","roles":["new"]}` + "\n" + `{"email":"fresh@example.com"}` + "\n"
	for _, tc := range []struct{ flag, want string }{
		{"skip", "2 lines: 1 created, 0 updated, 1 skipped, 0 failed"},
		{"update", "2 lines: 0 created, 2 updated, 0 skipped, 0 failed"},
	} {
		out, errs, code := cli(t, update, append([]string{"user", "import", "-", "--on-conflict", tc.flag}, dst...)...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Fatalf("--on-conflict %s: exit %d\n%s%s", tc.flag, code, out, errs)
		}
	}
	users, _ := exportUsers(t, dst)
	if u := users["user00002@example.com"]; u.PasswordHash != "" || fmt.Sprint(u.Roles) != "[new]" || u.CreatedAt != "2020-01-01T00:00:02Z" {
		t.Errorf("after the update: %+v; want no password, the new roles and the old created_at", u)
	}
	expect(t, "the updated user has no password now", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "user00002@example.com", "password": "bcrypt cost 10"}}), 401, "invalid_credentials")
}

// TestAdminImportEndpoint: POST /v1/admin/users/import is for
// administrators only, a dry run stores nothing, and an import stores the
// good lines and reports the bad ones.
func TestAdminImportEndpoint(t *testing.T) {
	t.Parallel()
	skipInShort(t)
	dir := t.TempDir()
	db := []string{"--data-dir", dir}
	s := startServer(t, nil, append(db, noThrottle...)...)
	admin := adminToken(t, s.URL, db)
	signupUser(t, s.URL, "ada@example.com")
	plain := login(t, s.URL, "ada@example.com", "token", req{}).json(t)["access_token"].(string)
	body := `{"email":"one@example.com","password_hash":"$2y$10$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm"}` + "\n" +
		`{"email":"two@example.com","password_hash":"$2b$15$oYXLMMCam55P2Vw9eHiCUuVfRVZRnTZRog2QUvZ8hLIEkrcRBZ6Jm"}` + "\n"
	post := func(query, bearer string) response {
		return do(t, s.URL, req{Method: "POST", Path: "/v1/admin/users/import" + query, Body: body, Bearer: bearer,
			Header: map[string]string{"Content-Type": "application/x-ndjson"}})
	}
	if r := post("?dry_run=true", admin); r.Status == 404 || r.Status == 405 {
		t.Fatalf("POST /v1/admin/users/import answers %d: httpapi's routes() must call a.adminImportRoutes(a.mux)", r.Status)
	}
	expect(t, "anonymous", post("", ""), 401, "unauthenticated")
	expect(t, "not an administrator", post("", plain), 403, "forbidden")
	stored := func() int { u, _ := exportUsers(t, db); return len(u) }
	before := stored()

	dry := post("?dry_run=true", admin)
	expect(t, "dry run", dry, 200)
	if got := dry.json(t); got["dry_run"] != true || got["created"] != 1.0 || got["failed"] != 1.0 {
		t.Fatalf("dry run report = %s", dry.Body)
	}
	if got := stored(); got != before {
		t.Fatalf("the dry run stored users: %d, then %d", before, got)
	}
	r := post("", admin)
	expect(t, "import", r, 200)
	rep := r.json(t)
	fails, _ := rep["failures"].([]any)
	if rep["created"] != 1.0 || len(fails) != 1 || fails[0].(map[string]any)["line"] != 2.0 {
		t.Fatalf("report = %s", r.Body)
	}
	expect(t, "the imported user signs in", do(t, s.URL, req{Method: "POST", Path: "/v1/login",
		Body: map[string]string{"email": "one@example.com", "password": "bcrypt cost 10"}}), 200)
	expect(t, "JSON is refused", do(t, s.URL, req{Method: "POST", Path: "/v1/admin/users/import", Body: body, Bearer: admin}), 400, "invalid_request")
	big := strings.Repeat(`{"email":"x@example.com"}`+"\n", (16<<20)/26+1)
	expect(t, "over 16 MiB", do(t, s.URL, req{Method: "POST", Path: "/v1/admin/users/import", Body: big, Bearer: admin,
		Header: map[string]string{"Content-Type": "application/x-ndjson"}}), 413, "payload_too_large")
	expect(t, "healthz", do(t, s.URL, req{Path: "/healthz"}), 200)
}

// TestPasswordPolicyEndToEnd: signup refuses repetitive, sequential,
// common and email-built passwords, and a change to the current password
// is refused.
func TestPasswordPolicyEndToEnd(t *testing.T) {
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir()}, noThrottle...)...)
	tests := []struct{ name, pw, want string }{
		{"repeated", "aaaaaaaaaaaa", "repeated characters"},
		{"sequence", "abcdefgh", "sequences"},
		{"common", "letmein123", "too common"},
		{"the email", "grace@example.com", "email address"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, s.URL, req{Method: "POST", Path: "/v1/signup", Body: map[string]string{"email": "grace@example.com", "password": tc.pw}})
			expect(t, "signup", r, 400, "invalid_request")
			if msg, _ := r.json(t)["message"].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("message %q, want one with %q", msg, tc.want)
			}
		})
	}
	signupUser(t, s.URL, "grace@example.com")
	tok := login(t, s.URL, "grace@example.com", "token", req{}).json(t)["access_token"].(string)
	same := do(t, s.URL, req{Method: "POST", Path: "/v1/password", Bearer: tok,
		Body: map[string]string{"current_password": attackPassword, "new_password": attackPassword}})
	expect(t, "change to the same password", same, 400, "invalid_request")
	if msg, _ := same.json(t)["message"].(string); !strings.Contains(msg, "different from your current one") {
		t.Errorf("message %q", msg)
	}
	// A token caller gets the new pair of its new device session.
	expect(t, "change to another", do(t, s.URL, req{Method: "POST", Path: "/v1/password", Bearer: tok,
		Body: map[string]string{"current_password": attackPassword, "new_password": "a brand new passphrase"}}), 200)
}
