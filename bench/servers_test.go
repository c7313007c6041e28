package bench

// Tests of the baseline servers in cmd/scs-server and cmd/jwt-server, run
// as the binaries valet bench --processes --compare starts: each must
// answer GET /v1/me with the given body for the credential its POST /login
// hands out and refuse every other, or the bench would measure a refusal
// (or a server that checks nothing).

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// meBody is what the servers are told to answer, shaped like valet's.
const meBody = `{"id":"u-0123456789abcdef","email":"bench@example.com","roles":[],"mode":"session"}`

// buildProgram builds the package pkg of the module in moduleDir into dir
// and returns the binary's path.
func buildProgram(tb testing.TB, moduleDir, pkg, dir string) string {
	tb.Helper()
	bin := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", bin, pkg)
	cmd.Dir = moduleDir
	if out, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

var listening = regexp.MustCompile(`listening on (http://\S+)`)

// startServer runs bin with args, stopped at the end of the test, and
// returns the URL from its "listening on" line.
func startServer(tb testing.TB, bin string, args ...string) string {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		close(urls)
	}()
	select {
	case u, ok := <-urls:
		if !ok {
			tb.Fatalf("%s exited without listening", bin)
		}
		return u
	case <-time.After(30 * time.Second):
		tb.Fatalf("%s did not listen within 30 s", bin)
	}
	return ""
}

func bodyFile(tb testing.TB) string {
	tb.Helper()
	f := filepath.Join(tb.TempDir(), "me.json")
	if err := os.WriteFile(f, []byte(meBody), 0o600); err != nil {
		tb.Fatal(err)
	}
	return f
}

// getMe sends GET /v1/me with the header "k: v" (none when k is "") and
// returns the status, body and Content-Type.
func getMe(tb testing.TB, url, k, v string) (int, string, string) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/v1/me", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if k != "" {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp.StatusCode, string(b), resp.Header.Get("Content-Type")
}

func login(tb testing.TB, url string) *http.Response {
	tb.Helper()
	resp, err := http.Post(url+"/login", "application/json", nil)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode/100 != 2 {
		tb.Fatalf("POST /login: %d", resp.StatusCode)
	}
	return resp
}

// tamper returns s with its character at i changed to another one of the
// base64url alphabet, which both servers' credentials are written in. Not
// the last one: its low bits may be padding a decoder ignores.
func tamper(s string, i int) string {
	repl := byte('A')
	if s[i] == 'A' {
		repl = 'B'
	}
	return s[:i] + string(repl) + s[i+1:]
}

type meCase struct {
	name   string
	k, v   string // the header sent, none when k is ""
	status int
}

func checkMe(t *testing.T, url string, cases []meCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body, ctype := getMe(t, url, tc.k, tc.v)
			if got, want := status, tc.status; got != want {
				t.Fatalf("GET /v1/me: %d %q, want %d", got, body, want)
			}
			if tc.status != http.StatusOK {
				return
			}
			if got, want := body, meBody; got != want {
				t.Errorf("body %q, want %q", got, want)
			}
			if got, want := ctype, "application/json"; got != want {
				t.Errorf("Content-Type %q, want %q", got, want)
			}
		})
	}
}

func TestSCSServer(t *testing.T) {
	bin := buildProgram(t, ".", "./cmd/scs-server", t.TempDir())
	url := startServer(t, bin, "--addr", "127.0.0.1:0", "--body", bodyFile(t))
	var cookie *http.Cookie
	for _, c := range login(t, url).Cookies() {
		if c.Name == "session" {
			cookie = c
		}
	}
	if cookie == nil || cookie.Value == "" || !cookie.HttpOnly {
		t.Fatalf("POST /login set no HttpOnly session cookie: %v", cookie)
	}
	// A second login is a second session, with a token of its own.
	var other string
	for _, c := range login(t, url).Cookies() {
		if c.Name == "session" {
			other = c.Value
		}
	}
	if other == "" || other == cookie.Value {
		t.Errorf("second login's cookie %q, want a new one beside %q", other, cookie.Value)
	}
	checkMe(t, url, []meCase{
		{"logged in", "Cookie", "session=" + cookie.Value, http.StatusOK},
		{"the other session", "Cookie", "session=" + other, http.StatusOK},
		{"no cookie", "", "", http.StatusUnauthorized},
		{"empty cookie", "Cookie", "session=", http.StatusUnauthorized},
		{"tampered cookie", "Cookie", "session=" + tamper(cookie.Value, len(cookie.Value)/2), http.StatusUnauthorized},
		{"made-up token", "Cookie", "session=" + strings.Repeat("A", len(cookie.Value)), http.StatusUnauthorized},
		{"another cookie name", "Cookie", "sessionx=" + cookie.Value, http.StatusUnauthorized},
	})
}

func TestJWTServer(t *testing.T) {
	bin := buildProgram(t, ".", "./cmd/jwt-server", t.TempDir())
	body := bodyFile(t)
	url := startServer(t, bin, "--addr", "127.0.0.1:0", "--body", body)

	var g struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(login(t, url).Body).Decode(&g); err != nil || g.AccessToken == "" {
		t.Fatalf("POST /login: %v, token %q", err, g.AccessToken)
	}
	// The claims the token carries, read without the key the server keeps.
	var claims jwt.RegisteredClaims
	tok, _, err := jwt.NewParser().ParseUnverified(g.AccessToken, &claims)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tok.Method.Alg(), "EdDSA"; got != want {
		t.Errorf("alg %q, want %q", got, want)
	}
	if claims.Issuer == "" || claims.Subject == "" || len(claims.Audience) == 0 || claims.ExpiresAt == nil || claims.IssuedAt == nil {
		t.Errorf("claims %+v lack one of iss, sub, aud, exp, iat", claims)
	}

	// The same claims signed with a key that is not the server's, and
	// with algorithms it must not accept.
	_, wrongKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wrongSigned, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(wrongKey)
	if err != nil {
		t.Fatal(err)
	}
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte("a secret the server never saw"))
	if err != nil {
		t.Fatal(err)
	}
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, claims).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(g.AccessToken, ".")
	noSignature := parts[0] + "." + parts[1] + "."

	// A server whose tokens are expired when issued, beyond the leeway.
	expiredURL := startServer(t, bin, "--addr", "127.0.0.1:0", "--body", body, "--ttl", "-2m")
	if err := json.NewDecoder(login(t, expiredURL).Body).Decode(&g); err != nil {
		t.Fatal(err)
	}
	expired := g.AccessToken
	if status, _, _ := getMe(t, expiredURL, "Authorization", "Bearer "+expired); status != http.StatusUnauthorized {
		t.Errorf("an expired token got %d from its own server, want 401", status)
	}

	ok := strings.Join(parts, ".")
	checkMe(t, url, []meCase{
		{"valid token", "Authorization", "Bearer " + ok, http.StatusOK},
		{"no header", "", "", http.StatusUnauthorized},
		{"no Bearer prefix", "Authorization", ok, http.StatusUnauthorized},
		{"empty token", "Authorization", "Bearer ", http.StatusUnauthorized},
		{"tampered signature", "Authorization", "Bearer " + tamper(ok, len(ok)-10), http.StatusUnauthorized},
		{"no signature", "Authorization", "Bearer " + noSignature, http.StatusUnauthorized},
		{"signed by another key", "Authorization", "Bearer " + wrongSigned, http.StatusUnauthorized},
		{"HS256", "Authorization", "Bearer " + hs256, http.StatusUnauthorized},
		{"alg none", "Authorization", "Bearer " + none, http.StatusUnauthorized},
		// Its own key, so only the claims tell it apart from a valid one.
		{"another server's expired token", "Authorization", "Bearer " + expired, http.StatusUnauthorized},
	})
}

// TestValetBenchCompare runs valet bench --processes with both servers as
// baselines for one short round, and checks that each has a row of
// positive figures; then that a baseline whose credential is refused
// fails the bench instead of being measured. Speed is never asserted.
func TestValetBenchCompare(t *testing.T) {
	if testing.Short() {
		t.Skip("slow end-to-end test: skipped under -short")
	}
	dir := t.TempDir()
	valet := buildProgram(t, "..", "./cmd/valet", dir)
	scsBin := buildProgram(t, ".", "./cmd/scs-server", dir)
	jwtBin := buildProgram(t, ".", "./cmd/jwt-server", dir)

	out, stderr, err := runValet(t, valet, "bench", "--processes", "--duration", "1s", "--rounds", "1", "--quiet",
		"--compare", "scs="+scsBin+",golang-jwt="+jwtBin)
	if err != nil {
		t.Fatalf("valet bench --processes --compare: %v\n%s\n%s", err, out, stderr)
	}
	for _, prefix := range []string{
		"floor (bare net/http, same JSON)",
		"session, SQLite (the default)",
		"scs (scs-server: alexedwards/scs/v2 v",
		"golang-jwt (jwt-server: golang-jwt/jwt/v5 v",
	} {
		var row string
		for line := range strings.SplitSeq(out, "\n") {
			if strings.HasPrefix(line, "| "+prefix) && row == "" {
				row = line // the first table's; the one at the same load follows
			}
		}
		cells := strings.Split(row, "|")
		if len(cells) < 6 {
			t.Fatalf("no row for %s in:\n%s", prefix, out)
		}
		for _, c := range cells[2:6] {
			if v, err := strconv.ParseFloat(strings.TrimSpace(c), 64); err != nil || v <= 0 {
				t.Errorf("row %q has a cell %q that is no positive figure", row, c)
			}
		}
	}

	// jwt-server issuing expired tokens: its own /v1/me answers 401.
	expiring := filepath.Join(dir, "expired-jwt-server")
	script := "#!/bin/sh\nexec " + jwtBin + " --ttl -2m \"$@\"\n"
	if err := os.WriteFile(expiring, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	out, stderr, err = runValet(t, valet, "bench", "--processes", "--duration", "1s", "--rounds", "1", "--quiet",
		"--compare", "expired="+expiring)
	if err == nil {
		t.Fatalf("valet bench measured a baseline that refuses its own credential:\n%s", out)
	}
	if !strings.Contains(stderr, "--compare expired") || !strings.Contains(stderr, "401") {
		t.Errorf("the error does not name the baseline and its 401:\n%s", stderr)
	}
	if strings.Contains(out, "| expired") {
		t.Errorf("the refused baseline has a row:\n%s", out)
	}
}

func runValet(tb testing.TB, bin string, args ...string) (stdout, stderr string, err error) {
	tb.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = tb.TempDir()
	var o, e strings.Builder
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}
