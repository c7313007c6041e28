// Command valet runs the valet authentication server and manages its users
// and keys. See `valet help`.
package main

import (
	"context"
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
  valet keys    rotate | list
  valet migrate           run the database migrations and exit
  valet bench   [flags]   compare the modes and stores under load (valet bench -h)

Every flag also reads an environment variable: --addr from VALET_ADDR,
--data-dir from VALET_DATA_DIR, and so on; --config FILE reads "name = value" lines.
`

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

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError{"no command given"}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "user":
		return userCmd(ctx, args[1:], stdin, stdout, stderr)
	case "keys":
		return keysCmd(ctx, args[1:], stdout, stderr)
	case "migrate":
		return migrateCmd(ctx, args[1:], stdout, stderr)
	case "bench":
		return benchCmd(ctx, args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError{fmt.Sprintf("unknown command %q", args[0])}
}
