package changelog

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/shipgate/shipgate/pipeline/version"
)

var (
	repoFromLinkRE = regexp.MustCompile(`^(https?://[^/\s]+(?:/[^/\s]+)*?/[^/\s]+/[^/\s]+)/(?:compare|releases/tag|tree|commits?)/`)
	tagLinkRE      = regexp.MustCompile(`^(.*)/releases/tag/(.*)` + vMark + `(.*)$`)
)

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

// usesRefLinks reports whether the file links its versions with reference definitions at the
// bottom (`[1.2.3]: URL`): bracketed headings without inline links, and either some definition
// of a version or Unreleased already, or no released heading to say otherwise.
func (d *doc) usesRefLinks(st style) bool {
	if !st.bracket || st.inline {
		return false
	}
	for _, l := range d.linkDefs {
		if _, err := version.Parse(l.label); err == nil || l.label == "unreleased" {
			return true
		}
	}
	return len(d.released()) == 0
}

func (d *doc) def(label string) *linkDef {
	for i := range d.linkDefs {
		if d.linkDefs[i].label == strings.ToLower(label) {
			return &d.linkDefs[i]
		}
	}
	return nil
}

// refTemplate is the pattern of the definitions of the newest released versions; a first
// release's tag link means compare ranges for the next ones (the Keep a Changelog convention).
// Without one, REPO/compare/vPREV...vX.Y.Z with the repository given or linked.
func (d *doc) refTemplate(v version.Version, given string) (urlTemplate, bool) {
	for _, s := range d.released() {
		l := d.def(s.h.label)
		if l == nil || s.version.Equal(v) {
			continue
		}
		t, ok := d.templateOf(l.url, s.version)
		if !ok {
			continue
		}
		if m := tagLinkRE.FindStringSubmatch(t.text); m != nil && d.prevOf(s.version, false).IsZero() {
			t.text = m[1] + "/compare/" + m[2] + pMark + m[3] + "..." + m[2] + vMark + m[3]
		}
		return t, true
	}
	repo := d.repoURL(given)
	if repo == "" {
		return urlTemplate{}, false
	}
	return urlTemplate{text: repo + "/compare/v" + pMark + "...v" + vMark}, true
}

// updateLinks sets the definition of v (labelled as its heading) in the file's pattern and, unless v is older than another
// version in the file (a hotfix), moves `[Unreleased]` to compare from v. Only called when v's
// heading is dated by this run: a released section's links are never touched.
func (d *doc) updateLinks(v version.Version, given string) {
	t, ok := d.refTemplate(v, given)
	if !ok {
		return
	}
	if d.isNewest(v) {
		d.bumpUnreleasedDef(v, t)
	}
	url, ok := d.build(t, v)
	if !ok {
		return
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
	label := d.find(v).h.label
	d.setLink(strings.ToLower(label), label, url, after)
}

func (d *doc) isNewest(v version.Version) bool {
	for _, o := range d.versions() {
		if v.Less(o) {
			return false
		}
	}
	return true
}

// bumpUnreleasedDef points `[Unreleased]` at what comes after v: the version its URL names
// becomes v; a missing definition is derived from a compare pattern.
func (d *doc) bumpUnreleasedDef(v version.Version, t urlTemplate) {
	if l := d.def("unreleased"); l != nil {
		if url, ok := bumpURL(l.url, v); ok {
			d.setLink("unreleased", "Unreleased", url, -1)
		}
		return
	}
	if m := compareRE.FindStringSubmatch(t.text); m != nil {
		d.setLink("unreleased", "Unreleased", m[1]+"/compare/"+m[4]+v.String()+m[5]+"...HEAD", -1)
	}
}

// bumpURL replaces the one version named in an Unreleased link with v.
func bumpURL(url string, v version.Version) (string, bool) {
	vs := semverRE.FindAllString(url, -1)
	if len(vs) != 1 || vs[0] == v.String() {
		return "", false
	}
	out := replaceVersion(url, vs[0], v.String())
	return out, out != url
}

// setLink replaces the definition of label, or inserts it after line `after` (or, with -1, at the
// start of the trailing definition block, or at the end of the file).
func (d *doc) setLink(label, shown, url string, after int) {
	if l := d.def(label); l != nil {
		m := linkDefRE.FindStringSubmatch(d.lines[l.line])
		d.lines[l.line] = fmt.Sprintf("[%s]: %s", strings.TrimSpace(m[1]), url)
		d.reindex()
		return
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
	d.reindex()
}

// reindex re-reads the structure after an edit that cannot change it for the worse (a heading
// written in a supported style, a link definition).
func (d *doc) reindex() {
	if err := d.index(); err != nil {
		panic("changelog: an edit broke the structure: " + err.Error())
	}
}
