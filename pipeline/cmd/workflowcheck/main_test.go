package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const okWF = "on: workflow_dispatch\npermissions: {}\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    permissions: {}\n    steps:\n      - run: echo ok\n"

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRunChecksWorkflowsReadmeAndJustfile: one run covers the three sources, each reported by name.
func TestRunChecksWorkflowsReadmeAndJustfile(t *testing.T) {
	d := t.TempDir()
	write(t, filepath.Join(d, "wf", "ok.yml"), okWF)
	readme := filepath.Join(d, "README.md")
	write(t, readme, "# x\n\n```yaml\n"+strings.Replace(okWF, "echo ok", "echo ${{ github.event.issue.title }}", 1)+"```\n")
	justfile := filepath.Join(d, "justfile")
	write(t, justfile, "r VERSION:\n    echo {{VERSION}}\n")
	var out bytes.Buffer
	n, err := run(&out, filepath.Join(d, "wf"), readme, justfile, "")
	if err != nil || n != 2 {
		t.Fatalf("n=%d err=%v\n%s", n, err, out.String())
	}
	if !strings.Contains(out.String(), readme+":11:") || !strings.Contains(out.String(), justfile+":2:") {
		t.Errorf("findings do not name their places:\n%s", out.String())
	}
	// -extract writes the README's workflows for actionlint.
	x := t.TempDir()
	if _, err := run(&out, "", readme, "", x); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(x, "readme-4.yml")); err != nil || !strings.Contains(string(b), "jobs:") {
		t.Errorf("extracted: %q %v", b, err)
	}
}

// TestRepository: the repository's own workflows, README and justfile have no findings.
func TestRepository(t *testing.T) {
	var out bytes.Buffer
	n, err := run(&out, "../../../.github/workflows", "../../../README.md", "../../../justfile", "")
	if err != nil || n != 0 {
		t.Fatalf("n=%d err=%v\n%s", n, err, out.String())
	}
}
