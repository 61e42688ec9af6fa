package workflowcheck

import (
	"strings"
	"testing"
)

// checkoutJob is the workflow permissions and job a of good and prTarget: a checkout that keeps
// no credentials, then the steps each adds.
const checkoutJob = `permissions: {}
jobs:
  a:
    runs-on: ubuntu-24.04
    permissions:
      contents: read
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
        with:
          persist-credentials: false
`

const good = `name: ok
on: workflow_dispatch
` + checkoutJob + `      - uses: ./local-action
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
	checkSeeds(t, good, []seed{
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
		// Issue 11 item 11: the common injection forms, each seeded into run:.
		{"format around inputs", `run: echo "$VERSION"`, `run: echo "${{ format('{0}', inputs.version) }}"`, "`inputs.version` is expanded inside run:"},
		{"event by index", `run: echo "$VERSION"`, `run: echo "${{ github.event['pull_request']['title'] }}"`, "`github.event.pull_request.title` is expanded inside run:"},
		{"event by index, double quotes and spaces", `run: echo "$VERSION"`, `run: echo ${{ github . event [ "issue" ] . body }}`, "`github.event.issue.body` is expanded inside run:"},
		{"toJSON of the event", `run: echo "$VERSION"`, `run: echo '${{ toJSON(github.event) }}' | jq .`, "`github.event` is expanded inside run:"},
		{"toJSON of the event, mixed case", `run: echo "$VERSION"`, `run: echo '${{ ToJson(GitHub.Event) }}'`, "`github.event` is expanded inside run:"},
		{"ref_name in run", `run: echo "$VERSION"`, `run: echo "${{ github.ref_name }}"`, "`github.ref_name` is expanded inside run:"},
		{"base_ref in run", `run: echo "$VERSION"`, `run: git fetch origin ${{ github.base_ref }}`, "`github.base_ref` is expanded inside run:"},
		{"step output in run", `run: echo "$VERSION"`, `run: git checkout ${{ steps.finalize.outputs.commit }}`, "`steps.finalize.outputs.commit` is expanded inside run:"},
		{"step output by index", `run: echo "$VERSION"`, `run: echo ${{ steps['finalize'].outputs['commit'] }}`, "`steps.finalize.outputs.commit` is expanded inside run:"},
		{"job output in run", `run: echo "$VERSION"`, `run: echo ${{ needs.build.outputs.digest }}`, "`needs.build.outputs.digest` is expanded inside run:"},
		{"all job outputs in run", `run: echo "$VERSION"`, `run: echo '${{ toJSON(needs) }}'`, "`needs` is expanded inside run:"},
		{"inputs by index", `run: echo "$VERSION"`, `run: echo ${{ inputs['version'] }}`, "`inputs.version` is expanded inside run:"},
		{"multi-line run", `run: echo "$VERSION"`, "run: |\n          set -e\n          echo ${{ github.event.comment.body }}\n", "`github.event.comment.body` is expanded inside run:"},
		{"dagger action version input", "      - uses: ./local-action\n", "      - uses: dagger/dagger-for-github@27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77 # v8.4.1\n        with:\n          version: ${{ inputs.dagger }}\n", "inside dagger/dagger-for-github's `version` input"},
		{"dagger action shell input", "      - uses: ./local-action\n", "      - uses: dagger/dagger-for-github@27b130bf0f79a7f6fbbbe0fbca6760dc9bb40a77 # v8.4.1\n        with:\n          shell: container | from ${{ github.event.inputs.image }}\n", "inside dagger/dagger-for-github's `shell` input"},
		{"github-script", "      - uses: ./local-action\n", "      - uses: actions/github-script@f28e40c7f34bde8b3046d885e986cb6290c5673b # v7.1.0\n        with:\n          script: core.info('${{ github.event.issue.title }}')\n", "inside actions/github-script's `script` input"},
	})
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

// TestSafeExpressionsPass: what stays allowed inside run: (not attacker-controlled).
func TestSafeExpressionsPass(t *testing.T) {
	for _, run := range []string{
		`echo "${{ github.sha }}"`,
		`echo "${{ github.event_name }}"`,
		`echo "${{ steps.finalize.outcome }}"`,
		`echo "${{ needs.build.result }}"`,
		`echo "${{ matrix.platform }}"`,
		`echo "${{ github.run_id }}-${{ github.run_attempt }}"`,
		`echo "${{ runner.temp }}"`,
	} {
		wf := strings.Replace(good, `run: echo "$VERSION"`, "run: "+run, 1)
		if fs, err := File("ok.yml", []byte(wf)); err != nil || len(fs) != 0 {
			t.Errorf("%s flagged: %v %v", run, fs, err)
		}
	}
}

const prTarget = `name: pr
on:
  pull_request_target:
    types: [opened]
` + checkoutJob + `      - run: echo hello
`

// TestPullRequestTarget: a pull_request_target workflow may check out the base, never the head.
func TestPullRequestTarget(t *testing.T) {
	if fs, err := File("ok.yml", []byte(prTarget)); err != nil || len(fs) != 0 {
		t.Fatalf("base checkout flagged: %v %v", fs, err)
	}
	for name, c := range map[string][2]string{
		"head sha":       {"          persist-credentials: false\n", "          persist-credentials: false\n          ref: ${{ github.event.pull_request.head.sha }}\n"},
		"head ref":       {"          persist-credentials: false\n", "          persist-credentials: false\n          ref: ${{ github.head_ref }}\n"},
		"head repo":      {"          persist-credentials: false\n", "          persist-credentials: false\n          repository: ${{ github.event.pull_request.head.repo.full_name }}\n"},
		"merge commit":   {"          persist-credentials: false\n", "          persist-credentials: false\n          ref: ${{ github.event.pull_request.merge_commit_sha }}\n"},
		"refs/pull":      {"          persist-credentials: false\n", "          persist-credentials: false\n          ref: refs/pull/${{ github.event.number }}/merge\n"},
		"gh pr checkout": {"run: echo hello", "run: gh pr checkout \"$PR\""},
		"git fetch pull": {"run: echo hello", "run: git fetch origin \"pull/$PR/head\" && git checkout FETCH_HEAD"},
	} {
		bad := seeded(t, prTarget, seed{name: name, from: c[0], to: c[1]})
		if !has(t, bad, "pull_request_target workflow") {
			t.Errorf("%s: not flagged", name)
		}
		// The same checkout under pull_request is fine: it runs without secrets.
		if ok := strings.Replace(bad, "pull_request_target:", "pull_request:", 1); has(t, ok, "pull_request_target workflow") {
			t.Errorf("%s: flagged under pull_request", name)
		}
	}
}

// has reports whether checking wf yields a finding containing want.
func has(t *testing.T, wf, want string) bool {
	t.Helper()
	fs, err := File("x.yml", []byte(wf))
	if err != nil {
		t.Fatal(err)
	}
	return mentions(fs, want)
}

// mentions reports whether a finding's message contains want.
func mentions(fs []Finding, want string) bool {
	for _, f := range fs {
		if strings.Contains(f.Msg, want) {
			return true
		}
	}
	return false
}

// seed is one change to a file that passes its check: the first from becomes to, and the check must
// then report a finding containing want (for checkSeeds: no finding at all when want is "").
type seed struct{ name, from, to, want string }

// seeded returns base with the seed's change made; a seed that changes nothing is a broken test.
func seeded(t *testing.T, base string, c seed) string {
	t.Helper()
	bad := strings.Replace(base, c.from, c.to, 1)
	if bad == base {
		t.Fatalf("%s: seed did not change the workflow", c.name)
	}
	return bad
}

// checkSeeds checks the workflow base changed by each seed in turn.
func checkSeeds(t *testing.T, base string, seeds []seed) {
	t.Helper()
	for _, c := range seeds {
		bad := seeded(t, base, c)
		fs, err := File("bad.yml", []byte(bad))
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if c.want == "" {
			if len(fs) != 0 {
				t.Errorf("%s: %v", c.name, fs)
			}
			continue
		}
		if !mentions(fs, c.want) {
			t.Errorf("%s: findings %v lack %q", c.name, fs, c.want)
		}
	}
}

const guarded = `name: publish
on:
  workflow_dispatch:
    inputs:
      version:
        type: string
        required: true
permissions: {}
jobs:
  publish:
    if: github.ref == format('refs/heads/release/{0}', inputs.version)
    environment: release-publish
    runs-on: ubuntu-24.04
    permissions:
      contents: read
      id-token: write
    steps:
      - env:
          TOKEN: ${{ secrets.SHIPGATE_GITHUB_TOKEN }}
          REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}
        run: echo ok
  build:
    runs-on: ubuntu-24.04
    permissions:
      packages: write
    steps:
      - env:
          REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}
        run: echo ok
  call:
    if: github.ref == format('refs/heads/release/{0}', inputs.version)
    permissions:
      contents: read
    uses: ./.github/workflows/reusable.yml
    secrets: inherit
`

// TestReleasePowerNeedsEnvironmentAndRefGuard (issue 11 item 12): a job holding a secret that can
// publish, sign, merge or move latest runs only in an environment and only from its release ref.
func TestReleasePowerNeedsEnvironmentAndRefGuard(t *testing.T) {
	if fs, err := File("ok.yml", []byte(guarded)); err != nil || len(fs) != 0 {
		t.Fatalf("guarded workflow flagged: %v %v", fs, err)
	}
	checkSeeds(t, guarded, []seed{
		{"no environment", "    environment: release-publish\n", "", "job publish can publish, sign, merge or move latest (secrets.SHIPGATE_GITHUB_TOKEN, id-token: write) but declares no `environment:`"},
		{"empty environment", "    environment: release-publish\n", "    environment: {}\n", "declares no `environment:`"},
		{"no ref guard", "    if: github.ref == format('refs/heads/release/{0}', inputs.version)\n    environment", "    environment", "job publish can publish, sign, merge or move latest (secrets.SHIPGATE_GITHUB_TOKEN, id-token: write) but has no `if:` guarding on github.ref"},
		{"guard on ref_name", "    if: github.ref == format('refs/heads/release/{0}', inputs.version)\n    environment", "    if: startsWith(github.ref_name, 'release/')\n    environment", "has no `if:` guarding on github.ref"},
		{"secret by index", "${{ secrets.SHIPGATE_GITHUB_TOKEN }}", "${{ secrets['COSIGN_KEY'] }}", ""},
		{"secret in a job without environment", "          REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}\n        run: echo ok\n  call", "          REGISTRY_PASSWORD: ${{ secrets.GITHUB_TOKEN }}\n          COSIGN_KEY: ${{ secrets.COSIGN_KEY }}\n        run: echo ok\n  call", "job build can publish, sign, merge or move latest (secrets.COSIGN_KEY) but declares no `environment:`"},
		{"id-token without environment", "    permissions:\n      packages: write\n", "    permissions:\n      packages: write\n      id-token: write\n", "job build can publish, sign, merge or move latest (id-token: write) but declares no `environment:`"},
		{"reusable call without guard", "  call:\n    if: github.ref == format('refs/heads/release/{0}', inputs.version)\n", "  call:\n", "job call can publish, sign, merge or move latest (secrets: inherit) but has no `if:` guarding on github.ref"},
	})
}
