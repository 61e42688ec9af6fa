package workflowcheck

import (
	"strings"
	"testing"
)

const good = `name: ok
on: workflow_dispatch
permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
      - uses: ./local-action
      - env:
          VERSION: ${{ inputs.version }}
        run: echo "$VERSION"
`

func TestGoodWorkflowPasses(t *testing.T) {
	fs, err := File("good.yml", []byte(good))
	if err != nil || len(fs) != 0 {
		t.Fatalf("%v %v", fs, err)
	}
}

// TestSeededBadWorkflows changes the good workflow in one way each and expects exactly that
// finding.
func TestSeededBadWorkflows(t *testing.T) {
	cases := []struct {
		name, from, to, want string
	}{
		{"tag instead of sha", "actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1", "actions/checkout@v7", "not pinned to a full commit SHA"},
		{"short sha", "@3d3c42e5aac5ba805825da76410c181273ba90b1", "@3d3c42e", "not pinned"},
		{"no version comment", " # v7.0.1", "", "no version comment"},
		{"inputs in run", `run: echo "$VERSION"`, `run: echo "${{ inputs.version }}"`, "`inputs.version` is expanded inside run:"},
		{"event in run", `run: echo "$VERSION"`, `run: echo ${{ github.event.pull_request.title }}`, "`github.event.pull_request.title` is expanded inside run:"},
		{"head_ref in run", `run: echo "$VERSION"`, `run: git checkout ${{ github.head_ref }}`, "`github.head_ref` is expanded inside run:"},
		{"no workflow permissions", "permissions: {}\n", "", "no workflow-level `permissions: {}`"},
		{"workflow write-all", "permissions: {}\n", "permissions: write-all\n", "must be `{}`"},
		{"job without permissions", "    permissions:\n      contents: read\n", "", "job a has no `permissions:`"},
		{"persisted credentials", "          persist-credentials: false\n", "          fetch-depth: 0\n", "persist-credentials: false"},
		{"dagger action call input", "      - uses: ./local-action\n", "      - uses: dagger/dagger-for-github@27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77 # v8.4.1\n        with:\n          call: publish --version ${{ inputs.version }}\n", "inside dagger/dagger-for-github's `call` input"},
		{"github-script", "      - uses: ./local-action\n", "      - uses: actions/github-script@f28e40c7f34bde8b3046d885e986cb6290c5673b # v7.1.0\n        with:\n          script: core.info('${{ github.event.issue.title }}')\n", "inside actions/github-script's `script` input"},
	}
	for _, c := range cases {
		bad := strings.Replace(good, c.from, c.to, 1)
		if bad == good {
			t.Fatalf("%s: seed did not change the workflow", c.name)
		}
		fs, err := File("bad.yml", []byte(bad))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		found := false
		for _, f := range fs {
			if strings.Contains(f.Msg, c.want) {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: findings %v lack %q", c.name, fs, c.want)
		}
	}
	// A safe with: value of an executing action (no untrusted expression) is fine.
	ok := strings.Replace(good, "      - uses: ./local-action\n", "      - uses: dagger/dagger-for-github@27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77 # v8.4.1\n        with:\n          version: v0.21.8\n          verb: version\n", 1)
	if fs, _ := File("ok.yml", []byte(ok)); len(fs) != 0 {
		t.Errorf("install-only use of dagger-for-github flagged: %v", fs)
	}
	if _, err := File("x.yml", []byte("a: [")); err == nil {
		t.Errorf("broken YAML accepted")
	}
}

func TestRepositoryWorkflowsPass(t *testing.T) {
	fs, err := Dir("../../.github/workflows")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		t.Errorf("%s", f)
	}
}
