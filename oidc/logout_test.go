package oidc_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/valetauth/valet/oidc"
)

// TestLogoutWithoutBrowser: RP-initiated logout from an application's
// server, without the browser's cookie, ends the session its
// id_token_hint names; a hint that does not verify ends nothing, and a
// provider that cannot end a session by id says so instead of claiming a
// sign-out.
func TestLogoutWithoutBrowser(t *testing.T) {
	var (
		mu    sync.Mutex
		ended [][2]string
	)
	e := newEnv(t, func(c *oidc.Config) {
		c.EndSessionByID = func(_ context.Context, userID, sid string) error {
			mu.Lock()
			defer mu.Unlock()
			ended = append(ended, [2]string{userID, sid})
			return nil
		}
	})
	_, m := e.exchange(e.browser(identity("s-backend")).code(authParams()))
	idt := m["id_token"].(string)
	server := e.browser(nil)

	for _, tc := range []struct{ name, hint string }{
		{"altered hint", idt[:len(idt)-10] + strings.Repeat("A", 10)},
		{"an access token as hint", m["access_token"].(string)},
		{"no hint", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := url.Values{}
			if tc.hint != "" {
				q.Set("id_token_hint", tc.hint)
			}
			resp, _ := server.do("GET", "/oauth2/logout?"+q.Encode(), nil)
			mu.Lock()
			n := len(ended)
			mu.Unlock()
			if resp.StatusCode >= 500 || n != 0 {
				t.Errorf("status %d, %d sessions ended; want none", resp.StatusCode, n)
			}
		})
	}

	resp, body := server.do("GET", "/oauth2/logout?"+url.Values{"id_token_hint": {idt}}.Encode(), nil)
	mu.Lock()
	got := ended
	mu.Unlock()
	if resp.StatusCode != 200 || !strings.Contains(body, "signed out") || len(got) != 1 || got[0] != [2]string{"u1", "s-backend"} {
		t.Errorf("with the hint: status %d, ended %v; want 200 and u1's session s-backend", resp.StatusCode, got)
	}

	// Without the hook, nothing ends and the page says so.
	plain := newEnv(t)
	_, m = plain.exchange(plain.browser(identity("s-2")).code(authParams()))
	resp, body = plain.browser(nil).do("GET", "/oauth2/logout?"+url.Values{"id_token_hint": {m["id_token"].(string)}}.Encode(), nil)
	if resp.StatusCode != 400 || !strings.Contains(body, "nothing was signed out") {
		t.Errorf("without EndSessionByID: status %d: %.200s", resp.StatusCode, body)
	}
}
