package version

import (
	"fmt"
	"sort"
	"strings"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Platform is an OS/architecture/variant triple as OCI image indexes describe it.
type Platform struct {
	OS           string
	Architecture string
	Variant      string
}

// DefaultPlatforms are what publish builds when nothing else is asked for.
var DefaultPlatforms = []Platform{{OS: "linux", Architecture: "amd64"}, {OS: "linux", Architecture: "arm64"}}

// knownArchSuffixes are the per-arch tag suffixes of the platforms shipgate builds; a pre-release
// may not read like one of them.
var knownArchSuffixes = []string{"amd64", "arm64", "arm-v7", "arm-v6", "arm-v5", "arm", "386", "ppc64le", "s390x", "riscv64", "mips64le", "loong64", "arm64-v8"}

func longestArchSuffix() string {
	l := ""
	for _, s := range knownArchSuffixes {
		if len(s) > len(l) {
			l = s
		}
	}
	return l
}

var knownArch = map[string]bool{
	"amd64": true, "arm64": true, "arm": true, "386": true, "ppc64le": true, "s390x": true,
	"riscv64": true, "mips64le": true, "loong64": true,
}

// ParsePlatform accepts "linux/amd64", "linux/arm64", "linux/arm64/v8", "linux/arm/v7". Its errors
// are fault.BadInput and repeat at most a short prefix of an overlong input.
func ParsePlatform(s string) (Platform, error) {
	p, err := parsePlatform(s)
	return p, fault.AsBadInput(err)
}

// maxPlatformLength is far more than the longest platform (windows/mips64le/v8).
const maxPlatformLength = 64

func parsePlatform(s string) (Platform, error) {
	if len(s) > maxPlatformLength {
		return Platform{}, fmt.Errorf("platform %q… is too long (%d characters): write for example linux/amd64", cut(s, 24), len(s))
	}
	parts := strings.Split(strings.TrimSpace(s), "/")
	if len(parts) < 2 || len(parts) > 3 || parts[0] == "" || parts[1] == "" {
		return Platform{}, fmt.Errorf("platform %q is not os/arch[/variant]: write for example linux/amd64 or linux/arm/v7", s)
	}
	p := Platform{OS: parts[0], Architecture: parts[1]}
	if len(parts) == 3 {
		p.Variant = parts[2]
	}
	if p.OS != "linux" && p.OS != "windows" {
		return Platform{}, fmt.Errorf("platform %q: OS %q is not supported: use linux (or windows)", s, p.OS)
	}
	if !knownArch[p.Architecture] {
		return Platform{}, fmt.Errorf("platform %q: architecture %q is unknown: use one of amd64, arm64, arm/v7, 386, ppc64le, s390x, riscv64", s, p.Architecture)
	}
	if p.Architecture == "arm" && p.Variant == "" {
		return Platform{}, fmt.Errorf("platform %q: arm needs a variant: write linux/arm/v7 or linux/arm/v6", s)
	}
	if p.Variant != "" && !(p.Architecture == "arm" && (p.Variant == "v5" || p.Variant == "v6" || p.Variant == "v7") || p.Architecture == "arm64" && p.Variant == "v8") {
		return Platform{}, fmt.Errorf("platform %q: variant %q does not fit %s", s, p.Variant, p.Architecture)
	}
	return p, nil
}

// ParsePlatforms parses a comma-separated or repeated list, refusing duplicates and an empty list.
func ParsePlatforms(items []string) ([]Platform, error) {
	var out []Platform
	seen := map[string]bool{}
	for _, item := range items {
		for _, s := range strings.Split(item, ",") {
			if strings.TrimSpace(s) == "" {
				continue
			}
			p, err := ParsePlatform(s)
			if err != nil {
				return nil, err
			}
			if seen[p.Suffix()] {
				return nil, fault.BadInputf("platform %s is listed twice", p)
			}
			seen[p.Suffix()] = true
			out = append(out, p)
		}
	}
	if len(out) == 0 {
		return nil, fault.BadInputf("no platforms given: list at least one, for example linux/amd64,linux/arm64")
	}
	return out, nil
}

// String is os/arch[/variant].
func (p Platform) String() string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// Suffix is the per-arch tag suffix: amd64, arm64, arm-v7 (windows images get a windows- prefix).
func (p Platform) Suffix() string {
	s := p.Architecture
	if p.Variant != "" && !(p.Architecture == "arm64" && p.Variant == "v8") {
		s += "-" + p.Variant
	}
	if p.OS != "linux" {
		s = p.OS + "-" + s
	}
	return s
}

// Equal compares two platforms, treating arm64 and arm64/v8 as the same.
func (p Platform) Equal(o Platform) bool {
	norm := func(x Platform) Platform {
		if x.Architecture == "arm64" && x.Variant == "v8" {
			x.Variant = ""
		}
		return x
	}
	return norm(p) == norm(o)
}

// SortPlatforms orders platforms by their string form, for stable output.
func SortPlatforms(ps []Platform) {
	sort.Slice(ps, func(i, j int) bool { return ps[i].String() < ps[j].String() })
}
