// Package provenance builds the SLSA v1 provenance predicate (https://slsa.dev/provenance/v1) of
// one shipgate release from the facts of the run that published it, and reads the finalize commit
// back out of such a predicate. It is pure data: no I/O, no clock, no environment.
//
// The predicate it writes, with the in-toto attestation Go types:
//
//	buildDefinition.buildType            BuildType
//	buildDefinition.externalParameters   source {repository, ref}, workflow {repository, path, ref}
//	                                     (in Actions), version, platforms, dockerfile, buildArgs
//	buildDefinition.internalParameters   github {runId, runAttempt} (in Actions)
//	buildDefinition.resolvedDependencies the source: {uri: git+<repo>@<ref>, digest: {gitCommit: <finalize commit>}},
//	                                     then each base image: {name: <ref>, digest: {sha256: <hex>}}
//	runDetails.builder.id                Facts.BuilderID
//	runDetails.metadata                  invocationId (<repo>/actions/runs/<id>/attempts/<n>), startedOn, finishedOn
//
// The statement around it (its subjects: the index and platform manifest digests) is made by the
// signing package, which signs it.
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	slsa "github.com/in-toto/attestation/go/predicates/provenance/v1"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// PredicateType is the in-toto predicate type of SLSA provenance v1; cosign calls it
// "slsaprovenance1" (cosign verify-attestation --type slsaprovenance1).
const PredicateType = "https://slsa.dev/provenance/v1"

// BuildType names the shape of externalParameters and internalParameters written by this package.
// Bump the trailing version when that shape changes incompatibly.
const BuildType = "https://github.com/shipgate/shipgate/buildtypes/publish/v1"

// Facts are what a publish run knows about the build it made. Only SourceRepo, Commit, Version and
// BuilderID are required; the rest is recorded when known.
type Facts struct {
	// SourceRepo is the source repository URL, "https://github.com/OWNER/REPO"; a bare
	// "OWNER/REPO" is read as a GitHub repository.
	SourceRepo string
	// Commit is the finalize commit: the commit whose tree was built, which the tag and the draft
	// release point at too. 40 (SHA-1) or 64 (SHA-256) hex digits.
	Commit string
	// Ref is the git ref the commit was built from, such as "refs/heads/release/1.2.3".
	Ref string
	// Version is the release version, X.Y.Z.
	Version string
	// Workflow is the path of the GitHub Actions workflow file that ran the build
	// (".github/workflows/release.yml"); empty outside Actions.
	Workflow string
	// WorkflowRef is the ref of the workflow file (GITHUB_WORKFLOW_REF's part after '@'); empty
	// means Ref.
	WorkflowRef string
	// RunID and RunAttempt identify the Actions run (GITHUB_RUN_ID, GITHUB_RUN_ATTEMPT).
	RunID, RunAttempt string
	// BuilderID identifies who built, for example the workflow identity
	// "https://github.com/OWNER/REPO/.github/workflows/release.yml@refs/heads/release/1.2.3", or a
	// URI naming a local machine when run from a laptop.
	BuilderID string
	// Dockerfile is the Dockerfile path within the source tree.
	Dockerfile string
	// Platforms are the platforms built, such as "linux/amd64".
	Platforms []string
	// BuildArgs are the build arguments passed to the build. Never put secrets here: the
	// provenance is public.
	BuildArgs map[string]string
	// BaseImages maps each base image reference to its digest ("sha256:<hex>"), when known.
	BaseImages map[string]string
	// Started and Finished bound the build; zero values are left out.
	Started, Finished time.Time
}

// Predicate returns the SLSA v1 provenance predicate for f as compact JSON.
func Predicate(f Facts) ([]byte, error) {
	repo, err := checkFacts(f)
	if err != nil {
		return nil, err
	}
	def, err := buildDefinition(f, repo)
	if err != nil {
		return nil, err
	}
	p := &slsa.Provenance{BuildDefinition: def, RunDetails: runDetails(f, repo)}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("provenance predicate is not valid SLSA v1: %w", err)
	}
	raw, err := protojson.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encode provenance predicate: %w", err)
	}
	// protojson varies its whitespace on purpose; compact it so equal facts give equal bytes.
	var out bytes.Buffer
	if err := json.Compact(&out, raw); err != nil {
		return nil, fmt.Errorf("encode provenance predicate: %w", err)
	}
	return out.Bytes(), nil
}

// checkFacts refuses facts a provenance cannot be made of, and returns the repository URL.
func checkFacts(f Facts) (string, error) {
	repo, err := repoURL(f.SourceRepo)
	if err != nil {
		return "", err
	}
	if err := checkCommit(f.Commit); err != nil {
		return "", fmt.Errorf("provenance facts: %w", err)
	}
	if strings.TrimSpace(f.Version) == "" {
		return "", fmt.Errorf("provenance facts: Version is empty: give the release version X.Y.Z")
	}
	if strings.TrimSpace(f.BuilderID) == "" {
		return "", fmt.Errorf("provenance facts: BuilderID is empty: give the workflow identity (https://github.com/OWNER/REPO/.github/workflows/release.yml@REF) or a URI naming the machine that built")
	}
	return repo, nil
}

// externalParameters are the inputs a user controls: source, version, workflow, platforms,
// Dockerfile and build arguments.
func externalParameters(f Facts, repo string) map[string]any {
	source := map[string]any{"repository": repo}
	if f.Ref != "" {
		source["ref"] = f.Ref
	}
	external := map[string]any{"source": source, "version": f.Version}
	if f.Workflow != "" {
		wref := f.WorkflowRef
		if wref == "" {
			wref = f.Ref
		}
		wf := map[string]any{"repository": repo, "path": f.Workflow}
		if wref != "" {
			wf["ref"] = wref
		}
		external["workflow"] = wf
	}
	if len(f.Platforms) > 0 {
		ps := make([]any, len(f.Platforms))
		for i, p := range f.Platforms {
			ps[i] = p
		}
		external["platforms"] = ps
	}
	if f.Dockerfile != "" {
		external["dockerfile"] = f.Dockerfile
	}
	if len(f.BuildArgs) > 0 {
		args := map[string]any{}
		for k, v := range f.BuildArgs {
			args[k] = v
		}
		external["buildArgs"] = args
	}
	return external
}

// buildDefinition is the build type, its parameters and what it resolved: the source commit and
// the base images.
func buildDefinition(f Facts, repo string) (*slsa.BuildDefinition, error) {
	ext, err := structpb.NewStruct(externalParameters(f, repo))
	if err != nil {
		return nil, fmt.Errorf("provenance external parameters: %w", err)
	}
	def := &slsa.BuildDefinition{BuildType: BuildType, ExternalParameters: ext}
	if f.RunID != "" {
		gh := map[string]any{"runId": f.RunID}
		if f.RunAttempt != "" {
			gh["runAttempt"] = f.RunAttempt
		}
		internal, err := structpb.NewStruct(map[string]any{"github": gh})
		if err != nil {
			return nil, fmt.Errorf("provenance internal parameters: %w", err)
		}
		def.InternalParameters = internal
	}
	srcURI := "git+" + repo
	if f.Ref != "" {
		srcURI += "@" + f.Ref
	}
	def.ResolvedDependencies = append(def.ResolvedDependencies, &intoto.ResourceDescriptor{
		Uri:    srcURI,
		Digest: map[string]string{"gitCommit": strings.ToLower(f.Commit)},
	})
	for _, ref := range slices.Sorted(maps.Keys(f.BaseImages)) {
		alg, hex, ok := strings.Cut(f.BaseImages[ref], ":")
		if !ok || alg == "" || hex == "" {
			return nil, fmt.Errorf("provenance facts: base image %q has digest %q: give it as sha256:<hex>", ref, f.BaseImages[ref])
		}
		def.ResolvedDependencies = append(def.ResolvedDependencies, &intoto.ResourceDescriptor{Name: ref, Digest: map[string]string{alg: hex}})
	}
	return def, nil
}

// runDetails names the builder and, when known, the run and its times.
func runDetails(f Facts, repo string) *slsa.RunDetails {
	run := &slsa.RunDetails{Builder: &slsa.Builder{Id: f.BuilderID}}
	md := &slsa.BuildMetadata{}
	if f.RunID != "" {
		inv := repo + "/actions/runs/" + f.RunID
		if f.RunAttempt != "" {
			inv += "/attempts/" + f.RunAttempt
		}
		md.InvocationId = inv
	}
	if !f.Started.IsZero() {
		md.StartedOn = timestamppb.New(f.Started.UTC())
	}
	if !f.Finished.IsZero() {
		md.FinishedOn = timestamppb.New(f.Finished.UTC())
	}
	if md.InvocationId != "" || md.StartedOn != nil || md.FinishedOn != nil {
		run.Metadata = md
	}
	return run
}

// CommitOf returns the source commit a SLSA v1 provenance predicate names: the gitCommit digest of
// its resolved dependencies. It fails when the predicate names no commit, or more than one.
func CommitOf(predicate []byte) (string, error) {
	p, err := Parse(predicate)
	if err != nil {
		return "", err
	}
	var commits []string
	for _, rd := range p.GetBuildDefinition().GetResolvedDependencies() {
		if c, ok := rd.GetDigest()["gitCommit"]; ok {
			c = strings.ToLower(c)
			dup := false
			for _, seen := range commits {
				dup = dup || seen == c
			}
			if !dup {
				commits = append(commits, c)
			}
		}
	}
	switch len(commits) {
	case 0:
		return "", fmt.Errorf("provenance names no source commit: no resolvedDependencies entry has a gitCommit digest")
	case 1:
		if err := checkCommit(commits[0]); err != nil {
			return "", fmt.Errorf("provenance source commit: %w", err)
		}
		return commits[0], nil
	default:
		return "", fmt.Errorf("provenance names %d source commits (%s): cannot tell which one was built", len(commits), strings.Join(commits, ", "))
	}
}

// Parse decodes and validates a SLSA v1 provenance predicate (unknown fields are ignored, so
// predicates written by other builders parse too).
func Parse(predicate []byte) (*slsa.Provenance, error) {
	p := &slsa.Provenance{}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(predicate, p); err != nil {
		return nil, fmt.Errorf("provenance predicate is not SLSA v1 JSON: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("provenance predicate is not valid SLSA v1: %w", err)
	}
	return p, nil
}

func repoURL(s string) (string, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/")
	s = strings.TrimSuffix(s, ".git")
	if s == "" {
		return "", fmt.Errorf("provenance facts: SourceRepo is empty: give https://github.com/OWNER/REPO")
	}
	if !strings.Contains(s, "://") {
		if strings.Count(s, "/") != 1 || strings.HasPrefix(s, "/") || strings.HasSuffix(s, "/") {
			return "", fmt.Errorf("provenance facts: SourceRepo %q is neither a URL nor OWNER/REPO: give https://github.com/OWNER/REPO", s)
		}
		return "https://github.com/" + s, nil
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("provenance facts: SourceRepo %q is not a repository URL: give https://github.com/OWNER/REPO", s)
	}
	return s, nil
}

func checkCommit(c string) error {
	if len(c) != 40 && len(c) != 64 {
		return fmt.Errorf("commit %q is not a full git commit id: give all 40 (or 64) hex digits, not a short id or a ref", c)
	}
	for _, r := range c {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
			return fmt.Errorf("commit %q is not hex: give the full commit id", c)
		}
	}
	return nil
}
