package oidc

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/token"
)

// App is a client that a user let have their data, as the account page
// lists it.
type App struct {
	ClientID string
	// Name is the client's name, or its id when it has none.
	Name   string
	Scopes []string
	// Since is when the user last agreed.
	Since time.Time
}

// Apps returns the clients userID consented to, newest consent first.
// Clients with SkipConsent (your own apps) ask for no consent and are not
// listed; their sign-ins end with the device sessions that made them.
func (p *Provider) Apps(ctx context.Context, userID string) ([]App, error) {
	consents, err := p.cfg.Clients.Consents(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("oidc: apps: %w", err)
	}
	apps := make([]App, 0, len(consents))
	for _, c := range consents {
		client, found, err := p.clientByID(ctx, c.ClientID)
		if err != nil {
			return nil, fmt.Errorf("oidc: apps: %w", err)
		}
		if !found {
			continue
		}
		name := client.Name
		if name == "" {
			name = client.ID
		}
		apps = append(apps, App{ClientID: client.ID, Name: name, Scopes: slices.Clone(c.Scopes), Since: c.CreatedAt})
	}
	return apps, nil
}

// RevokeApp withdraws what userID let clientID have: the consent goes, so
// the next sign-in to the app asks again; the app's refresh tokens for the
// user are revoked at once; and the app is told, by back-channel logout,
// that each of the device sessions in sids through which it got tokens has
// ended for it. Access tokens the app holds live until they expire (their
// lifetime is the client's, 15 minutes by default). found is false when
// there was no consent and no refresh token to withdraw.
func (p *Provider) RevokeApp(ctx context.Context, userID, clientID string, sids []string) (found bool, err error) {
	had, err := p.cfg.Clients.DeleteConsent(ctx, userID, clientID)
	if err != nil {
		return false, fmt.Errorf("oidc: revoke app: %w", err)
	}
	n, err := p.cfg.Clients.RevokeClientRefreshes(ctx, valet.ClientRefreshFilter{UserID: userID, ClientID: clientID})
	if err != nil {
		return false, fmt.Errorf("oidc: revoke app: %w", err)
	}
	client, known, err := p.clientByID(ctx, clientID)
	if err != nil {
		return false, fmt.Errorf("oidc: revoke app: %w", err)
	}
	if known {
		for _, sid := range sids {
			grants, err := p.cfg.Clients.ClientGrants(ctx, sid)
			if err != nil {
				return false, fmt.Errorf("oidc: revoke app: %w", err)
			}
			for _, g := range grants {
				if g.ClientID == clientID && g.UserID == userID {
					if err := p.tellLogout(&client, userID, sid); err != nil {
						return false, fmt.Errorf("oidc: revoke app: %w", err)
					}
				}
			}
		}
	}
	p.cfg.Logger.InfoContext(ctx, "audit", "event", "app_revoked", "user_id", userID, "client_id", clientID, "refresh_families", n)
	return had || n > 0, nil
}

// tellLogout signs a logout token for session sid of userID and sends it
// to client in the background, when the client takes them.
func (p *Provider) tellLogout(client *valet.Client, userID, sid string) error {
	if client.BackchannelLogoutURI == "" {
		return nil
	}
	now := p.now()
	tok, err := p.signFor(client, &token.Claims{
		Issuer: p.cfg.Issuer, Subject: userID, Audience: token.Audience{client.ID},
		IssuedAt: now.Unix(), ExpiresAt: now.Add(2 * time.Minute).Unix(), ID: valet.NewID(),
		SessionID: sid, Events: token.Events{BackchannelLogoutEvent},
	})
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	p.wg.Add(1)
	go p.deliver(client.ID, client.BackchannelLogoutURI, tok)
	return nil
}
