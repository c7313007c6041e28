// Package client is a Go client for valet's HTTP API: sign up, log in in any
// of the three modes, refresh, log out, who am I, sessions per device and
// password change, plus introspection for services.
//
// A Client holds the credential of one login. In session mode that is the
// cookie, in the client's cookie jar; in token and hybrid modes it is the
// access and refresh tokens, which the Client sends as a Bearer token and
// refreshes by itself shortly before the access token expires (or when the
// server says it has). Tokens can be saved and restored with Tokens and
// SetTokens, as a mobile app keeps them across launches.
//
// Every error the server answers is an *Error with the API's code, message
// and status; errors.Is matches it against valet's sentinels, so
// errors.Is(err, valet.ErrInvalidCredentials) tells a wrong password.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valetauth/valet"
)

// refreshAhead is how long before its expiry an access token is refreshed,
// so that it does not expire on the way to the server.
const refreshAhead = 30 * time.Second

// maxBody bounds a response body read.
const maxBody = 1 << 20

// Error is an error answered by the server: one of the API's codes
// (invalid_credentials, token_expired, conflict, rate_limited, ...), its
// message for a person, the HTTP status, and for rate_limited and
// unavailable how long to wait.
type Error struct {
	Status     int
	Code       string
	Message    string
	RetryAfter time.Duration
}

// Error returns the code and the message.
func (e *Error) Error() string { return "valet: " + e.Code + ": " + e.Message }

// sentinels maps the API's codes to valet's sentinel errors.
var sentinels = map[string]error{
	"invalid_request":     valet.ErrInvalidRequest,
	"invalid_credentials": valet.ErrInvalidCredentials,
	"unauthenticated":     valet.ErrUnauthenticated,
	"invalid_token":       valet.ErrTokenInvalid,
	"token_expired":       valet.ErrTokenExpired,
	"invalid_grant":       valet.ErrInvalidGrant,
	"csrf_failed":         valet.ErrForbidden,
	"forbidden":           valet.ErrForbidden,
	"not_found":           valet.ErrNotFound,
	"conflict":            valet.ErrConflict,
	"payload_too_large":   valet.ErrInvalidRequest,
	"rate_limited":        valet.ErrRateLimited,
	"unavailable":         valet.ErrUnavailable,
}

// Is reports whether target is the valet sentinel error of e's code, so
// that errors.Is(err, valet.ErrConflict) holds for a conflict.
func (e *Error) Is(target error) bool {
	s, ok := sentinels[e.Code]
	return ok && s == target
}

// User is an account as the API shows it.
type User struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// EmailVerified says that the user proved to own Email.
	EmailVerified bool      `json:"email_verified"`
	Roles         []string  `json:"roles"`
	CreatedAt     time.Time `json:"created_at"`
}

// Grant is what a login or a refresh returns.
type Grant struct {
	User User
	Mode valet.Mode
	// SessionID and SessionExpiresAt name the login's device session.
	SessionID        string
	SessionExpiresAt time.Time
	// AccessToken and its expiry, in token and hybrid modes.
	AccessToken string
	ExpiresAt   time.Time
	// RefreshToken and its expiry, in token and hybrid modes.
	RefreshToken     string
	RefreshExpiresAt time.Time
}

// Tokens are the credential of a token or hybrid login, to save and restore.
type Tokens struct {
	AccessToken      string    `json:"access_token"`
	ExpiresAt        time.Time `json:"expires_at"`
	RefreshToken     string    `json:"refresh_token"`
	RefreshExpiresAt time.Time `json:"refresh_expires_at"`
}

// Me is the caller as GET /v1/me shows it.
type Me struct {
	User User
	// Mode is how the caller is logged in.
	Mode valet.Mode
	// SessionID is the device session of the caller's login, in every mode.
	SessionID string
	// ExpiresAt is when the credential presented ends.
	ExpiresAt time.Time
}

// Session is one of the caller's logins, as GET /v1/sessions shows it.
type Session struct {
	ID         string     `json:"id"`
	Mode       valet.Mode `json:"mode"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	UserAgent  string     `json:"user_agent"`
	IP         string     `json:"ip"`
	// Current is the session of the request that listed it.
	Current bool `json:"current"`
}

// Introspection is the answer of POST /v1/introspect (RFC 7662).
type Introspection struct {
	Active    bool
	Subject   string
	SessionID string
	Email     string
	Roles     []string
	ExpiresAt time.Time
	IssuedAt  time.Time
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. The Client uses a shallow copy, with
// a cookie jar of its own when hc has none. The default is a client with a
// 30-second timeout.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			cp := *hc
			c.hc = &cp
		}
	}
}

// WithClock sets the clock by which token expiry is judged; the default is
// time.Now. A nil now keeps it.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithUserAgent sets the User-Agent sent, which the server shows in the
// list of sessions; the default is "valet-go-client".
func WithUserAgent(ua string) Option { return func(c *Client) { c.ua = ua } }

// Client calls one valet server on behalf of one login. It is safe for
// concurrent use.
type Client struct {
	base string
	hc   *http.Client
	now  func() time.Time
	ua   string

	mu  sync.Mutex // guards tok; held across a refresh so only one runs
	tok Tokens
}

// New returns a Client of the valet server at baseURL (such as
// "https://auth.example.com", or the prefix valet is mounted under). It
// returns an error wrapping valet.ErrInvalidRequest when baseURL is not an
// http or https URL.
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: client: base URL %q: want http(s)://host[/prefix]", valet.ErrInvalidRequest, baseURL)
	}
	c := &Client{
		base: strings.TrimSuffix(u.String(), "/"),
		hc:   &http.Client{Timeout: 30 * time.Second},
		now:  time.Now,
		ua:   "valet-go-client",
	}
	for _, o := range opts {
		o(c)
	}
	if c.hc.Jar == nil {
		jar, err := cookiejar.New(nil)
		if err != nil {
			return nil, err
		}
		c.hc.Jar = jar
	}
	return c, nil
}

// Signup creates an account. The error is an *Error: conflict when the
// email is taken, invalid_request for a bad email or a weak password.
func (c *Client) Signup(ctx context.Context, email, password string) (User, error) {
	var out struct {
		User User `json:"user"`
	}
	err := c.call(ctx, http.MethodPost, "/v1/signup", map[string]string{"email": email, "password": password}, false, &out)
	return out.User, err
}

// grantJSON is a login or refresh answer.
type grantJSON struct {
	User    User       `json:"user"`
	Mode    valet.Mode `json:"mode"`
	Session *struct {
		ID        string    `json:"id"`
		ExpiresAt time.Time `json:"expires_at"`
	} `json:"session"`
	AccessToken      string `json:"access_token"`
	ExpiresIn        int    `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	RefreshExpiresIn int    `json:"refresh_expires_in"`
}

func (c *Client) toGrant(g grantJSON, start time.Time) *Grant {
	out := &Grant{User: g.User, AccessToken: g.AccessToken, RefreshToken: g.RefreshToken}
	if g.Session != nil {
		out.SessionID, out.SessionExpiresAt = g.Session.ID, g.Session.ExpiresAt
	}
	switch {
	case g.Mode != "":
		out.Mode = g.Mode
	case g.AccessToken == "":
		out.Mode = valet.ModeSession
	case g.Session != nil:
		// A server that does not name the mode binds only hybrid tokens
		// to a session.
		out.Mode = valet.ModeHybrid
	default:
		out.Mode = valet.ModeToken
	}
	if g.AccessToken != "" {
		// Expiry counts from when the request left, so that a slow answer
		// makes the token look older, never younger.
		out.ExpiresAt = start.Add(time.Duration(g.ExpiresIn) * time.Second)
		out.RefreshExpiresAt = start.Add(time.Duration(g.RefreshExpiresIn) * time.Second)
	}
	return out
}

// Login logs in with mode (the server's default when empty) and keeps the
// credential for the calls that follow: the cookie in session mode, the
// tokens otherwise. A login replaces the credential held before. The error
// is an *Error: invalid_credentials for a wrong email or password.
func (c *Client) Login(ctx context.Context, email, password string, mode valet.Mode) (*Grant, error) {
	in := map[string]string{"email": email, "password": password}
	if mode != "" {
		in["mode"] = string(mode)
	}
	start := c.now()
	var out grantJSON
	if err := c.call(ctx, http.MethodPost, "/v1/login", in, false, &out); err != nil {
		return nil, err
	}
	g := c.toGrant(out, start)
	c.mu.Lock()
	c.tok = Tokens{AccessToken: g.AccessToken, ExpiresAt: g.ExpiresAt, RefreshToken: g.RefreshToken, RefreshExpiresAt: g.RefreshExpiresAt}
	c.mu.Unlock()
	return g, nil
}

// Refresh trades the refresh token held for a new pair and keeps it. It
// returns an *Error with code invalid_grant when the refresh token is no
// longer valid (the login is over), and an error wrapping
// valet.ErrUnauthenticated when the Client holds no refresh token.
func (c *Client) Refresh(ctx context.Context) (*Grant, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshLocked(ctx)
}

func (c *Client) refreshLocked(ctx context.Context) (*Grant, error) {
	if c.tok.RefreshToken == "" {
		return nil, fmt.Errorf("%w: client: no refresh token held", valet.ErrUnauthenticated)
	}
	start := c.now()
	var out grantJSON
	if err := c.do(ctx, http.MethodPost, "/v1/token/refresh", map[string]string{"refresh_token": c.tok.RefreshToken}, "", &out); err != nil {
		var e *Error
		if errors.As(err, &e) && e.Code == "invalid_grant" {
			c.tok = Tokens{}
		}
		return nil, err
	}
	g := c.toGrant(out, start)
	c.tok = Tokens{AccessToken: g.AccessToken, ExpiresAt: g.ExpiresAt, RefreshToken: g.RefreshToken, RefreshExpiresAt: g.RefreshExpiresAt}
	return g, nil
}

// AccessToken returns an access token that is valid for at least 30 more
// seconds, refreshing the one held if needed. It fits
// verify.WithIntrospection as a service's credential. It returns an error
// wrapping valet.ErrUnauthenticated when the Client holds no token, and the
// errors of Refresh.
func (c *Client) AccessToken(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.AccessToken == "" && c.tok.RefreshToken == "" {
		return "", fmt.Errorf("%w: client: not logged in with a token", valet.ErrUnauthenticated)
	}
	if c.tok.AccessToken == "" || c.now().Add(refreshAhead).After(c.tok.ExpiresAt) {
		if _, err := c.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	return c.tok.AccessToken, nil
}

// Tokens returns the tokens held; zero after a session-mode login.
func (c *Client) Tokens() Tokens {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tok
}

// SetTokens replaces the tokens held, such as with those saved by an
// earlier run.
func (c *Client) SetTokens(t Tokens) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tok = t
}

// Logout ends the login held (its session, or its refresh-token family) on
// the server and forgets its credential. Logging out when not logged in is
// no error.
func (c *Client) Logout(ctx context.Context) error {
	c.mu.Lock()
	tok := c.tok
	c.mu.Unlock()
	var body any
	if tok.RefreshToken != "" {
		body = map[string]string{"refresh_token": tok.RefreshToken}
	}
	if err := c.do(ctx, http.MethodPost, "/v1/logout", body, tok.AccessToken, nil); err != nil {
		return err
	}
	c.mu.Lock()
	c.tok = Tokens{}
	c.mu.Unlock()
	return nil
}

// Me returns the caller. The error is an *Error with code unauthenticated
// (or invalid_token) when the login has ended.
func (c *Client) Me(ctx context.Context) (*Me, error) {
	var out struct {
		User User `json:"user"`
		Auth struct {
			Mode      valet.Mode `json:"mode"`
			SessionID string     `json:"session_id"`
			ExpiresAt time.Time  `json:"expires_at"`
		} `json:"auth"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/me", nil, true, &out); err != nil {
		return nil, err
	}
	return &Me{User: out.User, Mode: out.Auth.Mode, SessionID: out.Auth.SessionID, ExpiresAt: out.Auth.ExpiresAt}, nil
}

// Sessions returns the caller's sessions (session and hybrid logins), newest
// first.
func (c *Client) Sessions(ctx context.Context) ([]Session, error) {
	var out struct {
		Sessions []Session `json:"sessions"`
	}
	if err := c.call(ctx, http.MethodGet, "/v1/sessions", nil, true, &out); err != nil {
		return nil, err
	}
	return out.Sessions, nil
}

// RevokeSession ends the caller's session id. The error is an *Error with
// code not_found for a session that is not the caller's.
func (c *Client) RevokeSession(ctx context.Context, id string) error {
	return c.call(ctx, http.MethodDelete, "/v1/sessions/"+url.PathEscape(id), nil, true, nil)
}

// RevokeOtherSessions ends every session of the caller but the current one.
func (c *Client) RevokeOtherSessions(ctx context.Context) error {
	return c.call(ctx, http.MethodDelete, "/v1/sessions", nil, true, nil)
}

// ChangePassword sets a new password; every other session of the user ends.
// The error is an *Error: invalid_credentials for a wrong current password,
// invalid_request for a weak new one.
func (c *Client) ChangePassword(ctx context.Context, current, next string) error {
	return c.call(ctx, http.MethodPost, "/v1/password",
		map[string]string{"current_password": current, "new_password": next}, true, nil)
}

// RequestVerification asks for a new mail with a link and a code that
// verify the caller's address. The error is an *Error with code
// invalid_request when it is verified already.
func (c *Client) RequestVerification(ctx context.Context) error {
	return c.call(ctx, http.MethodPost, "/v1/verification", nil, true, nil)
}

// CompleteVerification verifies an address with the token of its link, or,
// when tok is empty, with email and the code of the mail. The error is an
// *Error with code invalid_code for a token or code that is wrong, used or
// expired.
func (c *Client) CompleteVerification(ctx context.Context, tok, email, code string) error {
	return c.call(ctx, http.MethodPost, "/v1/verification/complete", ticketBody(tok, email, code), false, nil)
}

// RequestRecovery asks for a mail with a link and a code that set a new
// password. It succeeds whether or not an account has email.
func (c *Client) RequestRecovery(ctx context.Context, email string) error {
	return c.call(ctx, http.MethodPost, "/v1/recovery", map[string]string{"email": email}, false, nil)
}

// CompleteRecovery sets the password to next with the token of a recovery
// link, or, when tok is empty, with email and the code of the mail. Every
// session of the user ends, this Client's too: log in again. The error is
// an *Error with code invalid_code for a token or code that is wrong, used
// or expired, and invalid_request for a weak password.
func (c *Client) CompleteRecovery(ctx context.Context, tok, email, code, next string) error {
	body := ticketBody(tok, email, code)
	body["new_password"] = next
	return c.call(ctx, http.MethodPost, "/v1/recovery/complete", body, false, nil)
}

// ChangeEmail asks to change the caller's address to next; it takes effect
// once next is verified (CompleteVerification). The error is an *Error with
// code invalid_credentials for a wrong current password and conflict for an
// address another account has.
func (c *Client) ChangeEmail(ctx context.Context, next, current string) error {
	return c.call(ctx, http.MethodPost, "/v1/email",
		map[string]string{"new_email": next, "current_password": current}, true, nil)
}

func ticketBody(tok, email, code string) map[string]string {
	if tok != "" {
		return map[string]string{"token": tok}
	}
	return map[string]string{"email": email, "code": code}
}

// Introspect asks the server about tok (RFC 7662). The Client must be
// logged in as a user with role service or admin; otherwise the error is an
// *Error with code forbidden.
func (c *Client) Introspect(ctx context.Context, tok string) (*Introspection, error) {
	var out struct {
		Active bool     `json:"active"`
		Sub    string   `json:"sub"`
		Sid    string   `json:"sid"`
		Email  string   `json:"email"`
		Roles  []string `json:"roles"`
		Exp    int64    `json:"exp"`
		Iat    int64    `json:"iat"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/introspect", map[string]string{"token": tok}, true, &out); err != nil {
		return nil, err
	}
	in := &Introspection{Active: out.Active, Subject: out.Sub, SessionID: out.Sid, Email: out.Email, Roles: out.Roles}
	if out.Exp != 0 {
		in.ExpiresAt = time.Unix(out.Exp, 0).UTC()
	}
	if out.Iat != 0 {
		in.IssuedAt = time.Unix(out.Iat, 0).UTC()
	}
	return in, nil
}

// call makes a request, authenticated when authed is set: with the access
// token held (refreshed first when close to expiry, and once more when the
// server says it has expired), or else the cookie in the jar.
func (c *Client) call(ctx context.Context, method, path string, in any, authed bool, out any) error {
	if !authed {
		return c.do(ctx, method, path, in, "", out)
	}
	bearer, err := c.bearer(ctx)
	if err != nil {
		return err
	}
	err = c.do(ctx, method, path, in, bearer, out)
	var e *Error
	if bearer != "" && errors.As(err, &e) && e.Code == "token_expired" {
		c.mu.Lock()
		if c.tok.AccessToken == bearer {
			_, rerr := c.refreshLocked(ctx)
			if rerr != nil {
				c.mu.Unlock()
				return err
			}
		}
		bearer = c.tok.AccessToken
		c.mu.Unlock()
		err = c.do(ctx, method, path, in, bearer, out)
	}
	return err
}

// bearer returns the access token to send, refreshed when close to expiry;
// empty when the Client holds none (a cookie login).
func (c *Client) bearer(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tok.RefreshToken != "" && (c.tok.AccessToken == "" || c.now().Add(refreshAhead).After(c.tok.ExpiresAt)) {
		if _, err := c.refreshLocked(ctx); err != nil {
			return "", err
		}
	}
	return c.tok.AccessToken, nil
}

// do sends one request with in as its JSON body (none when nil) and decodes
// a 2xx answer into out (when not nil). Any other answer becomes an *Error.
func (c *Client) do(ctx context.Context, method, path string, in any, bearer string, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return fmt.Errorf("client: %w", err)
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return fmt.Errorf("%w: client: %v", valet.ErrInvalidRequest, err)
	}
	req.Header.Set("Accept", "application/json")
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.ua != "" {
		req.Header.Set("User-Agent", c.ua)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("%w: client: %s %s: %w", valet.ErrUnavailable, method, path, cerr)
		}
		return fmt.Errorf("%w: client: %s %s: %v", valet.ErrUnavailable, method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("%w: client: %s %s: %v", valet.ErrUnavailable, method, path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return apiError(resp, b)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: client: %s %s: the answer is not the API's JSON: %v", valet.ErrUnavailable, method, path, err)
	}
	return nil
}

// apiError turns an error answer into an *Error; one that is not in the
// contract's shape (a proxy's page, say) gets a code from its status.
func apiError(resp *http.Response, body []byte) *Error {
	e := &Error{Status: resp.StatusCode}
	var j struct {
		Error   string `json:"error"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &j) == nil && j.Error != "" {
		e.Code, e.Message = j.Error, j.Message
	} else {
		switch {
		case resp.StatusCode == http.StatusUnauthorized:
			e.Code = "unauthenticated"
		case resp.StatusCode == http.StatusForbidden:
			e.Code = "forbidden"
		case resp.StatusCode == http.StatusNotFound:
			e.Code = "not_found"
		case resp.StatusCode == http.StatusTooManyRequests:
			e.Code = "rate_limited"
		case resp.StatusCode == http.StatusBadGateway, resp.StatusCode == http.StatusServiceUnavailable, resp.StatusCode == http.StatusGatewayTimeout:
			e.Code = "unavailable"
		case resp.StatusCode >= 500:
			e.Code = "internal"
		default:
			e.Code = "invalid_request"
		}
		e.Message = http.StatusText(resp.StatusCode)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && s > 0 {
		e.RetryAfter = time.Duration(s) * time.Second
	}
	return e
}
