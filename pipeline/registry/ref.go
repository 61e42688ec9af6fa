package registry

import (
	"regexp"
	"strings"
	"unicode"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// LatestTag is the tag promote moves and publish never writes.
const LatestTag = "latest"

// repoPath is the OCI distribution grammar for a repository path (after the registry host).
var repoPath = regexp.MustCompile(`^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$`)

// maxRepositoryLength is the longest repository path (without the registry) registries accept.
const maxRepositoryLength = 255

// ParseRepository validates an image repository name with an explicit registry and no tag or
// digest ("ghcr.io/acme/app", "127.0.0.1:5000/app") and returns it in canonical form. Its
// errors say what to type instead.
func ParseRepository(s string) (string, error) {
	switch {
	case s == "":
		return "", fault.BadInputf("repository is empty: give registry/owner/name, for example ghcr.io/acme/app")
	case strings.IndexFunc(s, unicode.IsSpace) >= 0:
		return "", fault.BadInputf("repository %q contains whitespace: give registry/owner/name, for example ghcr.io/acme/app", s)
	case strings.Contains(s, "://"):
		return "", fault.BadInputf("repository %q has a URL scheme: drop it and write %s", s, s[strings.Index(s, "://")+3:])
	case strings.Contains(s, "@"):
		return "", fault.BadInputf("repository %q has a digest: give the repository alone, for example %s", s, s[:strings.Index(s, "@")])
	}
	host, path, ok := strings.Cut(s, "/")
	if !ok || path == "" || !(host == "localhost" || strings.ContainsAny(host, ".:")) {
		return "", fault.BadInputf("repository %q does not name its registry: write it in full, for example ghcr.io/%s", s, strings.TrimPrefix(s, "/"))
	}
	if last := path[strings.LastIndex(path, "/")+1:]; strings.Contains(last, ":") {
		return "", fault.BadInputf("repository %q has a tag: give the repository alone (%s/%s); shipgate chooses the tags", s, host, path[:strings.LastIndex(path, ":")])
	}
	if strings.ToLower(path) != path {
		return "", fault.BadInputf("repository %q has upper-case letters, which registries refuse: write %s/%s", s, host, strings.ToLower(path))
	}
	if !repoPath.MatchString(path) {
		return "", fault.BadInputf("repository %q: %q is not a valid repository path: use lower-case letters and digits, joined by '.', '_', '__' or '-' inside a component and '/' between components (for example ghcr.io/acme/my-app)", s, path)
	}
	if len(path) > maxRepositoryLength {
		return "", fault.BadInputf("repository %q is %d characters long; registries accept at most %d after the registry host", s, len(path), maxRepositoryLength)
	}
	repo, err := name.NewRepository(s, name.StrictValidation)
	if err != nil {
		return "", fault.BadInputf("repository %q is not valid: %v (write it like ghcr.io/acme/app)", s, err)
	}
	return repo.Name(), nil
}

// validateTag checks an image tag: 1 to 128 characters, a letter, digit or '_' first, then
// letters, digits, '_', '.' and '-'.
func validateTag(tag string) error {
	if tag == "" {
		return fault.BadInputf("tag is empty: give a tag such as 1.2.3")
	}
	if len(tag) > version.MaxTagLength {
		return fault.BadInputf("tag %.20q… is %d characters long; registries accept at most %d", tag, len(tag), version.MaxTagLength)
	}
	for i, r := range tag {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_'
		if i > 0 {
			ok = ok || r == '.' || r == '-'
		}
		if !ok {
			if i == 0 {
				return fault.BadInputf("tag %q starts with %q: a tag starts with a letter, digit or '_'", tag, r)
			}
			return fault.BadInputf("tag %q contains %q: only letters, digits, '_', '.' and '-' are allowed", tag, r)
		}
	}
	return nil
}

// tagRef builds repo:tag after validating the tag.
func tagRef(repo name.Repository, tag string) (name.Tag, error) {
	if err := validateTag(tag); err != nil {
		return name.Tag{}, err
	}
	return repo.Tag(tag), nil
}

// parseDigest accepts a manifest digest, alone ("sha256:<64 hex>") or as a reference
// ("ghcr.io/acme/app@sha256:…"; a tag before '@' is ignored), and returns the repository named
// (empty when the digest came alone) and the digest.
func parseDigest(s string) (repository string, digest v1.Hash, err error) {
	repoPart, dig, hasRepo := strings.Cut(s, "@")
	if !hasRepo {
		dig, repoPart = s, ""
	}
	h, err := v1.NewHash(dig)
	if err != nil {
		return "", v1.Hash{}, fault.BadInputf("digest %q is not a manifest digest: give sha256:<64 hex digits> or repository@sha256:<64 hex digits> (%v)", s, err)
	}
	if h.Algorithm != "sha256" {
		return "", v1.Hash{}, fault.BadInputf("digest %q uses %s: registries address manifests by sha256:<64 hex digits>", s, h.Algorithm)
	}
	if !hasRepo {
		return "", h, nil
	}
	if i := strings.LastIndex(repoPart, "/"); i >= 0 {
		if j := strings.LastIndex(repoPart[i:], ":"); j >= 0 {
			repoPart = repoPart[:i+j]
		}
	}
	canon, err := ParseRepository(repoPart)
	if err != nil {
		return "", v1.Hash{}, fault.BadInputf("digest reference %q: %w", s, err)
	}
	return canon, h, nil
}
