package provenance

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

const commit = "0123456789abcdef0123456789abcdef01234567"

func facts() Facts {
	return Facts{
		SourceRepo:  "shipgate/demo",
		Commit:      commit,
		Ref:         "refs/heads/release/1.2.3",
		Version:     "1.2.3",
		Workflow:    ".github/workflows/release.yml",
		RunID:       "4242",
		RunAttempt:  "2",
		BuilderID:   "https://github.com/shipgate/demo/.github/workflows/release.yml@refs/heads/release/1.2.3",
		Dockerfile:  "Dockerfile",
		Platforms:   []string{"linux/amd64", "linux/arm64"},
		BuildArgs:   map[string]string{"GO_VERSION": "1.26", "A": "b"},
		BaseImages:  map[string]string{"docker.io/library/alpine:3.20": "sha256:" + strings.Repeat("ab", 32), "gcr.io/distroless/static:nonroot": "sha256:" + strings.Repeat("cd", 32)},
		Started:     time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC),
		Finished:    time.Date(2026, 11, 20, 10, 5, 0, 0, time.UTC),
		WorkflowRef: "",
	}
}

func TestPredicateRecordsTheRun(t *testing.T) {
	raw, err := Predicate(facts())
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		BuildDefinition struct {
			BuildType          string
			ExternalParameters struct {
				Source     struct{ Repository, Ref string }
				Workflow   struct{ Repository, Path, Ref string }
				Version    string
				Platforms  []string
				Dockerfile string
				BuildArgs  map[string]string
			}
			InternalParameters struct {
				Github struct{ RunID, RunAttempt string }
			}
			ResolvedDependencies []struct {
				URI    string `json:"uri"`
				Name   string
				Digest map[string]string
			}
		}
		RunDetails struct {
			Builder  struct{ ID string }
			Metadata struct {
				InvocationID string
				StartedOn    time.Time
				FinishedOn   time.Time
			}
		}
	}
	if err := json.Unmarshal(raw, &p); err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	bd := p.BuildDefinition
	if bd.BuildType != BuildType {
		t.Errorf("buildType %q", bd.BuildType)
	}
	ep := bd.ExternalParameters
	if ep.Source.Repository != "https://github.com/shipgate/demo" || ep.Source.Ref != "refs/heads/release/1.2.3" {
		t.Errorf("source %+v", ep.Source)
	}
	if ep.Workflow.Path != ".github/workflows/release.yml" || ep.Workflow.Ref != "refs/heads/release/1.2.3" || ep.Workflow.Repository != "https://github.com/shipgate/demo" {
		t.Errorf("workflow %+v", ep.Workflow)
	}
	if ep.Version != "1.2.3" || strings.Join(ep.Platforms, ",") != "linux/amd64,linux/arm64" || ep.Dockerfile != "Dockerfile" || ep.BuildArgs["GO_VERSION"] != "1.26" {
		t.Errorf("parameters %+v", ep)
	}
	if bd.InternalParameters.Github.RunID != "4242" || bd.InternalParameters.Github.RunAttempt != "2" {
		t.Errorf("internal %+v", bd.InternalParameters)
	}
	if len(bd.ResolvedDependencies) != 3 {
		t.Fatalf("dependencies %+v", bd.ResolvedDependencies)
	}
	src := bd.ResolvedDependencies[0]
	if src.URI != "git+https://github.com/shipgate/demo@refs/heads/release/1.2.3" || src.Digest["gitCommit"] != commit {
		t.Errorf("source dependency %+v", src)
	}
	if bd.ResolvedDependencies[1].Name != "docker.io/library/alpine:3.20" || bd.ResolvedDependencies[1].Digest["sha256"] != strings.Repeat("ab", 32) {
		t.Errorf("base image (sorted first) %+v", bd.ResolvedDependencies[1])
	}
	rd := p.RunDetails
	if rd.Builder.ID != facts().BuilderID {
		t.Errorf("builder %q", rd.Builder.ID)
	}
	if rd.Metadata.InvocationID != "https://github.com/shipgate/demo/actions/runs/4242/attempts/2" {
		t.Errorf("invocation %q", rd.Metadata.InvocationID)
	}
	if !rd.Metadata.StartedOn.Equal(facts().Started) || !rd.Metadata.FinishedOn.Equal(facts().Finished) {
		t.Errorf("times %v %v", rd.Metadata.StartedOn, rd.Metadata.FinishedOn)
	}
}

func TestPredicateIsDeterministic(t *testing.T) {
	a, err := Predicate(facts())
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		b, err := Predicate(facts())
		if err != nil {
			t.Fatal(err)
		}
		if string(a) != string(b) {
			t.Fatalf("same facts, different bytes:\n%s\n%s", a, b)
		}
	}
}

func TestPredicateOutsideActions(t *testing.T) {
	f := Facts{SourceRepo: "https://github.com/shipgate/demo", Commit: commit, Version: "1.2.3", BuilderID: "https://github.com/shipgate/shipgate/local"}
	raw, err := Predicate(f)
	if err != nil {
		t.Fatal(err)
	}
	s := string(raw)
	for _, absent := range []string{"workflow", "internalParameters", "metadata", "invocationId"} {
		if strings.Contains(s, absent) {
			t.Errorf("local build records %q:\n%s", absent, s)
		}
	}
	got, err := CommitOf(raw)
	if err != nil || got != commit {
		t.Fatalf("CommitOf = %q, %v", got, err)
	}
	if !strings.Contains(s, `"uri":"git+https://github.com/shipgate/demo"`) {
		t.Errorf("source without ref: %s", s)
	}
}

func TestCommitOfRoundTrip(t *testing.T) {
	f := facts()
	f.Commit = strings.ToUpper(commit)
	raw, err := Predicate(f)
	if err != nil {
		t.Fatal(err)
	}
	got, err := CommitOf(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != commit {
		t.Fatalf("CommitOf = %q, want %q (lower case)", got, commit)
	}
}

func TestCommitOfRejects(t *testing.T) {
	other := strings.Repeat("f", 40)
	cases := map[string]struct{ predicate, want string }{
		"not json":   {`{`, "not SLSA v1 JSON"},
		"not slsa":   {`{"buildDefinition":{}}`, "not valid SLSA v1"},
		"no commit":  {`{"buildDefinition":{"buildType":"x","externalParameters":{"a":1},"resolvedDependencies":[{"name":"base","digest":{"sha256":"` + strings.Repeat("a", 64) + `"}}]},"runDetails":{"builder":{"id":"b"}}}`, "names no source commit"},
		"two commit": {`{"buildDefinition":{"buildType":"x","externalParameters":{"a":1},"resolvedDependencies":[{"uri":"git+a","digest":{"gitCommit":"` + commit + `"}},{"uri":"git+b","digest":{"gitCommit":"` + other + `"}}]},"runDetails":{"builder":{"id":"b"}}}`, "2 source commits"},
		"short":      {`{"buildDefinition":{"buildType":"x","externalParameters":{"a":1},"resolvedDependencies":[{"uri":"git+a","digest":{"gitCommit":"abc1234"}}]},"runDetails":{"builder":{"id":"b"}}}`, "gitCommit: abc1234"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := CommitOf([]byte(c.predicate))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("CommitOf error = %v, want it to say %q", err, c.want)
			}
		})
	}
	// A predicate from another builder that names one commit twice is fine.
	twice := `{"buildDefinition":{"buildType":"x","externalParameters":{"a":1},"resolvedDependencies":[{"uri":"git+a","digest":{"gitCommit":"` + commit + `"}},{"uri":"git+a@x","digest":{"gitCommit":"` + commit + `"}}]},"runDetails":{"builder":{"id":"b"},"extra":1},"unknown":true}`
	if got, err := CommitOf([]byte(twice)); err != nil || got != commit {
		t.Fatalf("CommitOf(twice) = %q, %v", got, err)
	}
}

func TestPredicateRefusesIncompleteFacts(t *testing.T) {
	cases := map[string]struct {
		mutate func(*Facts)
		want   string
	}{
		"no repo":      {func(f *Facts) { f.SourceRepo = "" }, "SourceRepo is empty"},
		"bad repo":     {func(f *Facts) { f.SourceRepo = "just-a-name" }, "neither a URL nor OWNER/REPO"},
		"short commit": {func(f *Facts) { f.Commit = "abc1234" }, "not a full git commit id"},
		"ref commit":   {func(f *Facts) { f.Commit = "refs/heads/release/1.2.3" }, "not a full git commit id"},
		"no version":   {func(f *Facts) { f.Version = " " }, "Version is empty"},
		"no builder":   {func(f *Facts) { f.BuilderID = "" }, "BuilderID is empty"},
		"bad base":     {func(f *Facts) { f.BaseImages = map[string]string{"alpine": "latest"} }, "sha256:<hex>"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			f := facts()
			c.mutate(&f)
			_, err := Predicate(f)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Predicate error = %v, want it to say %q", err, c.want)
			}
		})
	}
}

func FuzzCommitOf(f *testing.F) {
	raw, _ := Predicate(facts())
	f.Add(raw)
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := CommitOf(b)
		if err == nil && len(c) != 40 && len(c) != 64 {
			t.Fatalf("CommitOf accepted %q", c)
		}
	})
}
