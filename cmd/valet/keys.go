package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

const keysUsage = `Usage:
  valet keys rotate   add a signing key; the previous one verifies until its tokens expire
  valet keys list     list the signing keys

Each takes the flags of valet serve that concern the database and the tokens
(--db, --data-dir, --config, --alg, ...); valet keys rotate -h lists them.
`

func keysCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && isHelpArg(args[0]) {
		return helpRequest{keysUsage}
	}
	if len(args) == 0 || (args[0] != "rotate" && args[0] != "list") {
		return usageError{"valet keys: want rotate or list; valet keys -h tells more"}
	}
	fs := flag.NewFlagSet("valet keys "+args[0], flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sf storeFlags
		vf serviceFlags
	)
	sf.register(fs)
	vf.register(fs)
	if err := parseFlags(fs, args[1:], &sf.config); err != nil {
		return err
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
	if args[0] == "rotate" {
		k, err := svc.RotateKeys(ctx)
		if err != nil {
			return fmt.Errorf("cannot rotate: %s", oneLine(err))
		}
		fmt.Fprintf(stdout, "new signing key %s (%s); running servers sign with it within about a second (they read the keys every second); the previous key verifies until its tokens expire\n", k.ID(), k.Alg())
		return nil
	}
	list, err := svc.ListKeys(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tRETIRED\tSIGNING")
	for _, k := range list {
		retired := "-"
		if !k.RetiredAt.IsZero() {
			retired = k.RetiredAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\n", k.ID, k.Alg, k.CreatedAt.UTC().Format(time.RFC3339), retired, k.Signing)
	}
	return tw.Flush()
}
