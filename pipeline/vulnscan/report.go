package vulnscan

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// Report is what grype found in one image: the parts of its JSON report (`grype -o json`) that
// the verdict needs.
type Report struct {
	// Tool is the scanner and version that wrote the report ("grype 0.116.1"), "" when not given.
	Tool string
	// DBBuilt is when grype's vulnerability database was built (RFC 3339), "" when not given.
	DBBuilt string
	// Matches are grype's matches (not its ignoredMatches: grype's own ignore rules are not ours).
	Matches []Match
}

// Match is one vulnerability grype matched to one package.
type Match struct {
	// ID is the vulnerability's id (CVE-2024-1234, GHSA-…, GO-…).
	ID string
	// Aliases are the ids of the related vulnerabilities (the CVE of a GHSA).
	Aliases []string
	// Severity is the rank of SeverityText (Unknown when grype gives none or one it does not know).
	Severity     Severity
	SeverityText string
	// FixedIn are the versions that fix it: grype's suggested version first, then the others.
	FixedIn []string
	// FixState is grype's fix state: fixed, not-fixed, wont-fix, unknown.
	FixState string
	Package  Package
}

// Package is the artifact a match is about.
type Package struct {
	Name    string
	Version string
	// Type is syft's package type (deb, apk, go-module, npm, java-archive …).
	Type string
	// Locations are the paths in the image where the package was found.
	Locations []string
}

// The JSON model: only the fields read; unknown ones are ignored. Field names are grype's
// (grype/presenter/models: Document, Match, Vulnerability, Package; syft's file.Location).
type (
	grypeDocument struct {
		Matches    *[]grypeMatch    `json:"matches"`
		Descriptor *grypeDescriptor `json:"descriptor"`
	}
	grypeDescriptor struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		DB      *struct {
			Status *struct {
				Built string `json:"built"`
			} `json:"status"`
		} `json:"db"`
	}
	grypeMatch struct {
		Vulnerability *grypeVulnerability `json:"vulnerability"`
		Related       []struct {
			ID string `json:"id"`
		} `json:"relatedVulnerabilities"`
		MatchDetails []struct {
			Fix *struct {
				SuggestedVersion string `json:"suggestedVersion"`
			} `json:"fix"`
		} `json:"matchDetails"`
		Artifact *grypeArtifact `json:"artifact"`
	}
	grypeVulnerability struct {
		ID       string `json:"id"`
		Severity string `json:"severity"`
		Fix      struct {
			Versions []string `json:"versions"`
			State    string   `json:"state"`
		} `json:"fix"`
	}
	grypeArtifact struct {
		Name      string `json:"name"`
		Version   string `json:"version"`
		Type      string `json:"type"`
		Locations []struct {
			Path string `json:"path"`
		} `json:"locations"`
	}
)

// ParseReport reads grype's JSON report. Fields it does not use are ignored; a document that is
// not a grype report (not JSON, no "matches" array, a match without a vulnerability id or a
// package name) is fault.Unreadable, naming what is wrong: the scanner answered, but not with a
// report this package can judge.
func ParseReport(b []byte) (Report, error) {
	var doc grypeDocument
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&doc); err != nil {
		return Report{}, fault.Unreadablef("not grype's JSON report (grype -o json): %s", jsonProblem(err))
	}
	if dec.More() {
		return Report{}, fault.Unreadablef("not grype's JSON report (grype -o json): text after the JSON document")
	}
	if doc.Matches == nil {
		return Report{}, fault.Unreadablef(`not grype's JSON report (grype -o json): no "matches" array`)
	}
	var r Report
	if d := doc.Descriptor; d != nil {
		r.Tool = strings.TrimSpace(d.Name + " " + d.Version)
		if d.DB != nil && d.DB.Status != nil {
			r.DBBuilt = d.DB.Status.Built
		}
	}
	r.Matches = make([]Match, 0, len(*doc.Matches))
	for i, gm := range *doc.Matches {
		m, err := gm.match()
		if err != nil {
			return Report{}, fault.Unreadablef("grype's JSON report: matches[%d]: %s", i, err)
		}
		r.Matches = append(r.Matches, m)
	}
	return r, nil
}

// match checks one grype match and turns it into a Match.
func (gm grypeMatch) match() (Match, error) {
	v, a := gm.Vulnerability, gm.Artifact
	switch {
	case v == nil:
		return Match{}, errors.New(`no "vulnerability"`)
	case strings.TrimSpace(v.ID) == "":
		return Match{}, errors.New(`no "vulnerability.id"`)
	case a == nil:
		return Match{}, fmt.Errorf(`%s: no "artifact"`, clip(v.ID, 60))
	case strings.TrimSpace(a.Name) == "":
		return Match{}, fmt.Errorf(`%s: no "artifact.name"`, clip(v.ID, 60))
	}
	m := Match{ID: printable(v.ID), Severity: severityOf(v.Severity), SeverityText: printable(v.Severity),
		FixState: printable(v.Fix.State), Package: Package{Name: printable(a.Name), Version: printable(a.Version), Type: printable(a.Type)}}
	for _, r := range gm.Related {
		if id := printable(r.ID); id != "" && !strings.EqualFold(id, m.ID) {
			m.Aliases = appendNew(m.Aliases, id)
		}
	}
	for _, d := range gm.MatchDetails {
		if d.Fix != nil && d.Fix.SuggestedVersion != "" {
			m.FixedIn = appendNew(m.FixedIn, printable(d.Fix.SuggestedVersion))
		}
	}
	for _, fv := range v.Fix.Versions {
		if fv != "" {
			m.FixedIn = appendNew(m.FixedIn, printable(fv))
		}
	}
	for _, l := range a.Locations {
		if l.Path != "" {
			m.Package.Locations = appendNew(m.Package.Locations, printable(l.Path))
		}
	}
	return m, nil
}

// maxField bounds each string taken from a report (see printable).
const maxField = 200

// printable is a string of the report as the verdict may print it: trimmed, each character that is
// not printable (a newline that would start a line of its own in a refusal) shown as '?', and at
// most maxField bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if unicode.IsPrint(r) {
			return r
		}
		return '?'
	}, strings.TrimSpace(s))
	return clip(s, maxField)
}

// appendNew appends s unless list holds it already.
func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// jsonProblem says where a JSON document goes wrong, briefly.
func jsonProblem(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())
	case errors.As(err, &te):
		where := "the document"
		if te.Field != "" {
			where = fmt.Sprintf("%q", clip(te.Field, 80))
		}
		return fmt.Sprintf("%s is a JSON %s, not what grype writes there", where, te.Value)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or cut short"
	}
	return clip(err.Error(), 200)
}
