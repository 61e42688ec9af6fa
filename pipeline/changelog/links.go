package changelog

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/version"
)

var repoFromLinkRE = regexp.MustCompile(`^(https?://[^/\s]+(?:/[^/\s]+)*?/[^/\s]+/[^/\s]+)/(?:compare|releases/tag|tree|commits?)/`)

// repoURL returns the repository URL given, or the one the existing links use.
func (d *doc) repoURL(given string) string {
	if given != "" {
		return strings.TrimRight(given, "/")
	}
	for _, l := range d.linkDefs {
		if m := repoFromLinkRE.FindStringSubmatch(l.url); m != nil {
			return m[1]
		}
	}
	return ""
}

// updateLinks sets `[X.Y.Z]: REPO/compare/vPREV...vX.Y.Z` (or `REPO/releases/tag/vX.Y.Z` for a
// first release) and, unless v is older than another version in the file (a hotfix),
// `[Unreleased]: REPO/compare/vX.Y.Z...HEAD`.
func (d *doc) updateLinks(v version.Version, given string) {
	repo := d.repoURL(given)
	if repo == "" {
		return
	}
	var prev version.Version
	newest := true
	for _, s := range d.sections {
		o := s.version
		if o.IsZero() || o.Equal(v) {
			continue
		}
		if v.Less(o) {
			newest = false
			continue
		}
		if o.IsPrerelease() && !v.IsPrerelease() {
			continue
		}
		if prev.IsZero() || prev.Less(o) {
			prev = o
		}
	}
	verURL := fmt.Sprintf("%s/releases/tag/%s", repo, v.GitTag())
	if !prev.IsZero() {
		verURL = fmt.Sprintf("%s/compare/%s...%s", repo, prev.GitTag(), v.GitTag())
	}
	if newest {
		d.setLink("unreleased", "Unreleased", fmt.Sprintf("%s/compare/%s...HEAD", repo, v.GitTag()), -1)
	}
	// Keep the definitions in descending order: after [Unreleased] and every newer version.
	after := -1
	for _, l := range d.linkDefs {
		if l.label == "unreleased" && l.line > after {
			after = l.line
			continue
		}
		if o, err := version.Parse(l.label); err == nil && v.Less(o) && l.line > after {
			after = l.line
		}
	}
	d.setLink(strings.ToLower(v.String()), v.String(), verURL, after)
}

// setLink replaces the definition of label, or inserts it after line `after` (or, with -1, at the
// start of the trailing definition block, or at the end of the file).
func (d *doc) setLink(label, shown, url string, after int) {
	for _, l := range d.linkDefs {
		if l.label == label {
			m := linkDefRE.FindStringSubmatch(d.lines[l.line])
			d.lines[l.line] = fmt.Sprintf("[%s]: %s", strings.TrimSpace(m[1]), url)
			d.index()
			return
		}
	}
	line := fmt.Sprintf("[%s]: %s", shown, url)
	switch {
	case after >= 0:
		d.lines = insert(d.lines, after+1, line)
	case d.trailingDef < len(d.lines):
		d.lines = insert(d.lines, d.trailingDef, line)
	default:
		for len(d.lines) > 0 && strings.TrimSpace(d.lines[len(d.lines)-1]) == "" {
			d.lines = d.lines[:len(d.lines)-1]
		}
		d.lines = append(d.lines, "", line)
	}
	d.index()
}
