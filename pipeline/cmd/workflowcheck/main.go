// Command workflowcheck runs shipgate's workflow lint (pipeline/workflowcheck) over a directory of
// GitHub Actions workflows and exits 1 on any finding.
//
//	go run ./pipeline/cmd/workflowcheck .github/workflows
package main

import (
	"fmt"
	"os"

	"github.com/shipgate/shipgate/pipeline/workflowcheck"
)

func main() {
	dir := ".github/workflows"
	if len(os.Args) > 1 {
		dir = os.Args[1]
	}
	fs, err := workflowcheck.Dir(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workflowcheck:", err)
		os.Exit(2)
	}
	for _, f := range fs {
		fmt.Println(f)
	}
	if len(fs) > 0 {
		fmt.Fprintf(os.Stderr, "workflowcheck: %d finding(s)\n", len(fs))
		os.Exit(1)
	}
	fmt.Println("workflowcheck: no findings")
}
