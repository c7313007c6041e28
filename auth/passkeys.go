package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/passkey"
)

// PasskeyTTL is how long a WebAuthn challenge waits for its answer.
const PasskeyTTL = passkey.DefaultTimeout

func errNoPasskeys() error {
	return valet.Errorf(valet.ErrInvalidRequest, "This server does not take passkeys: it needs --public-url.")
}

func errPasskeyRefused() error {
	return valet.Errorf(valet.ErrInvalidCode, "That passkey was not accepted.")
}

func decodeCredential(b []byte) (passkey.Credential, error) { return passkey.Decode(b) }

// passkeyAMR is hwk for a credential bound to its device, swk for one that
// may be synced to others.
func passkeyAMR(f valet.Factor) string {
	if c, err := passkey.Decode(f.Secret); err == nil && c.Synced() {
		return valet.AMRSoftwareKey
	}
	return valet.AMRHardwareKey
}

// passkeyUser returns the WebAuthn view of user u with its passkeys.
func (s *Service) passkeyUser(ctx context.Context, u valet.User) (passkey.User, error) {
	all, err := s.cfg.Stores.Factors.Factors(ctx, u.ID)
	if err != nil {
		return passkey.User{}, err
	}
	pu := passkey.User{ID: u.ID, Name: u.Email, DisplayName: u.Email}
	for _, f := range all {
		if f.Kind == valet.FactorWebAuthn && f.Confirmed {
			pu.Credentials = append(pu.Credentials, f.Secret)
		}
	}
	return pu, nil
}

// beginPasskey stores the state of a ceremony under its challenge.
func (s *Service) beginPasskey(ctx context.Context, challenge string, state []byte, p pending) error {
	p.Passkey = state
	p.Expires = s.cfg.Now().Add(PasskeyTTL)
	return s.putPending(ctx, valet.HashSecret(challenge), p)
}

// takeCeremony finds the state of the ceremony that response answers.
func (s *Service) takeCeremony(ctx context.Context, response []byte, purpose string) (pending, error) {
	ch, err := passkey.Challenge(response)
	if err != nil {
		return pending{}, errPasskeyRefused()
	}
	p, found, err := s.takePending(ctx, valet.HashSecret(ch), purpose)
	if err != nil {
		return pending{}, err
	}
	if !found {
		return pending{}, valet.Errorf(valet.ErrInvalidCode, "That passkey challenge has expired or was used. Try again.")
	}
	return p, nil
}

// BeginPasskeyLogin returns the options of a WebAuthn sign-in
// (PublicKeyCredentialRequestOptions JSON). With an mfaToken from Login, the
// passkey is the login's second factor and must be one of the user's;
// without, any passkey that the authenticator keeps for this site signs
// its user in alone (FinishPasskeyLogin), which is also what a browser
// offers in the autofill of the email field.
//
// A challenge without an mfaToken asks nothing of the caller and is stored
// until it expires (PasskeyTTL), so each counts against the second-factor
// limit of the client's address (Throttle.Factor with no account, the limit
// FinishPasskeyLogin spends): past it the call returns an error wrapping
// valet.ErrRateLimited and stores nothing. The address is c's.
func (s *Service) BeginPasskeyLogin(ctx context.Context, mfaToken string, c Client) ([]byte, error) {
	if s.passkeys == nil {
		return nil, errNoPasskeys()
	}
	if _, err := s.factorStore(); err != nil {
		return nil, err
	}
	if mfaToken == "" {
		if s.cfg.Throttle != nil {
			if err := s.cfg.Throttle.Factor(ctx, "", c.IP); err != nil {
				return nil, s.throttled(ctx, err, "login.passkey.begin", "", c)
			}
		}
		opts, ch, state, err := s.passkeys.BeginLogin(nil)
		if err != nil {
			return nil, fmt.Errorf("auth: %w", err)
		}
		return opts, s.beginPasskey(ctx, ch, state, pending{Purpose: "login"})
	}
	// Look at the login without using it up: take it and put it back.
	key, p, err := s.takeLogin(ctx, mfaToken)
	if err != nil {
		return nil, err
	}
	if err := s.putPending(ctx, key, p); err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, p.UserID)
	if err != nil {
		return nil, err
	}
	return s.beginUserPasskey(ctx, u, pending{Purpose: "second", UserID: u.ID, MFAKey: key})
}

// BeginPasskeyReauth returns the options of a WebAuthn ceremony that
// proves again that the caller holds one of their passkeys
// (Reauthenticate with method webauthn).
func (s *Service) BeginPasskeyReauth(ctx context.Context, id *valet.Identity) ([]byte, error) {
	if s.passkeys == nil {
		return nil, errNoPasskeys()
	}
	if _, err := s.factorStore(); err != nil {
		return nil, err
	}
	return s.beginUserPasskey(ctx, id.User, pending{Purpose: "second", UserID: id.User.ID, MFAKey: "reauth:" + id.SessionID})
}

func (s *Service) beginUserPasskey(ctx context.Context, u valet.User, p pending) ([]byte, error) {
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	if len(pu.Credentials) == 0 {
		return nil, valet.Errorf(valet.ErrInvalidRequest, "This account has no passkey.")
	}
	opts, ch, state, err := s.passkeys.BeginLogin(&pu)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return opts, s.beginPasskey(ctx, ch, state, p)
}

// finishPasskey checks a passkey's answer to a challenge of purpose
// "second" for userID, bound to mfaKey, and records its new sign counter.
func (s *Service) finishPasskey(ctx context.Context, purpose string, response []byte, userID, mfaKey string) (valet.Factor, bool, error) {
	if s.passkeys == nil {
		return valet.Factor{}, false, errNoPasskeys()
	}
	p, err := s.takeCeremony(ctx, response, purpose)
	if err != nil {
		return valet.Factor{}, false, err
	}
	if p.UserID != userID || p.MFAKey != mfaKey {
		return valet.Factor{}, false, errPasskeyRefused()
	}
	u, err := s.userByID(ctx, userID)
	if err != nil {
		return valet.Factor{}, false, err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return valet.Factor{}, false, err
	}
	res, err := s.passkeys.FinishLogin(&pu, p.Passkey, response, nil)
	if err != nil {
		return valet.Factor{}, false, s.passkeyError(ctx, userID, err)
	}
	f, err := s.passkeyUsed(ctx, res)
	if err != nil {
		return valet.Factor{}, false, err
	}
	if f.UserID != userID {
		return valet.Factor{}, false, errPasskeyRefused()
	}
	return f, res.UserVerified, nil
}

func (s *Service) passkeyError(ctx context.Context, userID string, err error) error {
	if errors.Is(err, passkey.ErrCloned) {
		s.log.WarnContext(ctx, "audit", "event", "passkey.cloned", "user_id", userID, "reason", err.Error())
	}
	if errors.Is(err, passkey.ErrInvalid) || errors.Is(err, passkey.ErrCloned) {
		return errPasskeyRefused()
	}
	return fmt.Errorf("auth: passkey: %w", err)
}

// passkeyUsed stores the credential of a sign-in (its new sign counter and
// flags) and returns its factor.
func (s *Service) passkeyUsed(ctx context.Context, res passkey.LoginResult) (valet.Factor, error) {
	f, found, err := s.cfg.Stores.Factors.FactorByCredential(ctx, res.Credential.ID)
	if err != nil {
		return valet.Factor{}, err
	}
	if !found || f.Kind != valet.FactorWebAuthn || !f.Confirmed {
		return valet.Factor{}, errPasskeyRefused()
	}
	f.Secret, f.LastUsedAt = res.Credential.Data, s.cfg.Now().UTC()
	if _, err := s.cfg.Stores.Factors.UpdateFactor(ctx, f); err != nil {
		return valet.Factor{}, err
	}
	return f, nil
}

// FinishPasskeyLogin signs in, in mode, the user whose passkey answered a
// challenge of BeginPasskeyLogin without an mfaToken. A passkey that
// verified its user (a PIN, a biometric) counts as two factors.
func (s *Service) FinishPasskeyLogin(ctx context.Context, response []byte, mode valet.Mode, c Client) (*Grant, error) {
	if s.passkeys == nil {
		return nil, errNoPasskeys()
	}
	if mode == "" {
		mode = s.cfg.Mode
	}
	if _, err := valet.ParseMode(string(mode)); err != nil {
		return nil, err
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Factor(ctx, "", c.IP); err != nil {
			return nil, s.throttled(ctx, err, "login.passkey", "", c)
		}
	}
	p, err := s.takeCeremony(ctx, response, "login")
	if err != nil {
		return nil, err
	}
	var u valet.User
	res, err := s.passkeys.FinishLogin(nil, p.Passkey, response, func(handle, credID string) (passkey.User, error) {
		f, found, err := s.cfg.Stores.Factors.FactorByCredential(ctx, credID)
		if err != nil {
			return passkey.User{}, err
		}
		if !found || f.UserID != handle || !f.Confirmed {
			return passkey.User{}, passkey.ErrInvalid
		}
		if u, err = s.userByID(ctx, f.UserID); err != nil {
			if errors.Is(err, valet.ErrNotFound) {
				return passkey.User{}, passkey.ErrInvalid
			}
			return passkey.User{}, err
		}
		return s.passkeyUser(ctx, u)
	})
	if err != nil {
		s.audit(ctx, "login.failure", "", "", c, "method", "passkey")
		return nil, s.passkeyError(ctx, "", err)
	}
	f, err := s.passkeyUsed(ctx, res)
	if err != nil {
		return nil, err
	}
	if u.Disabled {
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "disabled")
		return nil, valet.Errorf(valet.ErrUserDisabled, "This account is disabled.")
	}
	if s.cfg.RequireVerifiedEmail && !u.EmailVerified {
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "email_unverified")
		return nil, valet.Errorf(valet.ErrEmailUnverified, "Verify your email address first: open the link we sent to it, or ask for a new one.")
	}
	if !res.UserVerified && s.cfg.MFA.Requires(u) {
		// One factor where the policy asks two: the person has a factor,
		// so sending them to add one would not do.
		s.audit(ctx, "login.failure", u.ID, "", c, "reason", "single_factor")
		return nil, valet.Errorf(valet.ErrForbidden, "This server asks two factors of this account, and the passkey did not check who you are (no PIN or biometric). Sign in with your password, then the passkey.")
	}
	amr := []string{passkeyAMR(f)}
	if res.UserVerified {
		amr = append(amr, valet.AMRUser, valet.AMRMulti)
	}
	g, err := s.grantSignedIn(ctx, u, mode, c, amr)
	if err != nil {
		return nil, err
	}
	s.audit(ctx, "login.success", u.ID, g.Session.ID, c, "mode", string(mode), "method", "passkey", "factor_id", f.ID)
	return g, nil
}

// BeginPasskeyRegistration returns the options of a WebAuthn registration
// (PublicKeyCredentialCreationOptions JSON) of a passkey named name for the
// caller, who must have signed in recently. The passkey is made
// discoverable when the authenticator can, so that it can also sign in
// alone.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, id *valet.Identity, name string) ([]byte, error) {
	if s.passkeys == nil {
		return nil, errNoPasskeys()
	}
	if _, err := s.factorStore(); err != nil {
		return nil, err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return nil, err
	}
	name, err := factorName(name, "Passkey")
	if err != nil {
		return nil, err
	}
	u, err := s.userByID(ctx, id.User.ID)
	if err != nil {
		return nil, err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return nil, err
	}
	opts, ch, state, err := s.passkeys.BeginRegistration(pu, true)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return opts, s.beginPasskey(ctx, ch, state, pending{Purpose: "register", UserID: u.ID, Session: id.SessionID, Name: name})
}

// FinishPasskeyRegistration checks the browser's answer to a registration
// and stores the passkey. It returns the factor and, when it is the
// account's first second factor, its new recovery codes (shown once).
func (s *Service) FinishPasskeyRegistration(ctx context.Context, id *valet.Identity, response []byte, c Client) (valet.Factor, []string, error) {
	if s.passkeys == nil {
		return valet.Factor{}, nil, errNoPasskeys()
	}
	if _, err := s.factorStore(); err != nil {
		return valet.Factor{}, nil, err
	}
	if err := s.RequireRecent(ctx, id); err != nil {
		return valet.Factor{}, nil, err
	}
	p, err := s.takeCeremony(ctx, response, "register")
	if err != nil {
		return valet.Factor{}, nil, err
	}
	if p.UserID != id.User.ID || p.Session != id.SessionID {
		return valet.Factor{}, nil, errPasskeyRefused()
	}
	u, err := s.userByID(ctx, id.User.ID)
	if err != nil {
		return valet.Factor{}, nil, err
	}
	pu, err := s.passkeyUser(ctx, u)
	if err != nil {
		return valet.Factor{}, nil, err
	}
	cred, err := s.passkeys.FinishRegistration(pu, p.Passkey, response)
	if err != nil {
		return valet.Factor{}, nil, s.passkeyError(ctx, u.ID, err)
	}
	_, had, err := s.methods(ctx, u.ID)
	if err != nil {
		return valet.Factor{}, nil, err
	}
	now := s.cfg.Now().UTC()
	f := valet.Factor{
		ID: newShortID(), UserID: u.ID, Kind: valet.FactorWebAuthn, Name: p.Name,
		Secret: cred.Data, CredentialID: cred.ID, Confirmed: true, CreatedAt: now,
	}
	// The passkey, the recovery codes of a first factor and the notice
	// are one change.
	change := valet.FactorChange{UserID: u.ID, Create: &f}
	var codes []string
	if len(had) == 0 {
		codes, change.RecoveryCodes = newRecoveryCodeSet()
		change.SetRecoveryCodes = true
	}
	if _, _, err := s.changeFactors(ctx, u, change, addedNotice(f)); err != nil {
		if errors.Is(err, valet.ErrConflict) {
			return valet.Factor{}, nil, valet.Errorf(valet.ErrConflict, "This passkey is registered already.")
		}
		return valet.Factor{}, nil, err
	}
	amr := []string{passkeyAMR(f)}
	if cred.UserVerified {
		amr = append(amr, valet.AMRUser)
	}
	s.factorAdded(ctx, id, f, append(amr, valet.AMRMulti), c)
	return f, codes, nil
}
