package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/valetauth/valet"
	"github.com/valetauth/valet/auth"
)

// importProgressEvery is how many lines pass between two progress lines.
const importProgressEvery = 10_000

// importShownFailures is how many failed lines the summary lists.
const importShownFailures = 50

// userTransferCmd runs `valet user import FILE|-` and `valet user export`.
// An import reads JSON Lines (see auth.Service.ImportUsers), writes a
// progress line to stderr every 10,000 lines and a summary to stdout, and
// fails when a line failed. An export writes every user, with its password
// hash, to stdout in the same format.
func userTransferCmd(ctx context.Context, sub string, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valet user "+sub, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		sf         storeFlags
		vf         serviceFlags
		dryRun     bool
		onConflict string
	)
	sf.register(fs)
	vf.register(fs)
	if sub == "import" {
		fs.BoolVar(&dryRun, "dry-run", false, "check every line and report what would change, storing nothing")
		fs.StringVar(&onConflict, "on-conflict", "skip", "for an email that is taken: skip it, or update its password hash and roles")
	}
	// The file may come before the flags or after them.
	if err := fs.Parse(args); err != nil {
		return err
	}
	file := ""
	if sub == "import" {
		if fs.NArg() == 0 {
			return usageError{"valet user import: name a file of JSON Lines, or - for standard input"}
		}
		file = fs.Arg(0)
		args = append(slices.Clone(args[:len(args)-fs.NArg()]), fs.Args()[1:]...)
	}
	if err := parseFlags(fs, args, &sf.config); err != nil {
		return err
	}
	conflict, err := auth.ParseOnConflict(onConflict)
	if err != nil {
		return usageError{fmt.Sprintf("--on-conflict %q: want skip or update", onConflict)}
	}
	in := stdin
	if sub == "import" && file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return fmt.Errorf("cannot read the import: %v", err)
		}
		defer f.Close()
		in = f
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

	if sub == "export" {
		n, err := svc.ExportUsers(ctx, stdout)
		if err != nil {
			return fmt.Errorf("the export stopped after %d users: %s", n, describe(err))
		}
		fmt.Fprintf(stderr, "valet: exported %d users\n", n)
		return nil
	}

	shown := 0
	rep, err := svc.ImportUsers(ctx, in, auth.ImportOptions{
		DryRun: dryRun, OnConflict: conflict, Client: auth.Client{UserAgent: "valet-cli"},
		Progress: func(r auth.ImportReport) {
			if r.Lines/importProgressEvery > shown {
				shown = r.Lines / importProgressEvery
				fmt.Fprintf(stderr, "valet: %d lines read: %s\n", r.Lines, counts(r))
			}
		},
	})
	writeImportSummary(stdout, rep)
	if err != nil {
		return fmt.Errorf("the import stopped after line %d: %s", rep.Lines, describe(err))
	}
	if rep.Failed > 0 {
		return fmt.Errorf("%d of %d lines were not imported", rep.Failed, rep.Lines)
	}
	return nil
}

// counts is the one-line tally of an import.
func counts(r auth.ImportReport) string {
	return fmt.Sprintf("%d created, %d updated, %d skipped, %d failed", r.Created, r.Updated, r.Skipped, r.Failed)
}

// writeImportSummary writes what an import did, and its first failed lines.
func writeImportSummary(w io.Writer, r auth.ImportReport) {
	if r.DryRun {
		fmt.Fprintln(w, "dry run: nothing was stored; an import would do this.")
	}
	fmt.Fprintf(w, "%d lines: %s\n", r.Lines, counts(r))
	for i, f := range r.Failures {
		if i == importShownFailures {
			break
		}
		fmt.Fprintf(w, "line %d: %s\n", f.Line, f.Reason)
	}
	if more := r.Failed - min(len(r.Failures), importShownFailures); more > 0 {
		fmt.Fprintf(w, "(and %d more failed lines)\n", more)
	}
}

// describe is the sentence for an error of the engine, or its first line
// when it is none of the engine's.
func describe(err error) string {
	if d := valet.Describe(err); d.Known {
		return d.Message
	}
	return oneLine(err)
}
