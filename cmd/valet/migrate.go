package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

func migrateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("valet migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var sf storeFlags
	sf.register(fs)
	if err := parseFlags(fs, args, &sf.config); err != nil {
		return err
	}
	b, err := sf.open(ctx, true)
	if err != nil {
		return err
	}
	b.Close()
	fmt.Fprintf(stdout, "valet: %s database is up to date\n", b.kind)
	return nil
}
