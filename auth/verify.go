package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// verifyPath is the page that a verification link opens.
const verifyPath = "/verify"

// verifyPurposes are the tickets that verification completes: a new
// account's address, and the new address of an email change.
var verifyPurposes = []valet.TicketPurpose{valet.TicketVerify, valet.TicketEmailChange}

// sendVerification stores a verification ticket for u's address with the
// mail that carries it.
func (s *Service) sendVerification(ctx context.Context, u valet.User) error {
	return s.send(ctx, s.verification(u), mail.KindVerify, verifyPath, "")
}

// createVerifying stores the new user u, a verification ticket for its
// address and the mail that carries it, in one transaction.
func (s *Service) createVerifying(ctx context.Context, u valet.User) error {
	return s.sendWith(s.verification(u), mail.KindVerify, verifyPath, "", func(t valet.Ticket, om mail.OutboxMessage) error {
		return s.mail.outbox.CreateUserWithTicket(ctx, u, t, om)
	})
}

// verification returns a new ticket that verifies u's address.
func (s *Service) verification(u valet.User) issued {
	return s.newTicket(u, valet.TicketVerify, u.Email, s.cfg.Mail.VerifyTTL, false)
}

// RequestVerification sends the user of id a mail with a link and a code
// that verify its address, in place of any sent before. It returns an error
// wrapping valet.ErrInvalidRequest when the address is verified already or
// the service sends no mail, valet.ErrRateLimited when the account or the
// client has asked too often, and valet.ErrUnauthenticated when the user
// is gone.
func (s *Service) RequestVerification(ctx context.Context, id *valet.Identity, c Client) error {
	if s.mail == nil {
		return errNoMail()
	}
	u, err := s.users.UserByID(ctx, id.User.ID)
	if errors.Is(err, valet.ErrNotFound) {
		return valet.ErrUnauthenticated
	}
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return valet.Errorf(valet.ErrInvalidRequest, "Your email address is verified already.")
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Mail(ctx, u.Email, c.IP); err != nil {
			return s.throttled(ctx, err, "verify.request", u.ID, c)
		}
	}
	if err := s.sendVerification(ctx, u); err != nil {
		return err
	}
	s.audit(ctx, "verify.request", u.ID, id.SessionID, c)
	return nil
}

// ResendVerification sends a new verification mail to the account of
// email when it has one whose address is not verified yet, for a person
// who cannot sign in before they verify (Config.RequireVerifiedEmail). It
// answers the same, in the same time, whatever the address: nil, or
// valet.ErrInvalidEmail for a malformed one, valet.ErrRateLimited, or a
// store's error.
func (s *Service) ResendVerification(ctx context.Context, email string, c Client) error {
	return s.byEmail(ctx, email, valet.TicketVerify, c,
		func(u valet.User) bool { return !u.EmailVerified && !u.Disabled },
		func(u valet.User) error { return s.sendVerification(ctx, u) })
}

// CompleteVerification uses a verification ticket, named by its link
// token tok or by email and code: the address it was sent to becomes the
// account's, verified. A ticket of an email change makes its new address
// the account's email. It returns the user as it is now, or an error
// wrapping valet.ErrInvalidCode for a token or code that is wrong, used,
// expired, or not a verification's, valet.ErrConflict when the new address
// of an email change has been taken by another account meanwhile, and
// valet.ErrRateLimited after too many tries.
func (s *Service) CompleteVerification(ctx context.Context, tok, email, code string, c Client) (valet.User, error) {
	t, err := s.findTicket(ctx, tok, email, code, verifyPurposes, c)
	if err != nil {
		return valet.User{}, err
	}
	var (
		r    valet.Redemption
		msgs []mail.OutboxMessage
	)
	event := "verify.complete"
	switch t.Purpose {
	case valet.TicketVerify:
		// A ticket sent to an address the account no longer has proves
		// nothing about the one it has.
		r = valet.Redemption{IfEmail: t.Email, Drop: []valet.TicketPurpose{valet.TicketVerify}}
	default:
		// The address that is left is told, in the same transaction as
		// the change, that it has happened; its earlier mail holds the
		// link that takes the account back.
		old, err := s.users.UserByID(ctx, t.UserID)
		if errors.Is(err, valet.ErrNotFound) {
			return valet.User{}, errInvalidCode()
		}
		if err != nil {
			return valet.User{}, err
		}
		om, err := s.mail.message(mail.KindNotice, old.Email, mail.Data{Notice: fmt.Sprintf(
			"The email address of your account is now %s, no longer %s. If you did not ask for this, the link in our earlier mail "+
				"to this address sets a new password and gives the account this address back.", t.Email, old.Email)})
		if err != nil {
			return valet.User{}, err
		}
		r = valet.Redemption{SetEmail: t.Email, IfEmail: old.Email,
			Drop: []valet.TicketPurpose{valet.TicketVerify, valet.TicketEmailChange, valet.TicketRecovery}}
		msgs = append(msgs, om)
		event = "email.change"
	}
	u, err := s.redeem(ctx, t, r, msgs...)
	if err != nil {
		return valet.User{}, err
	}
	s.audit(ctx, event, u.ID, "", c)
	return u, nil
}
