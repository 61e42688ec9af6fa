package githubserver

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/shipgate/shipgate/pipeline/sigbundle"
)

type attestation struct {
	id            int64
	bundle        json.RawMessage
	subjects      []string // "sha256:hex"
	predicateType string
	created       time.Time
}

// Attestation is a stored attestation bundle.
type Attestation struct {
	ID            int64
	Bundle        []byte
	Subjects      []string
	PredicateType string
}

// Attestations returns the attestations stored in a repository, oldest first.
func (s *Server) Attestations(full string) []Attestation {
	return each(s, full, func(rp *repo) []*attestation { return rp.attestations }, func(_ *repo, a *attestation) Attestation {
		return Attestation{ID: a.id, Bundle: slices.Clone(a.bundle), Subjects: slices.Clone(a.subjects), PredicateType: a.predicateType}
	})
}

var subjectDigestRE = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)

// bundleSubjects reads what a sigstore bundle attests: for a DSSE envelope, the in-toto
// statement's subjects (sha256 digests) and predicate type; for a message signature, the signed
// message digest. Like GitHub, it wants a bundle media type.
func bundleSubjects(raw []byte) (subjects []string, predicateType string, err error) {
	c, err := sigbundle.Read(raw)
	if err != nil {
		return nil, "", err
	}
	if !strings.HasPrefix(c.MediaType, sigbundle.MediaTypePrefix) {
		return nil, "", errors.New("bundle is not a sigstore bundle (no bundle media type)")
	}
	return c.Subjects, c.PredicateType, nil
}

// storeAttestation answers POST /attestations {"bundle": …}: 201 {"id": N}, 422 when the bundle
// is missing or does not name a subject.
func (s *Server) storeAttestation(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	var in struct {
		Bundle json.RawMessage `json:"bundle"`
	}
	if !decode(w, r, &in) {
		return
	}
	if len(in.Bundle) == 0 || string(in.Bundle) == "null" {
		validation(w, "Attestation", "bundle", "missing_field", "")
		return
	}
	subjects, pt, err := bundleSubjects(in.Bundle)
	if err != nil {
		unprocessable(w, "Invalid bundle: "+err.Error())
		return
	}
	var compact bytes.Buffer
	_ = json.Compact(&compact, in.Bundle)
	a := &attestation{id: s.id(), bundle: compact.Bytes(), subjects: subjects, predicateType: pt, created: s.clk.Now()}
	rp.attestations = append(rp.attestations, a)
	writeJSON(w, http.StatusCreated, map[string]any{"id": a.id})
}

// predicateMatches applies the predicate_type filter: the short names GitHub knows, or the full
// type.
func predicateMatches(filter, pt string) bool {
	short := map[string]string{"provenance": "https://slsa.dev/provenance/", "sbom": "https://spdx.dev/Document", "release": "https://in-toto.io/attestation/release/"}
	if p, ok := short[filter]; ok {
		return strings.HasPrefix(pt, p)
	}
	return filter == "" || filter == pt
}

// listAttestations answers GET /attestations/{subject_digest}: the bundles that name the digest,
// oldest first, a page at a time (per_page ≤ 100) with an "after" cursor in the Link header; 404
// when there are none.
func (s *Server) listAttestations(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	d := strings.ToLower(r.PathValue("digest"))
	q := r.URL.Query()
	var match []*attestation
	for _, a := range rp.attestations {
		if slices.Contains(a.subjects, d) && predicateMatches(q.Get("predicate_type"), a.predicateType) {
			match = append(match, a)
		}
	}
	if !subjectDigestRE.MatchString(d) || len(match) == 0 {
		notFound(w)
		return
	}
	if after, err := strconv.ParseInt(q.Get("after"), 10, 64); err == nil {
		match = slices.DeleteFunc(match, func(a *attestation) bool { return a.id <= after })
	}
	per := perPage(s, q)
	if len(match) > per {
		next := selfURL(r, "after", strconv.FormatInt(match[per-1].id, 10))
		w.Header().Set("Link", "<"+next+`>; rel="next"`)
		match = match[:per]
	}
	out := make([]any, 0, len(match))
	for _, a := range match {
		out = append(out, map[string]any{"id": a.id, "bundle": a.bundle, "repository_id": rp.id,
			"bundle_url": apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/attestations/" + d + "/bundles/" + strconv.FormatInt(a.id, 10)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"attestations": out})
}
