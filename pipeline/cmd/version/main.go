// Command version checks a release version the way shipgate does and prints its canonical form
// and derived names; the justfile uses it to refuse a malformed version before dispatching.
//
//	go run ./pipeline/cmd/version 1.2.3
package main

import (
	"fmt"
	"os"

	"github.com/shipgate/shipgate/pipeline/version"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: version X.Y.Z")
		os.Exit(2)
	}
	v, err := version.Parse(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
	fmt.Printf("version %s\ngit tag %s\nbranch  %s\nimage   %s\n", v, v.GitTag(), v.Branch(), v.ImageTag())
}
