package auth

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// MFAPolicy says who must have a second factor.
type MFAPolicy struct {
	// Required makes a second factor required of every user.
	Required bool
	// Role, when not empty, makes one required of the users with it.
	Role string
}

// ParseMFAPolicy reads "optional", "required" or "required-for-role=ROLE".
func ParseMFAPolicy(s string) (MFAPolicy, error) {
	switch {
	case s == "" || s == "optional":
		return MFAPolicy{}, nil
	case s == "required":
		return MFAPolicy{Required: true}, nil
	case strings.HasPrefix(s, "required-for-role="):
		r := strings.TrimPrefix(s, "required-for-role=")
		if err := validRoles([]string{r}); err != nil {
			return MFAPolicy{}, fmt.Errorf("mfa policy %q: %w", s, err)
		}
		return MFAPolicy{Role: r}, nil
	}
	return MFAPolicy{}, fmt.Errorf("mfa policy %q: want optional, required or required-for-role=ROLE", s)
}

// String returns p as ParseMFAPolicy reads it.
func (p MFAPolicy) String() string {
	switch {
	case p.Required:
		return "required"
	case p.Role != "":
		return "required-for-role=" + p.Role
	}
	return "optional"
}

// Requires reports whether u must have a second factor.
func (p MFAPolicy) Requires(u valet.User) bool {
	return p.Required || p.Role != "" && u.HasRole(p.Role)
}

// The methods of a second factor, as the API names them.
const (
	MethodTOTP         = "totp"
	MethodWebAuthn     = "webauthn"
	MethodRecoveryCode = "recovery_code"
	MethodPassword     = "password"
)

// MFARequiredError is the answer to a correct password of an account that
// has a second factor: the login goes on with LoginMFA, given Token.
type MFARequiredError struct {
	// Token names the attempt: single use, for MFATokenTTL.
	Token string
	// Methods are the second factors the account has: totp, webauthn,
	// recovery_code.
	Methods []string
}

func (e *MFARequiredError) Error() string { return "valet: second factor required" }

// Unwrap makes the error match valet.ErrMFARequired.
func (e *MFARequiredError) Unwrap() error { return valet.ErrMFARequired }

// MFATokenTTL is how long the password step of a login waits for its
// second factor.
const MFATokenTTL = 5 * time.Minute

// maxFactorTries is how many wrong second factors one mfa_token takes.
const maxFactorTries = 5

// pending is the state of a sign-in between two requests, sealed and kept
// in the FactorStore under the hash of a secret that the client holds (an
// mfa_token, or a WebAuthn challenge).
type pending struct {
	// Purpose: "mfa" (a password checked, a second factor awaited), or
	// for a WebAuthn challenge "login" (a passkey alone), "second"
	// (a passkey as the second factor of mfa_token MFAKey), "register"
	// and "reauth".
	Purpose string     `json:"p"`
	UserID  string     `json:"u,omitempty"`
	Mode    valet.Mode `json:"m,omitempty"`
	// AuthAt is when the password was checked.
	AuthAt   time.Time `json:"t,omitzero"`
	Tries    int       `json:"n,omitempty"`
	Expires  time.Time `json:"e"`
	MFAKey   string    `json:"k,omitempty"`
	Session  string    `json:"s,omitempty"`
	Name     string    `json:"nm,omitempty"`
	Passkey  []byte    `json:"w,omitempty"`
	Resident bool      `json:"r,omitempty"`
}

func (s *Service) factorStore() (valet.FactorStore, error) {
	if s.cfg.Stores.Factors == nil {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "This server keeps no second factors.")
	}
	return s.cfg.Stores.Factors, nil
}

// putPending seals p and stores it under key.
func (s *Service) putPending(ctx context.Context, key string, p pending) error {
	fs, err := s.factorStore()
	if err != nil {
		return err
	}
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("auth: %w", err)
	}
	return fs.PutPending(ctx, key, sealWith(s.factorSeal, b, key), p.Expires)
}

// takePending takes and opens the state under key; found is false when
// there is none, it has expired, or it is not for purpose.
func (s *Service) takePending(ctx context.Context, key, purpose string) (p pending, found bool, err error) {
	fs, err := s.factorStore()
	if err != nil {
		return pending{}, false, err
	}
	b, found, err := fs.TakePending(ctx, key, s.cfg.Now())
	if err != nil || !found {
		return pending{}, false, err
	}
	plain, err := openWith(s.factorSeal, b, key)
	if err != nil {
		s.log.WarnContext(ctx, "a pending sign-in did not open; it is dropped", "err", err)
		return pending{}, false, nil
	}
	if err := json.Unmarshal(plain, &p); err != nil || p.Purpose != purpose || !s.cfg.Now().Before(p.Expires) {
		return pending{}, false, nil
	}
	return p, true, nil
}

// sealWith seals plain under aead, bound to ad, as nonce || ciphertext.
func sealWith(aead cipher.AEAD, plain []byte, ad string) []byte {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic("auth: crypto/rand failed: " + err.Error())
	}
	return aead.Seal(nonce, nonce, plain, []byte(ad))
}

func openWith(aead cipher.AEAD, sealed []byte, ad string) ([]byte, error) {
	if len(sealed) < aead.NonceSize() {
		return nil, errors.New("auth: sealed value too short")
	}
	return aead.Open(nil, sealed[:aead.NonceSize()], sealed[aead.NonceSize():], []byte(ad))
}

// FactorInfo is a second factor as its user sees it.
type FactorInfo struct {
	ID         string
	Kind       valet.FactorKind
	Name       string
	CreatedAt  time.Time
	LastUsedAt time.Time
	// Synced reports a passkey that may be copied to the user's other
	// devices (backup eligible); BackedUp that it has been.
	Synced, BackedUp bool
}

// Factors returns the confirmed second factors of userID and how many
// recovery codes it has left.
func (s *Service) Factors(ctx context.Context, userID string) ([]FactorInfo, int, error) {
	fs, err := s.factorStore()
	if err != nil {
		return nil, 0, err
	}
	all, err := fs.Factors(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	out := []FactorInfo{}
	for _, f := range all {
		if !f.Confirmed {
			continue
		}
		fi := FactorInfo{ID: f.ID, Kind: f.Kind, Name: f.Name, CreatedAt: f.CreatedAt, LastUsedAt: f.LastUsedAt}
		if f.Kind == valet.FactorWebAuthn && s.passkeys != nil {
			if c, err := decodeCredential(f.Secret); err == nil {
				fi.Synced, fi.BackedUp = c.BackupEligible, c.BackupState
			}
		}
		out = append(out, fi)
	}
	n, err := fs.RecoveryCodes(ctx, userID)
	if err != nil {
		return nil, 0, err
	}
	return out, n, nil
}

// methods returns the second-factor methods the user can use on this
// server, in a fixed order, and its confirmed factors. The two differ for
// an account whose only factor is a passkey on a server without passkeys:
// it has a factor (confirmed is not empty) that nothing here can check, so
// methods holds at most recovery_code. Whether the account has a second
// factor is len(confirmed) > 0, never len(methods) > 0.
func (s *Service) methods(ctx context.Context, userID string) ([]string, []valet.Factor, error) {
	fs, err := s.factorStore()
	if err != nil {
		return nil, nil, nil // no factor store: no second factors
	}
	all, err := fs.Factors(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	var confirmed []valet.Factor
	var totp, webauthn bool
	for _, f := range all {
		if !f.Confirmed {
			continue
		}
		confirmed = append(confirmed, f)
		totp = totp || f.Kind == valet.FactorTOTP
		webauthn = webauthn || f.Kind == valet.FactorWebAuthn && s.passkeys != nil
	}
	if len(confirmed) == 0 {
		return nil, nil, nil
	}
	var m []string
	if totp {
		m = append(m, MethodTOTP)
	}
	if webauthn {
		m = append(m, MethodWebAuthn)
	}
	n, err := fs.RecoveryCodes(ctx, userID)
	if err != nil {
		return nil, nil, err
	}
	if n > 0 {
		m = append(m, MethodRecoveryCode)
	}
	return m, confirmed, nil
}

// askSecondFactor parks a login whose password was right and returns the
// MFARequiredError that asks for its second factor, or nil when the user
// has none. A user whose factors this server cannot check, with no
// recovery code left, is refused (errFactorUnusable): the password alone
// must never stand in for the factor.
func (s *Service) askSecondFactor(ctx context.Context, u valet.User, mode valet.Mode, c Client) error {
	methods, confirmed, err := s.methods(ctx, u.ID)
	if err != nil || len(confirmed) == 0 {
		return err
	}
	if len(methods) == 0 {
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "factor_unusable")
		return errFactorUnusable()
	}
	tok := valet.NewID()
	now := s.cfg.Now()
	p := pending{Purpose: "mfa", UserID: u.ID, Mode: mode, AuthAt: now.UTC(), Expires: now.Add(MFATokenTTL)}
	if err := s.putPending(ctx, valet.HashSecret(tok), p); err != nil {
		return err
	}
	s.audit(ctx, "login.mfa_required", u.ID, "", c, "methods", strings.Join(methods, ","))
	return &MFARequiredError{Token: tok, Methods: methods}
}

// takeLogin takes the login that mfaToken names: its key and state, or
// errMFAToken when it names none that is waiting.
func (s *Service) takeLogin(ctx context.Context, mfaToken string) (string, pending, error) {
	if !plausibleID(mfaToken) {
		return "", pending{}, errMFAToken()
	}
	key := valet.HashSecret(mfaToken)
	p, found, err := s.takePending(ctx, key, "mfa")
	if err != nil {
		return "", pending{}, err
	}
	if !found {
		return "", pending{}, errMFAToken()
	}
	return key, p, nil
}

// errFactorUnusable refuses the sign-in of an account whose second factor
// this server cannot check (a passkey, on a server without passkeys) and
// that has no recovery code left. It is said only to who knows the
// password.
func errFactorUnusable() error {
	return valet.Errorf(valet.ErrForbidden, "This account's second factor cannot be used on this server, and no recovery code is left. "+
		"An administrator can remove the factor with: valet user mfa reset --email EMAIL.")
}

func errMFAToken() error {
	return valet.Errorf(valet.ErrInvalidGrant, "This sign-in has expired or is finished. Sign in again.")
}

func errWrongFactor() error {
	return valet.Errorf(valet.ErrInvalidCode, "That code is not right.")
}

// LoginMFA finishes a login that Login answered with an MFARequiredError:
// the second factor is a TOTP code or a recovery code (code), or a passkey's
// answer to a challenge from BeginPasskeyLogin (credential). A wrong factor
// leaves the attempt open for another try, up to five; the right one ends
// it. The grant records how the user signed in (Session.AMR).
func (s *Service) LoginMFA(ctx context.Context, mfaToken, method, code string, credential []byte, c Client) (*Grant, error) {
	key, p, err := s.takeLogin(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, p.UserID)
	if err != nil {
		if errors.Is(err, valet.ErrNotFound) {
			return nil, errMFAToken()
		}
		return nil, err
	}
	// Give the attempt back unless it is used up, as it stood: every
	// path below that does not finish the login must.
	giveBack := func(tried bool) {
		if tried {
			p.Tries++
		}
		if p.Tries >= maxFactorTries {
			s.audit(ctx, "login.mfa_exhausted", u.ID, "", c)
			return
		}
		if perr := s.putPending(ctx, key, p); perr != nil {
			s.log.WarnContext(ctx, "keeping a sign-in open failed; it must start again", "user_id", u.ID, "err", perr)
		}
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Factor(ctx, u.ID, c.IP); err != nil {
			giveBack(false)
			return nil, s.throttled(ctx, err, "login.mfa", u.ID, c)
		}
	}
	amr, err := s.checkFactor(ctx, u, method, code, credential, key)
	if err != nil {
		giveBack(errors.Is(err, valet.ErrInvalidCode))
		if errors.Is(err, valet.ErrInvalidCode) {
			s.audit(ctx, "login.mfa_failure", u.ID, "", c, "method", method)
		}
		return nil, err
	}
	s.factorSucceeded(ctx, u.ID)
	if u.Disabled {
		return nil, valet.Errorf(valet.ErrUserDisabled, "This account is disabled.")
	}
	g, err := s.grantSignedIn(ctx, u, p.Mode, c, append([]string{valet.AMRPassword}, amr...))
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "login.success", u.ID, g.Session.ID, c, "mode", string(p.Mode), "amr", strings.Join(g.Session.AMR, ","))
	return g, nil
}

// checkFactor checks one second factor of u and returns the methods it
// adds to the amr (mfa included). A wrong one is valet.ErrInvalidCode.
// mfaKey binds a passkey's challenge to the login it was asked for.
func (s *Service) checkFactor(ctx context.Context, u valet.User, method, code string, credential []byte, mfaKey string) ([]string, error) {
	fs, err := s.factorStore()
	if err != nil {
		return nil, err
	}
	switch method {
	case MethodTOTP:
		all, err := fs.Factors(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		for _, f := range all {
			if f.Kind != valet.FactorTOTP || !f.Confirmed {
				continue
			}
			ok, err := s.useTOTP(ctx, f, code)
			if err != nil {
				return nil, err
			}
			if ok {
				return []string{valet.AMROTP, valet.AMRMulti}, nil
			}
		}
		return nil, errWrongFactor()
	case MethodRecoveryCode:
		n := normalRecoveryCode(code)
		if n == "" {
			return nil, errWrongFactor()
		}
		// The notice says how many are left, so it is written before the
		// code is used, with the code in one change.
		had, err := fs.RecoveryCodes(ctx, u.ID)
		if err != nil {
			return nil, err
		}
		if had == 0 {
			return nil, errWrongFactor()
		}
		notice := fmt.Sprintf("A recovery code was just used to sign in to your account. %d are left.", had-1)
		_, ok, err := s.changeFactors(ctx, u, valet.FactorChange{UserID: u.ID, UseRecoveryCode: valet.HashSecret(n)}, notice)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, errWrongFactor()
		}
		return []string{valet.AMROTP, valet.AMRMulti}, nil
	case MethodWebAuthn:
		f, uv, err := s.finishPasskey(ctx, "second", credential, u.ID, mfaKey)
		if err != nil {
			return nil, err
		}
		amr := []string{passkeyAMR(f)}
		if uv {
			amr = append(amr, valet.AMRUser)
		}
		return append(amr, valet.AMRMulti), nil
	}
	return nil, valet.Errorf(valet.ErrInvalidRequest, "The method must be totp, webauthn or recovery_code.")
}

// useTOTP checks code against TOTP factor f and, when it matches a step
// not used before, records the step: a code works once.
func (s *Service) useTOTP(ctx context.Context, f valet.Factor, code string) (bool, error) {
	step, ok, err := s.matchTOTP(f, code)
	if err != nil || !ok {
		return false, err
	}
	return s.cfg.Stores.Factors.UseFactorStep(ctx, f.UserID, f.ID, step, s.cfg.Now().UTC())
}

// matchTOTP checks code against TOTP factor f and returns the time step
// that it matches, which the caller records (whether it was used before
// is for the store to say). ok is false when it matches none.
func (s *Service) matchTOTP(f valet.Factor, code string) (step int64, ok bool, err error) {
	secret, err := openWith(s.factorSeal, f.Secret, f.ID)
	if err != nil {
		return 0, false, fmt.Errorf("auth: open TOTP secret of factor %s: %w", f.ID, err)
	}
	step, ok = totpMatch(string(secret), code, s.cfg.Now())
	return step, ok, nil
}

// TOTPEnrolment is a TOTP factor waiting for its first code.
type TOTPEnrolment struct {
	FactorID string
	// Secret is the shared secret in base32, for typing into an app.
	Secret string
	// URL is the otpauth:// URL, which QR shows as a QR code.
	URL string
	QR  []byte
}

// BeginTOTP starts the enrolment of an authenticator app named name for
// the caller, who must have signed in recently (RequireRecent). The factor
// counts once ConfirmTOTP has seen a code from it; an enrolment not
// confirmed is replaced by the next.
func (s *Service) BeginTOTP(ctx context.Context, id *valet.Identity, name string, c Client) (TOTPEnrolment, error) {
	fs, err := s.factorStore()
	if err != nil {
		return TOTPEnrolment{}, err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return TOTPEnrolment{}, err
	}
	name, err = factorName(name, "Authenticator app")
	if err != nil {
		return TOTPEnrolment{}, err
	}
	all, err := fs.Factors(ctx, id.User.ID)
	if err != nil {
		return TOTPEnrolment{}, err
	}
	for _, f := range all {
		if !f.Confirmed {
			if _, err := fs.DeleteFactor(ctx, id.User.ID, f.ID); err != nil {
				return TOTPEnrolment{}, err
			}
		}
	}
	secret, url, err := newTOTPKey(s.cfg.TOTPIssuer, id.User.Email)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("auth: %w", err)
	}
	qr, err := totpQR(url, 240)
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("auth: %w", err)
	}
	now := s.cfg.Now().UTC()
	f := valet.Factor{ID: newShortID(), UserID: id.User.ID, Kind: valet.FactorTOTP, Name: name, CreatedAt: now}
	f.Secret = sealWith(s.factorSeal, []byte(secret), f.ID)
	if err := fs.CreateFactor(ctx, f); err != nil {
		return TOTPEnrolment{}, err
	}
	return TOTPEnrolment{FactorID: f.ID, Secret: secret, URL: url, QR: qr}, nil
}

// ConfirmTOTP checks the first code of the TOTP factor factorID of the
// caller and makes the factor count. It returns the account's new recovery
// codes, to be shown once: ten, which replace any the account had.
func (s *Service) ConfirmTOTP(ctx context.Context, id *valet.Identity, factorID, code string, c Client) ([]string, error) {
	if _, err := s.factorStore(); err != nil {
		return nil, err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return nil, err
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Factor(ctx, id.User.ID, c.IP); err != nil {
			return nil, s.throttled(ctx, err, "mfa.confirm", id.User.ID, c)
		}
	}
	f, _, err := s.ownFactor(ctx, id.User.ID, factorID)
	if err != nil {
		return nil, err
	}
	if f.Kind != valet.FactorTOTP || f.Confirmed {
		return nil, valet.Errorf(valet.ErrNotFound, "No authenticator app is waiting for its first code.")
	}
	step, ok, err := s.matchTOTP(f, code)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errWrongFactor()
	}
	// The step confirms the factor; it, the new recovery codes and the
	// notice are one change, so that a factor never counts without the
	// codes shown for it or the mail that tells of it.
	codes, hashes := newRecoveryCodeSet()
	change := valet.FactorChange{
		UserID:           id.User.ID,
		Step:             &valet.FactorStep{ID: f.ID, Step: step, At: s.cfg.Now().UTC()},
		SetRecoveryCodes: true, RecoveryCodes: hashes,
	}
	if _, ok, err = s.changeFactors(ctx, id.User, change, addedNotice(f)); err != nil {
		return nil, err
	}
	if !ok {
		// The step was used, or the factor removed, in between.
		return nil, errWrongFactor()
	}
	s.factorSucceeded(ctx, id.User.ID)
	s.factorAdded(ctx, id, f, []string{valet.AMROTP, valet.AMRMulti}, c)
	return codes, nil
}

// changeFactors makes c and, when the service sends mail and notice is not
// empty, stores the notice to u's address with it, in one transaction
// (mail.TicketStore.ChangeFactorsWithMail): the change is never stored
// without the mail that tells of it, nor the mail without the change.
// Without mail it makes the parts of c one by one through the FactorStore,
// in the order of the fields, and stops at the first condition that does
// not hold: a condition holds back the parts after it only, so callers
// put theirs first. ok is false when a condition of c does not hold; n is
// how many factors c.DeleteAll removed. Its errors are those of the
// stores' methods.
func (s *Service) changeFactors(ctx context.Context, u valet.User, c valet.FactorChange, notice string) (n int, ok bool, err error) {
	if s.mail != nil {
		var msgs []mail.OutboxMessage
		if notice != "" {
			om, err := s.mail.message(mail.KindNotice, u.Email, mail.Data{Notice: notice})
			if err != nil {
				return 0, false, err
			}
			msgs = append(msgs, om)
		}
		n, ok, err = s.mail.outbox.ChangeFactorsWithMail(ctx, c, msgs...)
		if err != nil || !ok {
			return 0, false, err
		}
		if len(msgs) > 0 {
			s.mail.worker.Poke()
		}
		return n, true, nil
	}
	fs, err := s.factorStore()
	if err != nil {
		return 0, false, err
	}
	if c.Create != nil {
		if err := fs.CreateFactor(ctx, *c.Create); err != nil {
			return 0, false, err
		}
	}
	if st := c.Step; st != nil {
		if ok, err := fs.UseFactorStep(ctx, c.UserID, st.ID, st.Step, st.At); err != nil || !ok {
			return 0, false, err
		}
	}
	if c.Delete != "" {
		if ok, err := fs.DeleteFactor(ctx, c.UserID, c.Delete); err != nil || !ok {
			return 0, false, err
		}
	}
	if c.DeleteAll {
		if n, err = fs.DeleteFactors(ctx, c.UserID); err != nil {
			return 0, false, err
		}
	}
	if c.UseRecoveryCode != "" {
		if ok, err := fs.UseRecoveryCode(ctx, c.UserID, c.UseRecoveryCode); err != nil || !ok {
			return 0, false, err
		}
	}
	if c.SetRecoveryCodes {
		if err := fs.SetRecoveryCodes(ctx, c.UserID, c.RecoveryCodes); err != nil {
			return 0, false, err
		}
	}
	return n, true, nil
}

// addedNotice is the notice of the new factor f.
func addedNotice(f valet.Factor) string {
	return fmt.Sprintf("A second factor was added to your account: %q (%s). If this was not you, reset your password and remove it.", f.Name, kindName(f.Kind))
}

// factorAdded tells of a new factor, stored with its notice
// (addedNotice): the audit log, and the caller's own session, which now
// counts as signed in with it (the user just proved to hold it).
func (s *Service) factorAdded(ctx context.Context, id *valet.Identity, f valet.Factor, amr []string, c Client) {
	_ = s.userChanged(ctx, id.User.ID) // logged; the factor stands
	s.audit(ctx, "mfa.add", id.User.ID, id.SessionID, c, "factor_id", f.ID, "kind", string(f.Kind))
	if id.SessionID != "" {
		amr = mergeAMR(id.AMR, amr)
		if err := s.cfg.Stores.Sessions.SetSessionAuth(ctx, id.SessionID, s.cfg.Now().UTC(), amr); err != nil {
			s.log.WarnContext(ctx, "recording the new factor on the session failed", "user_id", id.User.ID, "err", err)
		}
		if s.sessionCache != nil {
			s.sessionCache.forget(id.SessionID)
		}
	}
}

func kindName(k valet.FactorKind) string {
	if k == valet.FactorTOTP {
		return "authenticator app"
	}
	return "passkey or security key"
}

// mergeAMR returns the methods of a and b, each once, password first.
func mergeAMR(a, b []string) []string {
	out := slices.Clone(a)
	for _, m := range b {
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	if len(out) > 1 && !slices.Contains(out, valet.AMRMulti) {
		out = append(out, valet.AMRMulti)
	}
	return out
}

// newRecoveryCodeSet returns a new set of recovery codes, to be shown
// once, and the hashes of them, to be stored.
func newRecoveryCodeSet() (codes, hashes []string) {
	codes = newRecoveryCodes(recoveryCodeCount)
	hashes = make([]string, len(codes))
	for i, c := range codes {
		hashes[i] = valet.HashSecret(normalRecoveryCode(c))
	}
	return codes, hashes
}

// NewRecoveryCodes replaces the caller's recovery codes by ten new ones,
// shown once. The caller must have a second factor and have signed in
// recently.
func (s *Service) NewRecoveryCodes(ctx context.Context, id *valet.Identity, c Client) ([]string, error) {
	if _, err := s.factorStore(); err != nil {
		return nil, err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return nil, err
	}
	_, confirmed, err := s.methods(ctx, id.User.ID)
	if err != nil {
		return nil, err
	}
	if len(confirmed) == 0 {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "Add a second factor first: recovery codes stand in for one.")
	}
	codes, hashes := newRecoveryCodeSet()
	change := valet.FactorChange{UserID: id.User.ID, SetRecoveryCodes: true, RecoveryCodes: hashes}
	if _, _, err := s.changeFactors(ctx, id.User, change, "New recovery codes were made for your account; the old ones no longer work."); err != nil {
		return nil, err
	}
	s.audit(ctx, "mfa.recovery_codes", id.User.ID, id.SessionID, c)
	return codes, nil
}

// ownFactor returns factor factorID of userID, with all of the user's
// factors as it read them, or an error wrapping valet.ErrNotFound when
// the user has no such factor.
func (s *Service) ownFactor(ctx context.Context, userID, factorID string) (valet.Factor, []valet.Factor, error) {
	if plausibleID(factorID) {
		all, err := s.cfg.Stores.Factors.Factors(ctx, userID)
		if err != nil {
			return valet.Factor{}, nil, err
		}
		for _, f := range all {
			if f.ID == factorID {
				return f, all, nil
			}
		}
	}
	return valet.Factor{}, nil, errNoFactor()
}

func errNoFactor() error {
	return valet.Errorf(valet.ErrNotFound, "No such second factor.")
}

// DeleteFactor removes second factor factorID of the caller, who must have
// signed in recently. With the last factor go the recovery codes. The
// user is told by mail.
func (s *Service) DeleteFactor(ctx context.Context, id *valet.Identity, factorID string, c Client) error {
	if _, err := s.factorStore(); err != nil {
		return err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return err
	}
	f, all, err := s.ownFactor(ctx, id.User.ID, factorID)
	if err != nil {
		return err
	}
	// Recovery codes stand in for a factor: they go with the last
	// confirmed one, in the same change.
	change := valet.FactorChange{UserID: id.User.ID, Delete: f.ID}
	if !slices.ContainsFunc(all, func(o valet.Factor) bool { return o.ID != f.ID && o.Confirmed }) {
		change.SetRecoveryCodes = true
	}
	// An unconfirmed factor never counted: its removal is no news.
	var notice string
	if f.Confirmed {
		notice = fmt.Sprintf("A second factor was removed from your account: %q (%s).", f.Name, kindName(f.Kind))
	}
	_, ok, err := s.changeFactors(ctx, id.User, change, notice)
	if err != nil {
		return err
	}
	if !ok {
		// Removed in between, by another request, which told of it.
		return errNoFactor()
	}
	_ = s.userChanged(ctx, id.User.ID)
	s.audit(ctx, "mfa.remove", id.User.ID, id.SessionID, c, "factor_id", f.ID, "kind", string(f.Kind))
	return nil
}

// ResetFactors removes every second factor and recovery code of user id,
// for an administrator helping someone who lost theirs, and ends all of
// the user's device sessions. The user is told by mail.
func (s *Service) ResetFactors(ctx context.Context, id string, c Client) (Withdrawal, error) {
	if _, err := s.factorStore(); err != nil {
		return Withdrawal{}, err
	}
	u, err := s.userByID(ctx, id)
	if err != nil {
		return Withdrawal{}, err
	}
	n, _, err := s.changeFactors(ctx, u, valet.FactorChange{UserID: u.ID, DeleteAll: true},
		"An administrator removed the second factors of your account and signed it out everywhere. Sign in with your password and add a second factor again.")
	if err != nil {
		return Withdrawal{}, err
	}
	w, err := s.endEverythingTold(ctx, u.ID, c)
	if err != nil {
		return Withdrawal{}, err
	}
	_ = s.userChanged(ctx, u.ID)
	s.audit(ctx, "mfa.reset", u.ID, "", c, "factors", n, "sessions", w.Sessions)
	return w, nil
}

// ReauthWindow returns how recent a sign-in sensitive changes need.
func (s *Service) ReauthWindow() time.Duration { return s.cfg.ReauthWindow }

// RequireRecent returns nil when the caller signed in, or proved who they
// are again (Reauthenticate), within Config.ReauthWindow, and otherwise an
// error wrapping valet.ErrReauthRequired. It reads the device session's
// record, never a token's claims, so a proof made on this device counts at
// once in every mode.
func (s *Service) RequireRecent(ctx context.Context, id *valet.Identity) error {
	if id == nil {
		return valet.ErrUnauthenticated
	}
	if id.SessionID == "" {
		return valet.Errorf(valet.ErrReauthRequired, "Sign in again to make this change.")
	}
	sess, found, err := s.cfg.Stores.Sessions.Session(ctx, id.SessionID)
	if err != nil {
		return err
	}
	if !found || sess.UserID != id.User.ID {
		return valet.ErrUnauthenticated
	}
	at := sess.AuthTime
	if at.IsZero() {
		at = sess.CreatedAt
	}
	if s.cfg.Now().Sub(at) > s.cfg.ReauthWindow {
		return valet.Errorf(valet.ErrReauthRequired, "Confirm it is you: sign in again within %s to make this change.", humanWindow(s.cfg.ReauthWindow))
	}
	return nil
}

// requireRecentBeyondPassword is RequireRecent for a change whose request
// carries the current password, just checked: for an account without a
// second factor that is proof enough, and for one with a factor it is less
// than the sign-in was, so the sign-in must be recent.
func (s *Service) requireRecentBeyondPassword(ctx context.Context, id *valet.Identity) error {
	// A factor that this server cannot check still makes the password
	// less than the sign-in was.
	_, confirmed, err := s.methods(ctx, id.User.ID)
	if err != nil {
		return err
	}
	if len(confirmed) == 0 {
		return nil
	}
	return s.RequireRecent(ctx, id)
}

func humanWindow(d time.Duration) string {
	if d%time.Minute == 0 {
		if d == time.Minute {
			return "a minute"
		}
		return fmt.Sprintf("%d minutes", int(d/time.Minute))
	}
	return d.String()
}

// ReauthMethods returns how the caller can prove who they are again: a
// second factor when the account has one (the password alone would be
// weaker than the sign-in), else the password. An account whose factors
// this server cannot check (a passkey, on a server without passkeys) gets
// an empty list: only a new sign-in, with a recovery code, is left to it.
func (s *Service) ReauthMethods(ctx context.Context, userID string) ([]string, error) {
	m, confirmed, err := s.methods(ctx, userID)
	if err != nil {
		return nil, err
	}
	if len(confirmed) == 0 {
		return []string{MethodPassword}, nil
	}
	m = slices.DeleteFunc(m, func(x string) bool { return x == MethodRecoveryCode })
	if len(m) == 0 {
		return []string{}, nil
	}
	return m, nil
}

// Reauthenticate checks a proof that the caller is who signed in (the
// password, a TOTP code, or a passkey's answer to a challenge from
// BeginPasskeyReauth) and records it on the caller's device session, which
// then passes RequireRecent for Config.ReauthWindow.
func (s *Service) Reauthenticate(ctx context.Context, id *valet.Identity, method, secret string, credential []byte, c Client) error {
	if id == nil || id.SessionID == "" {
		return valet.ErrUnauthenticated
	}
	allowed, err := s.ReauthMethods(ctx, id.User.ID)
	if err != nil {
		return err
	}
	if len(allowed) == 0 {
		return valet.Errorf(valet.ErrForbidden, "This account's second factor cannot be used on this server, so it cannot confirm this change. "+
			"Sign in again with a recovery code, or ask an administrator to remove the factor with valet user mfa reset.")
	}
	if !slices.Contains(allowed, method) {
		return valet.Errorf(valet.ErrInvalidRequest, "Confirm with one of: %s.", strings.Join(allowed, ", "))
	}
	u, err := s.users.UserByID(ctx, id.User.ID)
	if err != nil {
		if errors.Is(err, valet.ErrNotFound) {
			return valet.ErrUnauthenticated
		}
		return err
	}
	var amr []string
	if method == MethodPassword {
		if err := s.checkCurrentPassword(ctx, u, id.SessionID, secret, "reauth", c); err != nil {
			return err
		}
		amr = []string{valet.AMRPassword}
	} else {
		if s.cfg.Throttle != nil {
			if err := s.cfg.Throttle.Factor(ctx, u.ID, c.IP); err != nil {
				return s.throttled(ctx, err, "reauth", u.ID, c)
			}
		}
		amr, err = s.checkFactor(ctx, u, method, secret, credential, "reauth:"+id.SessionID)
		if err != nil {
			if errors.Is(err, valet.ErrInvalidCode) {
				s.audit(ctx, "reauth.failure", u.ID, id.SessionID, c, "method", method)
			}
			return err
		}
		s.factorSucceeded(ctx, u.ID)
	}
	if err := s.cfg.Stores.Sessions.SetSessionAuth(ctx, id.SessionID, s.cfg.Now().UTC(), mergeAMR(id.AMR, amr)); err != nil {
		return err
	}
	if s.sessionCache != nil {
		s.sessionCache.forget(id.SessionID)
	}
	s.audit(ctx, "reauth", u.ID, id.SessionID, c, "method", method)
	return nil
}

// factorSucceeded gives the account back the second factors it tried,
// one having been right. A failure to reach the counters leaves them as
// they are, stricter than they need be, and is logged.
func (s *Service) factorSucceeded(ctx context.Context, userID string) {
	if s.cfg.Throttle == nil {
		return
	}
	if err := s.cfg.Throttle.FactorSucceeded(ctx, userID); err != nil {
		s.log.WarnContext(ctx, "forgetting the second factors tried failed", "user_id", userID, "err", err)
	}
}

func factorName(name, def string) (string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return def, nil
	}
	if len(name) > 64 || strings.ContainsFunc(name, func(r rune) bool { return r < 0x20 || r == 0x7f || r == 0xfffd }) {
		return "", valet.Errorf(valet.ErrInvalidRequest, "A name is at most 64 characters, without control characters.")
	}
	return name, nil
}

// mustEnrol reports whether the policy wants a second factor of u that the
// sign-in (amr) did not use: the user is to add one before anything else.
func (s *Service) mustEnrol(u valet.User, amr []string) bool {
	return s.cfg.MFA.Requires(u) && !valet.MultiFactor(amr)
}
