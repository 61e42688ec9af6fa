package changelog

import (
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// Finalize dates the section of v in the file's own style (see style): a heading with TBD or no
// date is written again with today's UTC date (and, in a file with inline links, its link); with
// no section for v, the Unreleased section becomes v's under a new, empty Unreleased heading.
// Reference links are updated when the file keeps them. A section that already has a date is
// never rewritten, nor are its links: a re-run after midnight gives the same file byte for byte;
// only an explicit, different Options.Date is an error. The result is checked by the TBD rule.
func Finalize(content []byte, v version.Version, o Options) (Result, error) {
	d, err := parse(content)
	if err != nil {
		return Result{}, err
	}
	date, want := releaseDate(o)
	refs := d.usesRefLinks(d.style())
	sec := d.find(v)
	dated := true
	switch {
	case sec == nil:
		u := d.unreleased()
		if u == nil {
			return Result{}, fault.BadInputf("CHANGELOG has no [%s] section and no [Unreleased] section: add `## [%s] - TBD` with this release's notes", v, v)
		}
		d.openFromUnreleased(u, v, date)
	case sec.h.date == "" || Fold(sec.h.date) == Placeholder:
		d.dateSection(sec, v, date)
	case validDate(sec.h.date):
		dated = false
		if want != "" && sec.h.date != want {
			return Result{}, fault.BadInputf("CHANGELOG line %d: [%s] is already dated %s, not %s: fix the date by hand or drop the explicit date", sec.start+1, v, sec.h.date, want)
		}
	default:
		return Result{}, fault.BadInputf("CHANGELOG line %d: [%s] has date %q, which is neither TBD nor YYYY-MM-DD: write `## [%s] - TBD`", sec.start+1, v, sec.h.date, v)
	}
	if dated {
		d.bumpUnreleasedHeading(v)
		if refs {
			d.updateLinks(v, o.RepoURL)
		}
	}
	sec = d.find(v)
	body, _ := d.body(sec)
	out := d.bytes()
	res := Result{Content: out, Notes: strings.Join(body, "\n"), Date: sec.h.date, Changed: string(out) != string(content), Line: sec.start + 1}
	return res, d.check(sec)
}

// releaseDate is the date to write (Options.Date, or today in UTC) and the one insisted on.
func releaseDate(o Options) (date, want string) {
	now := o.Now
	if now.IsZero() {
		now = time.Now()
	}
	date = now.UTC().Format(isoDate)
	if !o.Date.IsZero() {
		want = o.Date.UTC().Format(isoDate)
		date = want
	}
	return date, want
}

// dateSection writes v's undated heading again, dated, in the file's style. Its level, an inline
// link already there and what followed the date are kept; in a file with no released heading,
// so does its form.
func (d *doc) dateSection(sec *section, v version.Version, date string) {
	st := d.style()
	if len(d.released()) == 0 {
		st = styleOf(sec.h)
	}
	h := st.heading(v, sec.h.level, date)
	h.suffix = sec.h.suffix
	h.url = sec.h.url
	if h.url == "" {
		h.url = d.inlineURL(st, v)
	}
	d.lines[sec.start] = h.String()
	d.reindex()
}

// bumpUnreleasedHeading moves an inline link on the Unreleased heading (`## [Unreleased](…/compare/v1.0.0...HEAD)`)
// to compare from v, when v is the newest version.
func (d *doc) bumpUnreleasedHeading(v version.Version) {
	u := d.unreleased()
	if u == nil || u.h.url == "" || !d.isNewest(v) {
		return
	}
	url, ok := bumpURL(u.h.url, v)
	if !ok {
		return
	}
	d.lines[u.start] = strings.Replace(d.lines[u.start], "("+u.h.url+")", "("+url+")", 1)
	d.reindex()
}
