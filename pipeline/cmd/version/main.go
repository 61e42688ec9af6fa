// Command version checks a release version the way shipgate does and prints its canonical form
// and derived names; the justfile uses it to refuse a malformed version before dispatching.
//
//	go run ./pipeline/cmd/version 1.2.3
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/shipgate/shipgate/pipeline/version"
)

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }

// run checks the one argument and returns the exit status: 0 valid, 1 invalid, 2 misused.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		fmt.Fprintln(stderr, "usage: version X.Y.Z")
		return 2
	}
	v, err := version.Parse(args[0])
	if err != nil {
		fmt.Fprintln(stderr, "error:", err)
		return 1
	}
	fmt.Fprintf(stdout, "version %s\ngit tag %s\nbranch  %s\nimage   %s\n", v, v.GitTag(), v.Branch(), v.ImageTag())
	return 0
}
