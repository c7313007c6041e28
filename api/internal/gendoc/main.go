// Command gendoc writes docs/API.md from the OpenAPI document of package
// api. It is run by go generate in api/:
//
//	go generate ./api
//
// With no -o it writes to standard output.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/valetauth/valet/api/internal/apidoc"
)

func main() {
	out := flag.String("o", "", "write the reference to this file instead of standard output")
	flag.Parse()
	md, err := apidoc.Markdown()
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
	if *out == "" {
		_, err = os.Stdout.Write(md)
	} else {
		err = os.WriteFile(*out, md, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gendoc:", err)
		os.Exit(1)
	}
}
