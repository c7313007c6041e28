package auth

import (
	"context"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// recoveryPath is the page that a recovery link opens: the form that sets
// a new password.
const recoveryPath = "/recovery"

// recoveryPurposes are the tickets that set a new password: recovery, and
// the report of an email change, which keeps the old address besides.
var recoveryPurposes = []valet.TicketPurpose{valet.TicketRecovery, valet.TicketReport}

// RequestRecovery sends the account of email, when there is one and it is
// not disabled, a mail with a link and a code that set a new password,
// valid for Config.Mail.RecoveryTTL. It answers the same, in the same
// time, whether or not the account exists: nil, or valet.ErrInvalidEmail
// for a malformed address, valet.ErrRateLimited when the address or the
// client has asked too often, or a store's error.
func (s *Service) RequestRecovery(ctx context.Context, email string, c Client) error {
	return s.byEmail(ctx, email, valet.TicketRecovery, c,
		func(u valet.User) bool { return !u.Disabled },
		func(u valet.User) error {
			return s.send(ctx, s.newTicket(u, valet.TicketRecovery, u.Email, s.cfg.Mail.RecoveryTTL, false),
				mail.KindRecovery, recoveryPath, "")
		})
}

// CompleteRecovery uses a recovery ticket, named by its link token tok or
// by email and code, to set the account's password to pw, which follows
// the rules of signup. In the same step the address is marked verified,
// pending email changes are cancelled, and a notice is stored for the
// address; then every device session and refresh family of the user ends,
// on every node. The ticket of an email change's report sets the old
// address back besides. It returns the user as it is now, or an error
// wrapping valet.ErrWeakPassword (the ticket stays usable),
// valet.ErrInvalidCode for a token or code that is wrong, used, expired or
// not a recovery's, or valet.ErrRateLimited after too many tries. The
// Withdrawal says what of the old access is left.
func (s *Service) CompleteRecovery(ctx context.Context, tok, email, code, pw string, c Client) (valet.User, Withdrawal, error) {
	t, err := s.findTicket(ctx, tok, email, code, recoveryPurposes, c)
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	// Checked before the ticket is used, so that a refused password
	// leaves the person their link.
	if err := s.checkNewPassword(pw, t.Email, ""); err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	drop := []valet.TicketPurpose{valet.TicketRecovery, valet.TicketEmailChange, valet.TicketVerify}
	r := valet.Redemption{IfEmail: t.Email, PasswordHash: hash, Drop: drop}
	notice := "The password of your account was just set anew, with a link or a code sent to this address, and every device signed in to it was signed out."
	if t.Purpose == valet.TicketReport {
		r = valet.Redemption{SetEmail: t.Email, PasswordHash: hash, Drop: append(drop, valet.TicketReport)}
		notice = "Your account keeps this email address: the change of address that someone asked for is cancelled, its password was set anew, and every device signed in to it was signed out."
	}
	om, err := s.mail.message(mail.KindNotice, t.Email, mail.Data{Notice: notice})
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	u, err := s.redeem(ctx, t, r, om)
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	w, err := s.endEverythingTold(ctx, u.ID, c)
	if err != nil {
		return valet.User{}, Withdrawal{}, err
	}
	if s.cfg.Throttle != nil {
		// The owner of the address is back in: the failed logins that may
		// have led here no longer hold the account.
		if terr := s.cfg.Throttle.LoginSucceeded(ctx, u.Email, c.IP); terr != nil {
			s.log.WarnContext(ctx, "resetting the failed logins of an account failed", "user_id", u.ID, "err", terr)
		}
	}
	s.audit(ctx, "recovery.complete", u.ID, "", c, "purpose", string(t.Purpose))
	return u, w, nil
}
