package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

func userCmd(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{"valet user: want create, list, role, disable, mfa, import or export"}
	}
	sub := args[0]
	if sub == "mfa" {
		// valet user mfa reset --email E
		if len(args) < 2 || args[1] != "reset" {
			return usageError{"valet user mfa: want reset"}
		}
		sub, args = "mfa reset", args[1:]
	}
	if sub == "import" || sub == "export" {
		return userTransferCmd(ctx, sub, args[1:], stdin, stdout, stderr)
	}
	fs := flag.NewFlagSet("valet user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sf     storeFlags
		vf     serviceFlags
		email  string
		roles  listFlag
		enable bool
		search string
	)
	sf.register(fs)
	vf.register(fs)
	switch sub {
	case "create", "role", "disable", "mfa reset":
		fs.StringVar(&email, "email", "", "the user's email")
	case "list":
		fs.StringVar(&search, "q", "", "only emails containing this")
	default:
		return usageError{fmt.Sprintf("valet user: unknown subcommand %q", sub)}
	}
	if sub == "create" || sub == "role" {
		fs.Var(&roles, "role", "a role (repeat, or comma-separate)")
	}
	if sub == "disable" {
		fs.BoolVar(&enable, "enable", false, "enable the user again instead")
	}
	if err := parseFlags(fs, args[1:], &sf.config); err != nil {
		return err
	}
	if sub != "list" && email == "" {
		return usageError{"valet user " + sub + ": --email is required"}
	}
	log, _ := newLogger(io.Discard, "error")
	b, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	defer b.Close()
	svc, stop, err := vf.service(ctx, b, log)
	if err != nil {
		return err
	}
	defer stop()
	switch sub {
	case "create":
		pw, err := readPassword(stdin)
		if err != nil {
			return err
		}
		u, err := svc.CreateUser(ctx, email, pw, roles)
		if err != nil {
			return fmt.Errorf("cannot create the user: %s", valet.Message(err))
		}
		fmt.Fprintf(stdout, "created user %s (%s) roles=%s\n", u.ID, u.Email, strings.Join(u.Roles, ","))
	case "list":
		users, total, err := svc.ListUsers(ctx, valet.UserQuery{Search: search, Limit: 500})
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tROLES\tDISABLED\tCREATED")
		for _, u := range users {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", u.ID, u.Email, strings.Join(u.Roles, ","), u.Disabled, u.CreatedAt.UTC().Format("2006-01-02T15:04:05Z"))
		}
		_ = tw.Flush()
		if total > len(users) {
			fmt.Fprintf(stdout, "(%d of %d shown)\n", len(users), total)
		}
	case "mfa reset":
		u, err := userByEmail(ctx, svc, email)
		if err != nil {
			return err
		}
		wd, err := svc.ResetFactors(ctx, u.ID, auth.Client{UserAgent: "valet-cli"})
		if err != nil {
			return fmt.Errorf("cannot reset the second factors: %s", valet.Message(err))
		}
		fmt.Fprintf(stdout, "removed the second factors and recovery codes of %s (%s); the user signs in with the password alone and can add new ones\n", u.ID, u.Email)
		fmt.Fprintf(stdout, "ended %d device sessions; running servers refuse them within a second or two\n", wd.Sessions)
		if !wd.TokensUntil.IsZero() {
			fmt.Fprintf(stdout, "token-mode access tokens already issued keep working until %s at the latest; they cannot be renewed\n", wd.TokensUntil.UTC().Format(time.RFC3339))
		}
	case "role", "disable":
		u, err := userByEmail(ctx, svc, email)
		if err != nil {
			return err
		}
		var p auth.UserPatch
		if sub == "role" {
			r := []string(roles)
			p.Roles = &r
		} else {
			d := !enable
			p.Disabled = &d
		}
		var wd auth.Withdrawal
		u, wd, err = svc.UpdateUser(ctx, u.ID, p, auth.Client{UserAgent: "valet-cli"})
		if err != nil {
			return fmt.Errorf("cannot update the user: %s", valet.Message(err))
		}
		fmt.Fprintf(stdout, "user %s (%s) roles=%s disabled=%v\n", u.ID, u.Email, strings.Join(u.Roles, ","), u.Disabled)
		if sub == "disable" && !enable {
			fmt.Fprintf(stdout, "ended %d device sessions; running servers refuse them within a second or two\n", wd.Sessions)
		}
		if !wd.TokensUntil.IsZero() {
			what := "token-mode access tokens already issued keep working"
			if sub == "role" {
				what = "access tokens already issued keep the old roles"
			}
			fmt.Fprintf(stdout, "%s until %s at the latest; they cannot be renewed\n", what, wd.TokensUntil.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// userByEmail finds the user a command names by --email.
func userByEmail(ctx context.Context, svc *auth.Service, email string) (valet.User, error) {
	e, err := auth.NormalizeEmail(email)
	if err != nil {
		return valet.User{}, usageError{valet.Message(err)}
	}
	u, err := svc.UserByEmail(ctx, e)
	if err != nil {
		return valet.User{}, fmt.Errorf("no user with email %s", e)
	}
	return u, nil
}

// readPassword reads one line from stdin: the password, never a flag, so it
// stays out of the shell history and the process list.
func readPassword(stdin io.Reader) (string, error) {
	line, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", usageError{"valet user create: write the password on standard input"}
	}
	return strings.TrimRight(line, "\r\n"), nil
}
