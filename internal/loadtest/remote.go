package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/valetauth/valet"
)

// runRemote drives a deployment: GET /v1/me in every mode the account can
// log in with, and hybrid propagation when several nodes are given. Logins
// there are the deployment's own, so their throughput and memory are not
// measured, to keep clear of its rate limits.
func runRemote(ctx context.Context, cfg *Config, rep *Report) error {
	base := strings.TrimRight(cfg.URLs[0], "/")
	rep.Remote = base
	client := &http.Client{Timeout: 30 * time.Second}
	var targets []*meTarget
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, mode := range []valet.Mode{valet.ModeSession, valet.ModeToken, valet.ModeHybrid} {
		progress(cfg, "logging in to %s in %s mode", base, mode)
		c, credLen, err := remoteLogin(ctx, client, base, cfg.Email, cfg.Password, mode)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.note("%s mode skipped: %v.", mode, err)
			continue
		}
		targets = append(targets, &meTarget{
			name: string(mode), mode: string(mode), url: base, creds: []credential{c}, credLen: credLen,
			per100k: -1, closeFn: func() { remoteLogout(client, base, c) },
		})
	}
	if len(targets) == 0 {
		return fmt.Errorf("loadtest: %s accepted the account in no mode", base)
	}
	if err := runRounds(ctx, cfg, targets); err != nil {
		return err
	}
	rep.Targets = results(targets)
	if len(cfg.URLs) > 1 && cfg.Revocations > 0 {
		urls := make([]string, len(cfg.URLs))
		for i, u := range cfg.URLs {
			urls[i] = strings.TrimRight(u, "/")
		}
		login := func(ctx context.Context) (string, error) {
			c, _, err := remoteLogin(ctx, client, base, cfg.Email, cfg.Password, valet.ModeHybrid)
			return strings.TrimPrefix(c.value, "Bearer "), err
		}
		progress(cfg, "timing %d hybrid logouts across %d nodes", cfg.Revocations, len(urls))
		res, err := propagation(ctx, urls, cfg.Revocations, login)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rep.note("Hybrid propagation was not measured: %v.", err)
		} else {
			res.Transport = "the deployment's channel"
			rep.Propagation = res
		}
	}
	rep.note("Driven over the network at %s: there is no floor, and login throughput and server memory are not measured.", base)
	return nil
}

// remoteLogin logs in to base in mode and returns the credential that
// GET /v1/me then presents, with the length of the cookie or token.
func remoteLogin(ctx context.Context, client *http.Client, base, email, pw string, mode valet.Mode) (credential, int, error) {
	body, _ := json.Marshal(map[string]string{"email": email, "password": pw, "mode": string(mode)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/login", bytes.NewReader(body))
	if err != nil {
		return credential{}, 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return credential{}, 0, fmt.Errorf("login: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var out struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	_ = json.Unmarshal(b, &out)
	if resp.StatusCode != http.StatusOK {
		return credential{}, 0, fmt.Errorf("the login answered %d %s", resp.StatusCode, out.Error)
	}
	if mode == valet.ModeSession {
		for _, c := range resp.Cookies() {
			if c.Name == "valet_session" {
				return credential{"Cookie", "valet_session=" + c.Value}, len(c.Value), nil
			}
		}
		return credential{}, 0, fmt.Errorf("the login set no valet_session cookie")
	}
	if out.AccessToken == "" {
		return credential{}, 0, fmt.Errorf("the login returned no access token")
	}
	return credential{"Authorization", "Bearer " + out.AccessToken}, len(out.AccessToken), nil
}

// remoteLogout ends a session the run started, so that it leaves nothing
// behind on the deployment but token-mode refresh families.
func remoteLogout(client *http.Client, base string, c credential) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/logout", nil)
	if err != nil {
		return
	}
	req.Header.Set(c.header, c.value)
	// A cookie-authenticated POST must look same-origin to pass the CSRF check.
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err := client.Do(req); err == nil {
		resp.Body.Close()
	}
}
