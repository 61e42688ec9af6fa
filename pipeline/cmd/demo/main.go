// Command demo runs a whole shipgate release against local services — an OCI registry, a GitHub
// API server and a throwaway signing key, all in this process on 127.0.0.1 — and prints what each
// phase prints in a real run. No engine, no network, no settings.
//
//	go run ./pipeline/cmd/demo [-format text|markdown|json]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/shipgate/shipgate/pipeline/sandbox"
)

func main() {
	format := flag.String("format", "text", "output format: text, markdown or json")
	flag.Parse()
	if err := sandbox.Demo(context.Background(), os.Stdout, *format); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}
