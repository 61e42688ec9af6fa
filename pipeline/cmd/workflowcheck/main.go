// Command workflowcheck runs shipgate's workflow lint (pipeline/workflowcheck) over a directory of
// GitHub Actions workflows, the workflow examples in the README and the justfile, and exits 1 on
// any finding.
//
//	go run ./pipeline/cmd/workflowcheck [-readme README.md] [-justfile justfile] [.github/workflows]
//	go run ./pipeline/cmd/workflowcheck -extract DIR [-readme README.md]
//
// -extract writes the README's workflow examples to DIR (readme-<line>.yml) for actionlint and
// checks nothing else. A -readme or -justfile that does not exist is skipped when left at its
// default.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/shipgate/shipgate/pipeline/workflowcheck"
)

func main() {
	readme := flag.String("readme", "README.md", "Markdown file whose ```yaml workflow examples are checked")
	justfile := flag.String("justfile", "justfile", "justfile whose recipes are checked for pasted arguments")
	extract := flag.String("extract", "", "write the README's workflow examples into this directory and exit")
	flag.Parse()
	dir := ".github/workflows"
	if flag.NArg() > 0 {
		dir = flag.Arg(0)
	}
	n, err := run(os.Stdout, dir, *readme, *justfile, *extract)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workflowcheck:", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "workflowcheck: %d finding(s)\n", n)
		os.Exit(1)
	}
}

// run checks (or, with extract, writes out the README's examples) and returns the number of
// findings, which it prints to w.
func run(w io.Writer, dir, readme, justfile, extract string) (int, error) {
	doc, err := os.ReadFile(readme)
	if err != nil && !(errors.Is(err, fs.ErrNotExist) && readme == "README.md") {
		return 0, err
	}
	if extract != "" {
		blocks := workflowcheck.MarkdownWorkflows(doc)
		if len(blocks) == 0 {
			return 0, fmt.Errorf("%s has no workflow examples to extract", readme)
		}
		for _, b := range blocks {
			if err := os.WriteFile(filepath.Join(extract, fmt.Sprintf("readme-%d.yml", b.Line)), []byte(b.Text), 0o644); err != nil {
				return 0, err
			}
		}
		return 0, nil
	}
	all, err := workflowcheck.Dir(dir)
	if err != nil {
		return 0, err
	}
	fsMD, err := workflowcheck.Markdown(readme, doc)
	if err != nil {
		return 0, err
	}
	all = append(all, fsMD...)
	if jf, err := os.ReadFile(justfile); err == nil {
		all = append(all, workflowcheck.Justfile(justfile, jf)...)
	} else if !(errors.Is(err, fs.ErrNotExist) && justfile == "justfile") {
		return 0, err
	}
	for _, f := range all {
		fmt.Fprintln(w, f)
	}
	if len(all) == 0 {
		fmt.Fprintln(w, "workflowcheck: no findings")
	}
	return len(all), nil
}
