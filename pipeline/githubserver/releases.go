package githubserver

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"slices"
	"strconv"
	"time"
)

type release struct {
	id         int64
	tag        string
	target     string
	name       string
	body       string
	draft      bool
	prerelease bool
	created    time.Time
	published  time.Time
	author     string
	untagged   string
	assets     []*asset
}

// Release is a release as the server stores it.
type Release struct {
	ID         int64
	Tag        string
	Target     string
	Name       string
	Body       string
	Draft      bool
	Prerelease bool
	Latest     bool
	Published  time.Time
}

// ReleaseSeed describes a release created directly in the server's state (for example the
// downstream smoke test's pre-release).
type ReleaseSeed struct {
	Tag, Target, Name, Body string
	Draft, Prerelease       bool
	// MakeLatest marks a published release as the repository's latest.
	MakeLatest bool
}

// CreateRelease adds a release as if made by someone else and returns its id. A published release
// gets its tag created at Target (default: the default branch head) when missing.
func (s *Server) CreateRelease(full string, seed ReleaseSeed) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	rp := s.repoLocked(full)
	target := seed.Target
	if target == "" {
		target = rp.defaultBranch
	}
	rel := &release{id: s.id(), tag: seed.Tag, target: target, name: seed.Name, body: seed.Body, draft: seed.Draft,
		prerelease: seed.Prerelease, created: s.clk.Now(), author: "someone", untagged: untagged(seed.Tag, s.nextID)}
	rp.releases = append(rp.releases, rel)
	if !rel.draft {
		s.publishLocked(rp, rel, map[bool]string{true: "true", false: "false"}[seed.MakeLatest])
	}
	return rel.id
}

// Releases returns every release of a repository, drafts included, oldest first.
func (s *Server) Releases(full string) []Release {
	return each(s, full, func(rp *repo) []*release { return rp.releases }, func(rp *repo, rel *release) Release {
		return Release{ID: rel.id, Tag: rel.tag, Target: rel.target, Name: rel.name, Body: rel.body, Draft: rel.draft,
			Prerelease: rel.prerelease, Latest: rp.latest == rel.id && rel.id != 0, Published: rel.published}
	})
}

func untagged(tag string, n int64) string {
	h := sha1.Sum([]byte(tag + strconv.FormatInt(n, 10)))
	return "untagged-" + hex.EncodeToString(h[:])[:20]
}

// publishLocked turns a release public: its tag is created at the target when missing, and the
// "Latest" label follows makeLatest ("true" default, "false", "legacy").
func (s *Server) publishLocked(rp *repo, rel *release, makeLatest string) {
	rel.draft = false
	rel.published = s.clk.Now()
	ref := "refs/tags/" + rel.tag
	if _, ok := rp.refs[ref]; !ok {
		if c := rp.resolve(rel.target); c != "" {
			rp.refs[ref] = c
		}
	}
	s.applyLatestLocked(rp, rel, makeLatest)
}

func (s *Server) applyLatestLocked(rp *repo, rel *release, makeLatest string) {
	if rel.draft || rel.prerelease {
		return
	}
	switch makeLatest {
	case "", "true":
		rp.latest = rel.id
	case "legacy":
		// Latest by creation date among published full releases.
		var best *release
		for _, x := range rp.releases {
			if !x.draft && !x.prerelease && (best == nil || !x.created.Before(best.created)) {
				best = x
			}
		}
		if best != nil {
			rp.latest = best.id
		}
	}
}

func (s *Server) releaseJSON(r *http.Request, rp *repo, rel *release) map[string]any {
	html := "https://github.example/" + rp.owner + "/" + rp.name + "/releases/tag/"
	if rel.draft {
		html += rel.untagged
	} else {
		html += rel.tag
	}
	api := apiBase(r) + "repos/" + rp.owner + "/" + rp.name + "/releases/" + strconv.FormatInt(rel.id, 10)
	assets := make([]any, 0, len(rel.assets))
	for _, a := range rel.assets {
		assets = append(assets, assetJSON(r, rp, a))
	}
	m := map[string]any{
		"id": rel.id, "node_id": nodeID("RE", rel.id), "tag_name": rel.tag, "target_commitish": rel.target,
		"name": rel.name, "body": rel.body, "draft": rel.draft, "prerelease": rel.prerelease,
		"created_at": rel.created.UTC().Format(time.RFC3339), "published_at": nil,
		"url": api, "html_url": html, "assets_url": api + "/assets", "assets": assets, "immutable": rp.locked(rel),
		"upload_url": "http://" + reqInfoOf(r.Context()).host + uploadsPrefix + "repos/" + rp.owner + "/" + rp.name + "/releases/" + strconv.FormatInt(rel.id, 10) + "/assets{?name,label}",
		"author":     map[string]any{"login": rel.author},
	}
	if !rel.draft {
		m["published_at"] = rel.published.UTC().Format(time.RFC3339)
	}
	return m
}

func (rp *repo) releaseByID(idStr string) *release {
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil {
		return nil
	}
	for _, rel := range rp.releases {
		if rel.id == id {
			return rel
		}
	}
	return nil
}

func (rp *repo) publishedWithTag(tag string, except *release) *release {
	for _, rel := range rp.releases {
		if rel != except && !rel.draft && rel.tag == tag {
			return rel
		}
	}
	return nil
}

// ---- HTTP

func (s *Server) listReleases(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	push := c.perm(rp) >= PermPush
	var out []*release
	for i := len(rp.releases) - 1; i >= 0; i-- { // newest first
		rel := rp.releases[i]
		if rel.draft && !push {
			continue
		}
		out = append(out, rel)
	}
	page(s, w, r, out, func(rel *release) map[string]any { return s.releaseJSON(r, rp, rel) })
}

func (s *Server) getRelease(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, rel *release) {
	writeJSON(w, http.StatusOK, s.releaseJSON(r, rp, rel))
}

// releaseByTag never returns drafts, whoever asks: GitHub answers 404 for a draft's tag.
func (s *Server) releaseByTag(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	if rel := rp.publishedWithTag(r.PathValue("tag"), nil); rel != nil {
		writeJSON(w, http.StatusOK, s.releaseJSON(r, rp, rel))
		return
	}
	notFound(w)
}

func (s *Server) latestRelease(w http.ResponseWriter, r *http.Request, rp *repo, _ caller) {
	for _, rel := range rp.releases {
		if rel.id == rp.latest && !rel.draft {
			writeJSON(w, http.StatusOK, s.releaseJSON(r, rp, rel))
			return
		}
	}
	notFound(w)
}

type releaseInput struct {
	TagName         *string `json:"tag_name"`
	TargetCommitish *string `json:"target_commitish"`
	Name            *string `json:"name"`
	Body            *string `json:"body"`
	Draft           *bool   `json:"draft"`
	Prerelease      *bool   `json:"prerelease"`
	MakeLatest      *string `json:"make_latest"`
}

// set copies the name, body and pre-release flag that in gives.
func (rel *release) set(in releaseInput) {
	if in.Name != nil {
		rel.name = *in.Name
	}
	if in.Body != nil {
		rel.body = *in.Body
	}
	if in.Prerelease != nil {
		rel.prerelease = *in.Prerelease
	}
}

func validMakeLatest(in releaseInput) bool {
	if in.MakeLatest == nil {
		return true
	}
	switch *in.MakeLatest {
	case "true", "false", "legacy":
		return true
	}
	return false
}

func (s *Server) createRelease(w http.ResponseWriter, r *http.Request, rp *repo, c caller) {
	var in releaseInput
	if !decode(w, r, &in) {
		return
	}
	if in.TagName == nil || *in.TagName == "" {
		validation(w, "Release", "tag_name", "missing_field", "")
		return
	}
	if !validMakeLatest(in) {
		validation(w, "Release", "make_latest", "invalid", "")
		return
	}
	target := rp.defaultBranch
	if in.TargetCommitish != nil && *in.TargetCommitish != "" {
		target = *in.TargetCommitish
	}
	if _, tagged := rp.refs["refs/tags/"+*in.TagName]; !tagged && rp.resolve(target) == "" {
		validation(w, "Release", "target_commitish", "invalid", "")
		return
	}
	draft := in.Draft != nil && *in.Draft
	// A published release already owns this tag: GitHub refuses. Drafts may share a tag.
	if rp.publishedWithTag(*in.TagName, nil) != nil {
		validation(w, "Release", "tag_name", "already_exists", "")
		return
	}
	rel := &release{id: s.id(), tag: *in.TagName, target: target, draft: true, created: s.clk.Now(), author: c.login()}
	rel.untagged = untagged(rel.tag, rel.id)
	rel.set(in)
	rp.releases = append(rp.releases, rel)
	if !draft {
		ml := ""
		if in.MakeLatest != nil {
			ml = *in.MakeLatest
		}
		s.publishLocked(rp, rel, ml)
	}
	writeJSON(w, http.StatusCreated, s.releaseJSON(r, rp, rel))
}

func (s *Server) editRelease(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, rel *release) {
	var in releaseInput
	if !decode(w, r, &in) {
		return
	}
	if !validMakeLatest(in) {
		validation(w, "Release", "make_latest", "invalid", "")
		return
	}
	locked := rp.immutableReleases && !rel.draft
	if locked && ((in.TagName != nil && *in.TagName != rel.tag) || (in.TargetCommitish != nil && *in.TargetCommitish != rel.target) || (in.Draft != nil && *in.Draft)) {
		unprocessable(w, "Cannot modify the tag, target or draft state of an immutable release")
		return
	}
	tag := rel.tag
	if in.TagName != nil && *in.TagName != "" {
		tag = *in.TagName
	}
	publishing := rel.draft && in.Draft != nil && !*in.Draft
	if (publishing || !rel.draft) && rp.publishedWithTag(tag, rel) != nil {
		validation(w, "Release", "tag_name", "already_exists", "")
		return
	}
	if in.TargetCommitish != nil && *in.TargetCommitish != "" {
		if _, tagged := rp.refs["refs/tags/"+tag]; !tagged && rp.resolve(*in.TargetCommitish) == "" {
			validation(w, "Release", "target_commitish", "invalid", "")
			return
		}
		rel.target = *in.TargetCommitish
	}
	rel.tag = tag
	rel.set(in)
	ml := ""
	if in.MakeLatest != nil {
		ml = *in.MakeLatest
	}
	switch {
	case publishing:
		s.publishLocked(rp, rel, ml)
	case in.Draft != nil && *in.Draft && !rel.draft:
		rel.draft = true
		rel.published = time.Time{}
		if rp.latest == rel.id {
			rp.latest = 0
		}
	case !rel.draft && in.MakeLatest != nil:
		s.applyLatestLocked(rp, rel, ml)
	}
	writeJSON(w, http.StatusOK, s.releaseJSON(r, rp, rel))
}

func (s *Server) deleteRelease(w http.ResponseWriter, r *http.Request, rp *repo, _ caller, rel *release) {
	rp.releases = slices.DeleteFunc(rp.releases, func(x *release) bool { return x == rel })
	if rp.latest == rel.id {
		rp.latest = 0
	}
	w.WriteHeader(http.StatusNoContent)
}
