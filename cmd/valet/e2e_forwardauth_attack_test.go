package main

import (
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

// stackUsers are the people of a stack: a plain user and an administrator,
// with the credentials each presents.
type stackUsers struct {
	plainID, plainCookie, plainBearer, plainTokenCookie string
	adminCookie                                         string
}

func signUpStackUsers(tb testing.TB, st *stack) stackUsers {
	tb.Helper()
	var u stackUsers
	u.plainID = signupUser(tb, st.valet.URL, "plain@example.com")
	u.plainCookie, _ = login(tb, st.valet.URL, "plain@example.com", "session", req{}).cookie("__Secure-valet_session")
	u.plainBearer = login(tb, st.valet.URL, "plain@example.com", "token", req{}).json(tb)["access_token"].(string)
	u.plainTokenCookie = login(tb, st.valet.URL, "plain@example.com", "hybrid", req{}).json(tb)["access_token"].(string)
	createUser(tb, st.dir, "boss@example.com", "admin")
	u.adminCookie, _ = login(tb, st.valet.URL, "boss@example.com", "session", req{}).cookie("__Secure-valet_session")
	if u.plainCookie == "" || u.adminCookie == "" {
		tb.Fatal("no __Secure-valet_session cookie with --cookie-domain")
	}
	return u
}

func cookieHeader(name, value string) [2]string { return [2]string{"Cookie", name + "=" + value} }

// TestProxyForwardAuth runs, through each real proxy, what must get in
// (with the caller in Remote-* headers, whatever the client sent under
// those names) and a table of attacks that must not: encoded, cased,
// dotted and doubled paths, ambiguous encodings, a method the rule is
// about, forged X-Original-* and X-Forwarded-* headers, a forged host, the
// proxy's internal location, and open redirects through rd.
func TestProxyForwardAuth(t *testing.T) {
	skipInShort(t)
	for _, pk := range proxyKinds {
		t.Run(pk.name, func(t *testing.T) {
			t.Parallel()
			bin := proxyBinary(t, pk.name, pk.bin)
			st := startStack(t, pk.name, bin)
			u := signUpStackUsers(t, st)
			app := strings.TrimPrefix(st.appURL, "http://")
			plain := cookieHeader("__Secure-valet_session", u.plainCookie)

			t.Run("let in", func(t *testing.T) {
				for _, tc := range []struct {
					name, method, target string
					header               [][2]string
					user, groups         string
				}{
					{"session cookie", "GET", "/hello?x=1", [][2]string{plain}, u.plainID, ""},
					{"bearer", "GET", "/hello", [][2]string{{"Authorization", "Bearer " + u.plainBearer}}, u.plainID, ""},
					{"token cookie of a browser sign-in", "GET", "/hello", [][2]string{cookieHeader("valet_token", u.plainTokenCookie)}, u.plainID, ""},
					{"a path beside the rule's", "GET", "/administrator", [][2]string{plain}, u.plainID, ""},
					{"a method the rule is not about", "GET", "/orders/7", [][2]string{plain}, u.plainID, ""},
					{"admin on the admin path", "GET", "/admin/users", [][2]string{cookieHeader("__Secure-valet_session", u.adminCookie)}, "", "admin"},
					{"forged Remote-* are replaced", "GET", "/hello", [][2]string{plain, {"Remote-User", "someone-else"},
						{"Remote-Email", "boss@example.com"}, {"Remote-Groups", "admin"}, {"Remote-Name", "Boss"},
						{"Remote-Email-Verified", "true"}, {"Remote-Amr", "pwd,otp,mfa"}, {"Remote-Auth-Time", "1"}}, u.plainID, ""},
				} {
					t.Run(tc.name, func(t *testing.T) {
						e := echo(t, st.raw(t, tc.method, tc.target, app, tc.header))
						if e.URI != tc.target || e.Method != tc.method {
							t.Errorf("the application saw %s %s, want %s %s", e.Method, e.URI, tc.method, tc.target)
						}
						if tc.user != "" && e.RemoteUser != tc.user {
							t.Errorf("Remote-User = %q, want %q", e.RemoteUser, tc.user)
						}
						if e.RemoteUser == "" || !strings.HasSuffix(e.RemoteEmail, "@example.com") || e.RemoteName != e.RemoteEmail || e.RemoteGroups != tc.groups {
							t.Errorf("Remote-* = %+v, want groups %q", e, tc.groups)
						}
						if tc.user == u.plainID && e.RemoteEmail != "plain@example.com" {
							t.Errorf("Remote-Email = %q", e.RemoteEmail)
						}
						// A password sign-in, unverified: whatever the
						// client claimed under these names is replaced.
						if e.RemoteEmailVerified != "false" || e.RemoteAMR != "pwd" || e.RemoteAuthTime == "" || e.RemoteAuthTime == "1" {
							t.Errorf("Remote-Email-Verified, -Amr, -Auth-Time = %q, %q, %q", e.RemoteEmailVerified, e.RemoteAMR, e.RemoteAuthTime)
						}
					})
				}
			})

			// A refused request never reaches the application, whatever the
			// proxy answers (403 from valet, or 400/404/421 from the proxy).
			forged := [][2]string{plain,
				{"X-Original-URL", st.appURL + "/hello"}, {"X-Original-Method", "GET"},
				{"X-Forwarded-Method", "GET"}, {"X-Forwarded-Proto", "https"}, {"X-Forwarded-Host", "other.example.localhost"}, {"X-Forwarded-Uri", "/hello"}}
			for _, tc := range []struct {
				name, method, target, host string
				header                     [][2]string
				want                       []int
				only                       string // the one proxy the case is about
			}{
				{"the rule itself", "GET", "/admin", app, nil, []int{403}, ""},
				{"encoded letter", "GET", "/%61dmin/users", app, nil, []int{403}, ""},
				{"upper case", "GET", "/ADMIN", app, nil, []int{403}, ""},
				{"mixed case", "GET", "/Admin/users", app, nil, []int{403}, ""},
				{"dot dot", "GET", "/x/../admin", app, nil, []int{403}, ""},
				{"dot", "GET", "/./admin", app, nil, []int{403}, ""},
				{"double slash", "GET", "//admin", app, nil, []int{403}, ""},
				{"trailing slash", "GET", "/admin/", app, nil, []int{403}, ""},
				{"path parameter", "GET", "/admin;x=1", app, nil, []int{403}, ""},
				{"encoded slash", "GET", "/admin%2Fusers", app, nil, []int{403}, ""},
				{"encoded slash before", "GET", "/x%2F..%2Fadmin", app, nil, []int{403}, ""},
				{"encoded dots", "GET", "/x/%2e%2e/admin", app, nil, []int{400, 403}, ""},
				{"encoded dots at the root", "GET", "/%2e%2e/admin", app, nil, []int{400, 403}, ""},
				{"double encoding", "GET", "/%2561dmin", app, nil, []int{403}, ""},
				{"encoded backslash", "GET", "/x%5C..%5Cadmin", app, nil, []int{400, 403}, ""},
				{"the method of the rule", "POST", "/orders", app, nil, []int{403}, ""},
				{"forged X-Original-* and X-Forwarded-*", "GET", "/admin", app, forged, []int{403}, ""},
				{"forged method", "POST", "/orders", app, forged, []int{403}, ""},
				{"forged empty X-Forwarded-Proto", "GET", "/admin", app, [][2]string{plain, {"X-Forwarded-Proto", ""}}, []int{403}, ""},
				{"host in other case", "GET", "/admin", strings.ToUpper(appHost) + app[len(appHost):], nil, []int{403}, ""},
				{"a host of the client's choosing", "GET", "/admin", "other.example.localhost" + app[len(appHost):], nil, []int{200, 404, 421}, ""},
				{"no credential, forged Remote-User", "GET", "/hello", app, [][2]string{{"Remote-User", u.plainID}, {"Remote-Groups", "admin"}}, []int{401}, ""},
				{"a bad token", "GET", "/hello", app, [][2]string{{"Authorization", "Bearer e30.e30.AA"}}, []int{401}, ""},
				{"an ended session", "GET", "/hello", app, [][2]string{cookieHeader("__Secure-valet_session", strings.Repeat("A", 43)+"."+strings.Repeat("A", 43))}, []int{401}, ""},
				{"nginx's internal auth location", "GET", "/.valet/auth-request", app, nil, []int{404}, "nginx"},
				{"forward auth from outside", "GET", "/v1/authz/forward-auth", authHost + app[len(appHost):], forged, []int{404}, ""},
				{"auth-request from outside", "GET", "/v1/authz/auth-request", authHost + app[len(appHost):], forged, []int{404}, ""},
				{"the alias from outside", "GET", "/v1/authz", authHost + app[len(appHost):], forged, []int{404}, ""},
			} {
				t.Run("refuse "+tc.name, func(t *testing.T) {
					if tc.only != "" && tc.only != pk.name {
						t.Skipf("only %s has it", tc.only)
					}
					header := tc.header
					if header == nil {
						header = [][2]string{plain}
					}
					before := st.app.hits()
					r := st.raw(t, tc.method, tc.target, tc.host, header)
					if got := st.app.hits(); got != before {
						t.Fatalf("the application was reached (%d %s)", r.Status, r.Body)
					}
					ok := false
					for _, w := range tc.want {
						ok = ok || r.Status == w
					}
					if !ok || r.Status == 200 && len(r.Body) != 0 {
						t.Fatalf("status %d, want one of %v: %s", r.Status, tc.want, r.Body)
					}
					if r.Header.Get("Remote-User") != "" {
						t.Error("a refusal carries Remote-User")
					}
				})
			}

			t.Run("a browser is sent to sign in and back", func(t *testing.T) {
				r := st.raw(t, "GET", "/hello?x=1", app, [][2]string{{"Accept", "text/html"}})
				want := st.authURL + "/?rd=" + url.QueryEscape(st.appURL+"/hello?x=1")
				if r.Status != 302 || r.Header.Get("Location") != want {
					t.Fatalf("%d to %q, want 302 to %q", r.Status, r.Header.Get("Location"), want)
				}
				// Scripts are not redirected.
				r = st.raw(t, "GET", "/hello", app, [][2]string{{"Accept", "text/html"}, {"X-Requested-With", "XMLHttpRequest"}})
				if r.Status != 401 || r.Header.Get("Location") != "" {
					t.Fatalf("script: %d to %q, want 401 without Location", r.Status, r.Header.Get("Location"))
				}
			})

			t.Run("rd leads only to allowed hosts", func(t *testing.T) {
				auth := strings.TrimPrefix(st.authURL, "http://")
				form := func(rd string) string {
					return url.Values{"email": {"plain@example.com"}, "password": {attackPassword}, "mode": {"session"}, "rd": {rd}}.Encode()
				}
				for rd, want := range map[string]string{
					st.appURL + "/hello?x=1":                      st.appURL + "/hello?x=1",
					"http://evil.localhost/":                      "/account",
					"http://evil.localhost" + app[len(appHost):]:  "/account",
					"//evil.localhost/":                           "/account",
					"http://" + appHost + ".evil.localhost/":      "/account",
					"http://evilexample.localhost/":               "/account",
					"http://plain@" + app + "/hello":              "/account",
					"javascript:alert(document.domain)":           "/account",
					"http://" + app + "\\@evil.localhost/":        "/account",
					"/\\evil.localhost/":                          "/account",
					"http://" + strings.ToUpper(appHost) + "/x":   "http://" + appHost + "/x",
					"https://other.example.localhost:1/under-dom": "https://other.example.localhost:1/under-dom",
				} {
					r, err := rawHTTP(&net.Dialer{Timeout: 5 * time.Second}, st.addr, "POST", "/signin", auth, nil, form(rd))
					if err != nil {
						t.Fatal(err)
					}
					if r.Status != 303 || r.Header.Get("Location") != want {
						t.Errorf("sign in with rd=%q: %d to %q, want 303 to %q", rd, r.Status, r.Header.Get("Location"), want)
					}
				}
				// Signed in already, and signing out.
				r := st.raw(t, "GET", "/?rd="+url.QueryEscape("http://evil.localhost/"), auth, [][2]string{plain})
				if r.Status != 303 || r.Header.Get("Location") != "/account" {
					t.Errorf("signed in, rd to a foreign host: %d to %q", r.Status, r.Header.Get("Location"))
				}
				r = st.raw(t, "GET", "/signout?rd="+url.QueryEscape("http://evil.localhost/"), auth, [][2]string{plain})
				if r.Status != 200 || !strings.Contains(string(r.Body), `name="rd" value=""`) {
					t.Errorf("sign-out page with a foreign rd: %d %s", r.Status, r.Body)
				}
			})
		})
	}
}

// TestForwardAuthTrust: the forward-auth endpoints believe proxy headers
// only from --trusted-proxies (here 127.0.0.1), and only complete; a
// client at another loopback address that writes them is refused, as is a
// trusted proxy that leaves X-Forwarded-Proto out.
func TestForwardAuthTrust(t *testing.T) {
	s := startServer(t, nil, append([]string{"--data-dir", t.TempDir(), "--trusted-proxies", "127.0.0.1"}, stackRules...)...)
	signupUser(t, s.URL, "plain@example.com")
	tok := login(t, s.URL, "plain@example.com", "token", req{}).json(t)["access_token"].(string)
	addr := strings.TrimPrefix(s.URL, "http://")
	trusted := &net.Dialer{Timeout: 5 * time.Second}
	outsider := &net.Dialer{Timeout: 5 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	fwd := func(kv ...string) [][2]string {
		h := [][2]string{{"Authorization", "Bearer " + tok}}
		base := map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": appHost, "X-Forwarded-Uri": "/hello"}
		for i := 0; i+1 < len(kv); i += 2 {
			base[kv[i]] = kv[i+1]
		}
		for k, v := range base {
			if v != "-" {
				h = append(h, [2]string{k, v})
			}
		}
		return h
	}
	orig := func(kv ...string) [][2]string {
		h := [][2]string{{"Authorization", "Bearer " + tok}}
		base := map[string]string{"X-Original-Method": "GET", "X-Original-URL": "https://" + appHost + "/hello"}
		for i := 0; i+1 < len(kv); i += 2 {
			base[kv[i]] = kv[i+1]
		}
		for k, v := range base {
			if v != "-" {
				h = append(h, [2]string{k, v})
			}
		}
		return h
	}
	for _, tc := range []struct {
		name   string
		d      *net.Dialer
		path   string
		header [][2]string
		want   int
	}{
		{"forward-auth from the proxy", trusted, "/v1/authz/forward-auth", fwd(), 200},
		{"auth-request from the proxy", trusted, "/v1/authz/auth-request", orig(), 200},
		{"forward-auth from an outsider", outsider, "/v1/authz/forward-auth", fwd(), 403},
		{"the alias from an outsider", outsider, "/v1/authz", fwd(), 403},
		{"auth-request from an outsider", outsider, "/v1/authz/auth-request", orig(), 403},
		{"an outsider with one header", outsider, "/v1/authz/forward-auth", fwd("X-Forwarded-Method", "-", "X-Forwarded-Proto", "-", "X-Forwarded-Host", "-"), 403},
		{"no X-Forwarded-Proto", trusted, "/v1/authz/forward-auth", fwd("X-Forwarded-Proto", "-"), 403},
		{"X-Forwarded-Proto twice", trusted, "/v1/authz/forward-auth", append(fwd(), [2]string{"X-Forwarded-Proto", "http"}), 403},
		{"no X-Forwarded-Host", trusted, "/v1/authz/forward-auth", fwd("X-Forwarded-Host", "-"), 403},
		{"no X-Forwarded-Uri", trusted, "/v1/authz/forward-auth", fwd("X-Forwarded-Uri", "-"), 403},
		{"no X-Original-Method", trusted, "/v1/authz/auth-request", orig("X-Original-Method", "-"), 403},
		{"a relative X-Original-URL", trusted, "/v1/authz/auth-request", orig("X-Original-URL", "/hello"), 403},
		{"auth-request does not read X-Forwarded-*", trusted, "/v1/authz/auth-request", append(orig("X-Original-URL", "https://"+appHost+"/admin"), fwd()[1:]...), 403},
		{"forward-auth does not read X-Original-*", trusted, "/v1/authz/forward-auth", append(fwd("X-Forwarded-Uri", "/admin"), orig()[1:]...), 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := rawHTTP(tc.d, addr, "GET", tc.path, addr, tc.header, "")
			if err != nil {
				t.Fatal(err)
			}
			if r.Status != tc.want {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.want, r.Body)
			}
			if tc.want != 200 && r.Header.Get("Remote-User") != "" {
				t.Error("a refusal carries Remote-User")
			}
		})
	}
}
