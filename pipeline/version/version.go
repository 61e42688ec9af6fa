// Package version is the one place that knows what a shipgate release version is and which names
// derive from it: the git tag vX.Y.Z, the image tags X.Y.Z and X.Y.Z-<arch>, the floating tags
// X.Y and X, and the release branch release/X.Y.Z. Ordering is semver ordering.
package version

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/Masterminds/semver/v3"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// MaxTagLength is the longest tag an OCI registry accepts.
const MaxTagLength = 128

// Version is a validated release version: X.Y.Z with an optional pre-release (1.2.3-rc.1).
// The zero value is not a valid version; obtain one with Parse.
type Version struct {
	sv *semver.Version
	// prefix is the git tag prefix ("v" unless WithTagPrefix said otherwise).
	prefix string
}

// MaxLength is the longest version Parse reads: its per-arch tag must fit into MaxTagLength.
const MaxLength = MaxTagLength

// Parse accepts "1.2.3", "1.2.3-rc.1" and the same with a leading "v", and rejects everything else
// with a reason that says what to type instead. Its errors are fault.BadInput (a version is what
// the user typed for --version) and never repeat more than MaxLength characters of the input.
func Parse(s string) (Version, error) {
	v, err := parse(s)
	return v, fault.AsBadInput(err)
}

func parse(s string) (Version, error) {
	in := s
	if len(s) > MaxLength {
		return Version{}, fmt.Errorf("version %q… is too long (%d characters, at most %d): give X.Y.Z, for example 1.2.3", cut(s, 24), len(s), MaxLength)
	}
	if s == "" {
		return Version{}, fmt.Errorf("version is empty: give X.Y.Z, for example 1.2.3")
	}
	if strings.IndexFunc(s, unicode.IsSpace) >= 0 {
		return Version{}, fmt.Errorf("version %q contains whitespace: give X.Y.Z, for example 1.2.3", in)
	}
	if strings.HasPrefix(s, "v") || strings.HasPrefix(s, "V") {
		s = s[1:]
	}
	if strings.Contains(s, "+") {
		return Version{}, fmt.Errorf("version %q has build metadata: '+' is not allowed in image tags; drop the +%s part", in, s[strings.Index(s, "+")+1:])
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '.' || r == '-') {
			return Version{}, fmt.Errorf("version %q contains %q: only digits, letters, '.' and '-' are allowed (X.Y.Z or X.Y.Z-rc.1)", in, r)
		}
	}
	core, pre, _ := strings.Cut(s, "-")
	parts := strings.Split(core, ".")
	if len(parts) != 3 {
		return Version{}, fmt.Errorf("version %q must have exactly three numbers X.Y.Z (got %d): for example %s", in, len(parts), suggest(parts))
	}
	for _, p := range parts {
		if p == "" {
			return Version{}, fmt.Errorf("version %q has an empty number: give X.Y.Z, for example 1.2.3", in)
		}
		for _, r := range p {
			if r < '0' || r > '9' {
				return Version{}, fmt.Errorf("version %q: %q is not a number: give X.Y.Z, for example 1.2.3", in, p)
			}
		}
		if len(p) > 1 && p[0] == '0' {
			return Version{}, fmt.Errorf("version %q: %q has a leading zero, which semver forbids: write %s", in, p, strings.TrimLeft(p, "0"))
		}
	}
	if strings.Contains(s, "-") {
		if pre == "" {
			return Version{}, fmt.Errorf("version %q ends in '-' with no pre-release: write X.Y.Z or X.Y.Z-rc.1", in)
		}
		for _, id := range strings.Split(pre, ".") {
			if id == "" {
				return Version{}, fmt.Errorf("version %q has an empty pre-release identifier: write for example %s-rc.1", in, core)
			}
			if isNumeric(id) && len(id) > 1 && id[0] == '0' {
				return Version{}, fmt.Errorf("version %q: pre-release number %q has a leading zero, which semver forbids", in, id)
			}
		}
		if suffix, ok := collidesWithArch(pre); ok {
			return Version{}, fmt.Errorf("version %q: pre-release %q collides with the per-arch tag suffix -%s (tag %s-%s would be ambiguous): choose another pre-release such as rc.1", in, pre, suffix, core, suffix)
		}
	}
	sv, err := semver.StrictNewVersion(s)
	if err != nil {
		return Version{}, fmt.Errorf("version %q is not semver X.Y.Z[-pre]: %v", in, err)
	}
	v := Version{sv: sv, prefix: DefaultTagPrefix}
	// The longest tag we derive must fit into an OCI tag.
	if n := len(v.String()) + 1 + len(longestArchSuffix()); n > MaxTagLength {
		return Version{}, fmt.Errorf("version %q is too long: its per-arch tag would be %d characters, registries accept %d", in, n, MaxTagLength)
	}
	return v, nil
}

// MustParse is Parse for constants in tests and examples; it panics on an invalid version.
func MustParse(s string) Version {
	v, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return v
}

// cut is at most n bytes of s, ending on a whole UTF-8 character.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func suggest(parts []string) string {
	for len(parts) < 3 {
		parts = append(parts, "0")
	}
	return strings.Join(parts[:3], ".")
}

func isNumeric(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

// collidesWithArch reports whether a pre-release would read like (or end like) a per-arch tag
// suffix: "amd64", "arm-v7", "rc.1-arm64" ...
func collidesWithArch(pre string) (string, bool) {
	l := strings.ToLower(pre)
	for _, s := range knownArchSuffixes {
		if l == s || strings.HasSuffix(l, "-"+s) || strings.HasSuffix(l, "."+s) {
			return s, true
		}
	}
	return "", false
}

// IsZero reports whether v is the zero Version (not parsed).
func (v Version) IsZero() bool { return v.sv == nil }

// String is the canonical form without "v": 1.2.3 or 1.2.3-rc.1.
func (v Version) String() string {
	if v.sv == nil {
		return ""
	}
	return v.sv.String()
}

// Major is the first number of X.Y.Z.
func (v Version) Major() uint64 { return v.sv.Major() }

// Minor is the second number of X.Y.Z.
func (v Version) Minor() uint64 { return v.sv.Minor() }

// Patch is the third number of X.Y.Z.
func (v Version) Patch() uint64 { return v.sv.Patch() }

// Prerelease is the part after '-', empty for a release.
func (v Version) Prerelease() string { return v.sv.Prerelease() }

// IsPrerelease reports whether v has a pre-release part (1.2.3-rc.1).
func (v Version) IsPrerelease() bool { return v.sv.Prerelease() != "" }

// GitTag is the git tag and GitHub release tag: the tag prefix, then the version (v1.2.3, or
// 1.2.3 for a project with bare tags).
func (v Version) GitTag() string { return v.prefix + v.String() }

// DefaultTagPrefix is the git tag prefix unless a project sets its own (--tag-prefix).
const DefaultTagPrefix = "v"

// WithTagPrefix is v with git tags spelt prefix+X.Y.Z ("v", or "" for bare tags). The prefix is
// checked by the settings (config) before it gets here.
func (v Version) WithTagPrefix(prefix string) Version {
	v.prefix = prefix
	return v
}

// TagPrefix is the git tag prefix of v.
func (v Version) TagPrefix() string { return v.prefix }

// ImageTag is the multi-arch index tag: 1.2.3.
func (v Version) ImageTag() string { return v.String() }

// ArchTag is the per-platform tag: 1.2.3-amd64, 1.2.3-arm-v7.
func (v Version) ArchTag(p Platform) string { return v.String() + "-" + p.Suffix() }

// Branch is the release branch: release/1.2.3. A release candidate is published from the branch
// of its final version: 1.2.3-rc.4 from release/1.2.3 (another pre-release, 1.2.3-beta.1, is a
// release of its own, on release/1.2.3-beta.1).
func (v Version) Branch() string {
	if v.IsCandidate() {
		return "release/" + v.Final().String()
	}
	return "release/" + v.String()
}

// LineTags are the floating tags of v's line, "X.Y" then "X". Pre-releases have none.
func (v Version) LineTags() []string {
	if v.IsPrerelease() {
		return nil
	}
	return []string{fmt.Sprintf("%d.%d", v.Major(), v.Minor()), fmt.Sprintf("%d", v.Major())}
}

// InLine reports whether v belongs to the floating line named by tag ("X.Y" or "X").
func (v Version) InLine(tag string) bool {
	return slices.Contains(v.LineTags(), tag)
}

// Compare is semver ordering: -1, 0 or +1.
func (v Version) Compare(o Version) int { return v.sv.Compare(o.sv) }

// Less reports v < o in semver order.
func (v Version) Less(o Version) bool { return v.Compare(o) < 0 }

// Equal reports v == o in semver order.
func (v Version) Equal(o Version) bool { return v.Compare(o) == 0 }

// MarshalText writes the canonical form.
func (v Version) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses with Parse.
func (v *Version) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// Highest returns the highest of vs that is not a pre-release, and false if there is none.
func Highest(vs []Version) (Version, bool) {
	var best Version
	for _, v := range vs {
		if v.IsZero() || v.IsPrerelease() {
			continue
		}
		if best.IsZero() || best.Less(v) {
			best = v
		}
	}
	return best, !best.IsZero()
}
