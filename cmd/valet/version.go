package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func versionCmd(args []string, stdout io.Writer) error {
	if len(args) > 0 {
		if isHelpArg(args[0]) {
			return helpRequest{"Usage: valet version\n\nPrints the version of valet, the commit it was built from, and the Go version.\n"}
		}
		return usageError{fmt.Sprintf("valet version takes no arguments, not %q", args[0])}
	}
	fmt.Fprintln(stdout, versionLine())
	return nil
}

// versionLine is "valet VERSION [(commit REV)] GO OS/ARCH". VERSION is the
// module version, "(devel)" when the build does not know it (go run, or a
// checkout built without version control information).
func versionLine() string {
	version, rev := "(devel)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		modified := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if rev != "" && modified {
			rev += ", modified"
		}
	}
	line := "valet " + version
	if rev != "" {
		line += " (commit " + rev + ")"
	}
	return line + " " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
}
