// Command valet runs the valet authentication server and manages its users
// and keys. See `valet help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `valet: authentication with sessions, tokens, or both.

Usage:
  valet serve   [flags]   run the server (valet serve -h lists the flags)
  valet user    create --email E [--role R ...]  (password read from stdin)
  valet user    list | role --email E --role R ... | disable --email E [--enable]
  valet user    import FILE|- | export   (JSON Lines)
  valet client  create --name N --redirect-uri URI ... [--public] [--skip-consent] | list | delete --id ID
                OpenID Connect clients (docs/oidc.md)
  valet keys    rotate | list
  valet migrate           run the database migrations and exit
  valet mail    test --to ADDR [--smtp-url URL]   send a test message and show the SMTP answer
  valet bench   [flags]   compare the modes and stores under load (valet bench -h)
  valet version           print the version of valet and of Go

Every flag also reads an environment variable: --addr from VALET_ADDR,
--data-dir from VALET_DATA_DIR, and so on; --config FILE reads a YAML file
whose keys are the flag names (addr: 127.0.0.1:9000). The command line beats
the environment, which beats the file. docs/config.md lists every setting.
`

const userUsage = `Usage:
  valet user create --email E [--role R ...]   create a user; the password is read from stdin
  valet user list [--q TEXT]                    list users (emails containing TEXT)
  valet user role --email E --role R ...        set a user's roles
  valet user disable --email E [--enable]       disable a user (ending its sessions), or enable it
  valet user import FILE|- [--dry-run] [--on-conflict skip|update]   add users from JSON Lines (password hashes kept)
  valet user export                             write every user as JSON Lines

Each takes the database flags of valet serve (--db, --data-dir, --config, ...);
valet user SUBCOMMAND -h lists them.
`

// commands are the subcommands, for suggestions.
var commands = []string{"serve", "user", "client", "keys", "migrate", "mail", "bench", "version", "help"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "valet:", err)
		if isUsage(err) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

// run runs the command in args. Help that a command was asked for goes to
// stdout and is not an error.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	err := dispatch(ctx, args, stdin, stdout, stderr)
	var h helpRequest
	if errors.As(err, &h) {
		fmt.Fprint(stdout, h.text)
		return nil
	}
	if errors.Is(err, flag.ErrHelp) {
		// A command that parsed -h itself has printed its help already.
		return nil
	}
	return err
}

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "user":
		if len(args) > 1 && isHelpArg(args[1]) {
			return helpRequest{userUsage}
		}
		return userCmd(ctx, args[1:], stdin, stdout, stderr)
	case "client":
		if len(args) > 1 && isHelpArg(args[1]) {
			return helpRequest{clientUsage}
		}
		return clientCmd(ctx, args[1:], stdout, stderr)
	case "keys":
		return keysCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], stdout, stderr)
	case "mail":
		return mailCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdin, stdout, stderr)
	case "bench-floor":
		// The floor process of valet bench --processes; not for people.
		return benchFloorCmd(args[1:], stdout)
	case "version", "--version":
		return versionCmd(args[1:], stdout)
	case "help", "-h", "-help", "--help":
		return helpRequest{usage}
	}
	if s := suggest(args[0], commands); s != "" {
		return usageError{fmt.Sprintf("unknown command %q (did you mean %q?); valet -h lists the commands", args[0], s)}
	}
	return usageError{fmt.Sprintf("unknown command %q; valet -h lists the commands", args[0])}
}

// isHelpArg reports whether arg asks for help.
func isHelpArg(arg string) bool {
	switch arg {
	case "-h", "-help", "--help", "help":
		return true
	}
	return false
}
