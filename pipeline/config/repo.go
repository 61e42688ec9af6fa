package config

import (
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Repo is a GitHub repository name, owner/name, as ParseRepo accepts it.
type Repo struct {
	Owner string
	Name  string
}

// String is owner/name.
func (r Repo) String() string { return r.Owner + "/" + r.Name }

var (
	// GitHub user and organisation names: letters, digits and single hyphens inside, at most 39.
	ownerRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})$`)
	// GitHub repository names: letters, digits, '.', '_' and '-', at most 100.
	nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)
)

// maxRepoLength is the longest owner/name: 39 + 1 + 100, and ".git".
const maxRepoLength = 39 + 1 + 100 + len(".git")

// ParseRepo is the one reader of owner/name (--repo, --downstream): a trailing ".git" is dropped,
// and an owner or name that is empty, "." or ".." (which would change the path of every API URL
// built from it) is refused. Errors are fault.BadInput and do not name a flag: the caller knows
// which one it read.
func ParseRepo(s string) (Repo, error) {
	owner, name, ok := strings.Cut(s, "/")
	if len(s) > maxRepoLength {
		return Repo{}, fault.BadInputf("%s is %d characters: owner/name has at most %d", show(s), len(s), maxRepoLength)
	}
	if !ok {
		return Repo{}, fault.BadInputf("%s is not owner/name: write it like acme/app", show(s))
	}
	if lower := strings.ToLower(name); strings.HasSuffix(lower, ".git") {
		name = name[:len(name)-len(".git")]
	}
	for _, part := range []string{owner, name} {
		if part == "" || part == "." || part == ".." {
			return Repo{}, fault.BadInputf("%s is not owner/name: %q cannot be an owner or a repository name; write it like acme/app", show(s), part)
		}
	}
	if !ownerRE.MatchString(owner) {
		return Repo{}, fault.BadInputf("%s is not owner/name: the owner may hold only letters, digits and '-' (at most 39)", show(s))
	}
	if !nameRE.MatchString(name) {
		return Repo{}, fault.BadInputf("%s is not owner/name: the name may hold only letters, digits, '.', '_' and '-' (at most 100)", show(s))
	}
	return Repo{Owner: owner, Name: name}, nil
}
