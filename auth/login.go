package auth

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/password"
	"github.com/valetauth/valet/token"
)

// Client describes where a request comes from, for session records and
// audit events.
type Client struct {
	UserAgent string
	IP        string
}

// Grant is what a login or a refresh hands to the client.
type Grant struct {
	User valet.User
	Mode valet.Mode
	// Session is set in session and hybrid modes.
	Session *valet.Session
	// Cookie is the session cookie value, set in session mode.
	Cookie string
	// AccessToken and its lifetime, set in token and hybrid modes.
	AccessToken string
	AccessTTL   time.Duration
	// RefreshToken and its remaining lifetime, set in token and hybrid modes.
	RefreshToken string
	RefreshTTL   time.Duration
}

// NormalizeEmail trims and lower-cases email and checks that it is a plain
// address (no display name, no line breaks, at most 254 bytes). It returns
// an error wrapping valet.ErrInvalidEmail.
func NormalizeEmail(email string) (string, error) {
	e := strings.ToLower(strings.TrimSpace(email))
	if e == "" || len(e) > 254 || !utf8.ValidString(e) || strings.ContainsAny(e, "\x00\r\n\t <>\"(),;:\\[]") {
		return "", valet.Errorf(valet.ErrInvalidEmail, "Enter an email address like name@example.com.")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" {
		return "", valet.Errorf(valet.ErrInvalidEmail, "Enter an email address like name@example.com.")
	}
	at := strings.LastIndexByte(e, '@')
	if at < 1 || at == len(e)-1 || !strings.Contains(e[at+1:], ".") {
		return "", valet.Errorf(valet.ErrInvalidEmail, "Enter an email address like name@example.com.")
	}
	return e, nil
}

// Signup creates an account with no roles and, when the service sends
// mail, sends its address a link and a code that verify it: the account
// and its mail are stored in one transaction, so that no account is made
// whose verification mail is lost. It returns valet.ErrConflict when the
// email is taken, and errors wrapping ErrInvalidEmail or ErrWeakPassword.
func (s *Service) Signup(ctx context.Context, email, pw string, c Client) (valet.User, error) {
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Signup(ctx, c.IP); err != nil {
			return valet.User{}, s.throttled(ctx, err, "signup", "", c)
		}
	}
	u, err := s.newUser(ctx, email, pw, nil)
	if err != nil {
		return valet.User{}, err
	}
	if s.mail == nil {
		err = s.users.CreateUser(ctx, u)
	} else {
		err = s.createVerifying(ctx, u)
	}
	if err != nil {
		return valet.User{}, createUserError(err)
	}
	s.audit(ctx, "signup", u.ID, "", c)
	return u, nil
}

// CreateUser creates an account with roles (administration and the CLI).
func (s *Service) CreateUser(ctx context.Context, email, pw string, roles []string) (valet.User, error) {
	u, err := s.newUser(ctx, email, pw, roles)
	if err != nil {
		return valet.User{}, err
	}
	if err := s.users.CreateUser(ctx, u); err != nil {
		return valet.User{}, createUserError(err)
	}
	return u, nil
}

// newUser returns the account that CreateUser stores, not stored yet.
func (s *Service) newUser(ctx context.Context, email, pw string, roles []string) (valet.User, error) {
	e, err := NormalizeEmail(email)
	if err != nil {
		return valet.User{}, err
	}
	if err := s.checkNewPassword(pw, e, ""); err != nil {
		return valet.User{}, err
	}
	if err := validRoles(roles); err != nil {
		return valet.User{}, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return valet.User{}, err
	}
	now := s.cfg.Now().UTC()
	u := valet.User{ID: newShortID(), Email: e, PasswordHash: hash, Roles: dedupe(roles), CreatedAt: now, UpdatedAt: now}
	if u.Roles == nil {
		u.Roles = []string{}
	}
	return u, nil
}

// createUserError is the error of a store's refusal to create a user: a
// taken email says so in words.
func createUserError(err error) error {
	if errors.Is(err, valet.ErrConflict) {
		return valet.Errorf(valet.ErrConflict, "An account with this email already exists.")
	}
	return err
}

// Login checks the email and password and starts a login in mode (the
// server's default when empty). A wrong email and a wrong password give the
// same valet.ErrInvalidCredentials after the same amount of hashing.
func (s *Service) Login(ctx context.Context, email, pw string, mode valet.Mode, c Client) (*Grant, error) {
	if mode == "" {
		mode = s.cfg.Mode
	}
	if _, err := valet.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	account := throttleAccount(email)
	if s.cfg.Throttle != nil {
		// Before the hash: a refused guess must not cost the server a hash.
		if err := s.cfg.Throttle.Login(ctx, account, c.IP); err != nil {
			return nil, s.throttled(ctx, err, "login", "", c, "email_hash", valet.HashSecret(account)[:12])
		}
	}
	u, err := s.checkPassword(ctx, email, pw)
	if err != nil {
		if errors.Is(err, valet.ErrInvalidCredentials) {
			s.audit(ctx, "login.failure", "", "", c, "email_hash", valet.HashSecret(strings.ToLower(strings.TrimSpace(email)))[:12])
			if s.cfg.Throttle != nil {
				if terr := s.cfg.Throttle.LoginFailed(ctx, account, c.IP); terr != nil {
					s.log.WarnContext(ctx, "counting a failed login failed", "err", terr)
				}
			}
		}
		return nil, err
	}
	if s.cfg.Throttle != nil {
		if terr := s.cfg.Throttle.LoginSucceeded(ctx, account, c.IP); terr != nil {
			s.log.WarnContext(ctx, "resetting the failed logins of an account failed", "user_id", u.ID, "err", terr)
		}
	}
	if u.Disabled {
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "disabled")
		return nil, valet.Errorf(valet.ErrUserDisabled, "This account is disabled.")
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		// Said only to who knows the password.
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "email_unverified")
		return nil, valet.Errorf(valet.ErrEmailUnverified, "Verify your email address first: open the link we sent to it, or ask for a new one.")
	}
	if err := s.askSecondFactor(ctx, u, mode, c); err != nil {
		return nil, err
	}
	g, err := s.grantSignedIn(ctx, u, mode, c, []string{valet.AMRPassword})
	if err != nil {
		return nil, err
	}
	sid := ""
	if g.Session != nil {
		sid = g.Session.ID
	}
	s.audit(ctx, "login.success", u.ID, sid, c, "mode", string(mode))
	return g, nil
}

// checkPassword returns the user whose email and password match.
func (s *Service) checkPassword(ctx context.Context, email, pw string) (valet.User, error) {
	e, err := NormalizeEmail(email)
	var u valet.User
	if err == nil {
		u, err = s.users.UserByEmail(ctx, e)
	}
	if err != nil {
		if errors.Is(err, valet.ErrNotFound) || errors.Is(err, valet.ErrInvalidEmail) {
			// Hash anyway, so an unknown email costs what a wrong password does.
			if derr := s.hasher.VerifyDummy(ctx, pw); derr != nil {
				return valet.User{}, derr
			}
			return valet.User{}, valet.ErrInvalidCredentials
		}
		return valet.User{}, err
	}
	ok, rehash, err := s.verifyStored(ctx, pw, u.PasswordHash)
	if err != nil {
		return valet.User{}, err
	}
	if !ok {
		return valet.User{}, valet.ErrInvalidCredentials
	}
	if rehash {
		u = s.upgradeHash(ctx, u, pw)
	}
	return u, nil
}

// siteName is the site name that new passwords may not be built from.
const siteName = "valet"

// checkNewPassword applies Config.PasswordPolicy to a new password of the
// account with the normalized email; current is the password it replaces
// (empty when there is none). It returns an error of kind
// valet.ErrWeakPassword that carries a sentence for the person.
func (s *Service) checkNewPassword(pw, email, current string) error {
	return s.cfg.PasswordPolicy.Check(pw, password.Context{Email: email, SiteName: siteName, Current: current})
}

// verifyStored checks pw against a stored hash: valet's argon2id, a hash
// imported from another system, or the unusable password of an account
// imported without one, which matches nothing. rehash reports that the
// hash should be replaced now that the password is known (see
// password.Hasher.VerifyUpgrade). A hash that cannot be read is an error.
func (s *Service) verifyStored(ctx context.Context, pw, hash string) (ok, rehash bool, err error) {
	if !usablePassword(hash) {
		// Cost what a verify costs, so that the response time does not
		// tell an account without a password from one with a wrong guess.
		if err := s.hasher.VerifyDummy(ctx, pw); err != nil {
			return false, false, err
		}
		return false, false, nil
	}
	return s.hasher.VerifyUpgrade(ctx, pw, hash)
}

// upgradeHash replaces u's password hash, imported from another system or
// made with weaker parameters than today's, by argon2id at today's
// parameters, now that pw is known to be right, and returns u as stored.
// A failure is logged and leaves the old hash, which still verifies: the
// login it is part of goes on.
func (s *Service) upgradeHash(ctx context.Context, u valet.User, pw string) valet.User {
	h, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		s.log.WarnContext(ctx, "password rehash skipped", "user_id", u.ID, "err", err)
		return u
	}
	// Read the user again: an administrator may have disabled it, or the
	// user changed the password, while the hashes ran, and writing back the
	// user read before them would undo that.
	cur, err := s.users.UserByID(ctx, u.ID)
	if err != nil {
		s.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "err", err)
		return u
	}
	if cur.PasswordHash != u.PasswordHash {
		return cur
	}
	cur.PasswordHash, cur.UpdatedAt = h, s.cfg.Now().UTC()
	if err := s.users.UpdateUser(ctx, cur); err != nil {
		s.log.WarnContext(ctx, "password rehash not stored", "user_id", u.ID, "err", err)
		return u
	}
	return cur
}

// grantSignedIn starts the device session of a login and hands out what the mode
// gives the client: a cookie, or tokens. Every mode keeps a session record,
// so every login is listed and can be ended; the record of a token-mode
// login is never read per request (its tokens carry no sid), only when its
// refresh family rotates.
// The sign-in was made now with the methods amr, which the session records.
func (s *Service) grantSignedIn(ctx context.Context, u valet.User, mode valet.Mode, c Client, amr []string) (*Grant, error) {
	g := &Grant{User: u, Mode: mode}
	if mode != valet.ModeSession {
		if s.refresh == nil {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "This server has no refresh-token store.")
		}
		if mode == valet.ModeHybrid && s.revoker == nil {
			return nil, valet.Errorf(valet.ErrInvalidRequest, "This server has no revocation set for hybrid mode.")
		}
	}
	sess, cookie, err := s.sessions.CreateSignedIn(ctx, u.ID, mode, c.UserAgent, c.IP, amr, s.cfg.Now())
	if err != nil {
		return nil, err
	}
	g.Session = &sess
	if mode == valet.ModeSession {
		g.Cookie = cookie
		return g, nil
	}
	// The secret of a token or hybrid session is never handed out: the
	// client holds tokens, which name the session by its public id.
	if err := s.issueAccess(g); err != nil {
		return nil, err
	}
	rt, fam, err := s.newRefreshFamily(ctx, u.ID, sess.ID)
	if err != nil {
		return nil, err
	}
	g.RefreshToken, g.RefreshTTL = rt, familyTTL(fam, s.cfg.Now())
	return g, nil
}

// issueAccess signs an access token for g.User into g: bound to g.Session
// by sid in hybrid mode, naming it by did in token mode.
func (s *Service) issueAccess(g *Grant) error {
	now := s.cfg.Now()
	exp := now.Add(s.cfg.AccessTTL)
	if g.Session != nil && g.Session.ExpiresAt.Before(exp) {
		exp = g.Session.ExpiresAt
	}
	c := token.Claims{
		Issuer: s.cfg.Issuer, Subject: g.User.ID, Audience: token.Audience{s.cfg.Audience},
		ExpiresAt: exp.Unix(), IssuedAt: now.Unix(), ID: newShortID(),
		Roles: g.User.Roles, Email: g.User.Email, EmailVerified: g.User.EmailVerified,
	}
	if g.Session != nil {
		c.AMR = g.Session.AMR
		if !g.Session.AuthTime.IsZero() {
			c.AuthTime = g.Session.AuthTime.Unix()
		}
		if g.Mode == valet.ModeHybrid {
			c.SessionID = g.Session.ID
		} else {
			c.DeviceID = g.Session.ID
		}
	}
	tok, err := s.keys.KeySet().Sign(&c)
	if err != nil {
		return fmt.Errorf("auth: sign access token: %w", err)
	}
	g.AccessToken, g.AccessTTL = tok, exp.Sub(now)
	return nil
}

func validRoles(roles []string) error {
	for _, r := range roles {
		if r == "" || len(r) > 64 || strings.ContainsFunc(r, func(c rune) bool {
			return !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':' || c == '.')
		}) {
			return valet.Errorf(valet.ErrInvalidRequest, "A role is 1 to 64 characters of a-z, 0-9, '-', '_', ':' or '.'.")
		}
	}
	return nil
}

func dedupe(in []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, r := range in {
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}

// plausibleID reports whether s could be an id this server made: 1 to 128
// characters of base64url. Anything else names no record, and is refused
// before it reaches a store, some of which fail on bytes such as NUL or
// invalid UTF-8 instead of finding nothing.
func plausibleID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// throttleAccount is the account a login attempt counts against: the
// normalized email whether or not an account has it, so that a refusal says
// nothing about which emails exist.
func throttleAccount(email string) string {
	if e, err := NormalizeEmail(email); err == nil {
		return e
	}
	return strings.ToLower(strings.TrimSpace(email))
}

// throttled records a refusal by the throttle as an audit event and returns
// err unchanged; other errors (the counters are unreachable) pass through.
func (s *Service) throttled(ctx context.Context, err error, action, userID string, c Client, kv ...any) error {
	if errors.Is(err, valet.ErrRateLimited) {
		s.audit(ctx, "throttle", userID, "", c, append([]any{"action", action, "reason", err.Error()}, kv...)...)
	}
	return err
}

// audit logs a security event. It never receives a password, token or
// cookie value: only ids, the client's address and user agent.
func (s *Service) audit(ctx context.Context, event, userID, sessionID string, c Client, kv ...any) {
	args := append([]any{"event", event, "user_id", userID, "session_id", sessionID, "ip", c.IP, "user_agent", c.UserAgent}, kv...)
	s.log.InfoContext(ctx, "audit", args...)
}
