package auth

import (
	"context"
	"errors"
	"fmt"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/mail"
)

// RequestEmailChange starts changing the email of id's user to newEmail,
// once currentPassword is checked (a password check like a login's,
// throttled alike). The new address is sent a link and a code, valid for
// Config.Mail.VerifyTTL; the change takes effect when one of them is used
// (CompleteVerification). The old address is told at once, with a link,
// valid for Config.Mail.ReportTTL, for the case that the change is not its
// owner's: it sets a new password, ends every session and keeps (or puts
// back) the old address. It returns an error wrapping
// valet.ErrInvalidCredentials for a wrong password, valet.ErrInvalidEmail,
// valet.ErrInvalidRequest for the address the account has,
// valet.ErrConflict for one another account has, and valet.ErrRateLimited.
func (s *Service) RequestEmailChange(ctx context.Context, id *valet.Identity, newEmail, currentPassword string, c Client) error {
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
	if err := s.checkCurrentPassword(ctx, u, id.SessionID, currentPassword, "email.change", c); err != nil {
		return err
	}
	if err := s.requireRecentBeyondPassword(ctx, id); err != nil {
		return err
	}
	next, err := NormalizeEmail(newEmail)
	if err != nil {
		return err
	}
	if next == u.Email {
		return valet.Errorf(valet.ErrInvalidRequest, "This is the address your account has already.")
	}
	switch _, err := s.users.UserByEmail(ctx, next); {
	case err == nil:
		return valet.Errorf(valet.ErrConflict, "An account with this email already exists.")
	case !errors.Is(err, valet.ErrNotFound):
		return err
	}
	if s.cfg.Throttle != nil {
		if err := s.cfg.Throttle.Mail(ctx, u.Email, c.IP); err != nil {
			return s.throttled(ctx, err, "email.change", u.ID, c)
		}
	}
	// The old address hears first: should the second step fail, it was
	// told of a change that did not start, never the other way round.
	report := s.newTicket(u, valet.TicketReport, u.Email, s.cfg.Mail.ReportTTL, true)
	notice := fmt.Sprintf("Someone signed in to your account asked to change its email address from %s to %s. "+
		"The change takes effect once %s is confirmed, which may have happened already.", u.Email, next, next)
	if err := s.send(ctx, report, mail.KindNotice, recoveryPath, notice); err != nil {
		return err
	}
	change := s.newTicket(u, valet.TicketEmailChange, next, s.cfg.Mail.VerifyTTL, false)
	if err := s.send(ctx, change, mail.KindVerify, verifyPath, ""); err != nil {
		return err
	}
	s.audit(ctx, "email.change.request", u.ID, id.SessionID, c)
	return nil
}
