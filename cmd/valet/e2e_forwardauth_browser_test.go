package main

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// startChromeResolving is startChrome with every *.localhost name resolved
// to 127.0.0.1, where the proxies listen.
func startChromeResolving(tb testing.TB) *chrome {
	tb.Helper()
	return startChrome(tb, chromedp.Flag("host-resolver-rules", "MAP *.localhost 127.0.0.1"))
}

// location returns the address of the person's tab.
func (p *person) location() string {
	p.tb.Helper()
	return runIn(p, "read location", chromedp.Location())
}

// appEcho returns what the application saw of the page the tab shows.
func (p *person) appEcho() echoed {
	p.tb.Helper()
	var e echoed
	if err := json.Unmarshal([]byte(p.text("#echo")), &e); err != nil {
		p.screenshot("not-the-app")
		p.tb.Fatalf("%s: the tab does not show the application at %s: %v", p.name, p.location(), err)
	}
	return e
}

// TestBrowserForwardAuth walks a browser through each real proxy, in each
// mode: the application sends it to valet's sign-in page on the auth host
// with rd, it signs up or signs in, lands back on the application's
// address with the application seeing who it is, and after signing out
// (with rd) the application sends it to sign in again.
func TestBrowserForwardAuth(t *testing.T) {
	skipInShort(t)
	for _, pk := range proxyKinds {
		t.Run(pk.name, func(t *testing.T) {
			t.Parallel()
			bin := proxyBinary(t, pk.name, pk.bin)
			c := startChromeResolving(t)
			st := startStack(t, pk.name, bin)
			for _, email := range []string{"tok@example.com", "hyb@example.com"} {
				createUser(t, st.dir, email)
			}
			target := st.appURL + "/hello?x=1"
			loginPrefix := st.authURL + "/?rd=" + url.QueryEscape(target)
			for _, tc := range []struct{ mode, email string }{
				{"session", "new@example.com"}, // signs up
				{"token", "tok@example.com"},
				{"hybrid", "hyb@example.com"},
			} {
				t.Run(tc.mode, func(t *testing.T) {
					// The person reports to this subtest, in a browser context
					// of the proxy's Chromium.
					sub := *c
					sub.tb = t
					p := sub.person(tc.mode, st.authURL)
					p.do("open the application", chromedp.Navigate(target), chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
					if got := p.location(); got != loginPrefix {
						t.Fatalf("the application sent the browser to %q, want %q", got, loginPrefix)
					}
					if tc.mode == "session" {
						p.do("sign up",
							chromedp.Click(chromedp.CSS(`#signup-link`)),
							chromedp.WaitVisible(chromedp.CSS(`#signup-email`)),
							chromedp.SendKeys(chromedp.CSS(`#signup-email`), tc.email),
							chromedp.SendKeys(chromedp.CSS(`#signup-password`), browserPassword),
							chromedp.Click(chromedp.CSS(`#signup-form button[type=submit]`)),
							chromedp.WaitVisible(chromedp.CSS(`#echo`)),
						)
					} else {
						p.do("sign in",
							chromedp.SendKeys(chromedp.CSS(`#signin-email`), tc.email),
							chromedp.SendKeys(chromedp.CSS(`#signin-password`), browserPassword),
							chromedp.Click(chromedp.CSS(`details.advanced summary`)),
							chromedp.Click(chromedp.CSS(`input[name=mode][value=`+tc.mode+`]`)),
							chromedp.Click(chromedp.CSS(`#signin-form button[type=submit]`)),
							chromedp.WaitVisible(chromedp.CSS(`#echo`)),
						)
					}
					if got := p.location(); got != target {
						t.Fatalf("after signing in the browser is at %q, want %q", got, target)
					}
					e := p.appEcho()
					if e.RemoteUser == "" || e.RemoteEmail != tc.email || e.URI != "/hello?x=1" {
						t.Fatalf("the application saw %+v", e)
					}
					p.screenshot("app")
					// Signed in, the next visit goes straight through.
					p.do("another page", chromedp.Navigate(st.appURL+"/other"), chromedp.WaitVisible(chromedp.CSS(`#echo`)))
					if e := p.appEcho(); e.RemoteEmail != tc.email || e.URI != "/other" {
						t.Fatalf("the application saw %+v", e)
					}

					p.do("sign out", chromedp.Navigate(st.authURL+"/signout?rd="+url.QueryEscape(target)),
						chromedp.WaitVisible(chromedp.CSS(`#signout-form`)))
					p.see("#signout-email", tc.email)
					p.do("confirm", chromedp.Click(chromedp.CSS(`#signout-form button[type=submit]`)),
						chromedp.WaitVisible(chromedp.CSS(`#signin-form`)))
					if got := p.location(); got != loginPrefix {
						t.Fatalf("after signing out the browser is at %q, want the sign-in page %q", got, loginPrefix)
					}
					if readable := eval[string](p, `document.cookie`); strings.Contains(readable, "valet") {
						t.Errorf("scripts can read credential cookies: %q", readable)
					}
				})
			}
		})
	}
}
