package github

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	gh "github.com/google/go-github/v62/github"

	"github.com/shipgate/shipgate/pipeline/fault"

	"github.com/shipgate/shipgate/pipeline/version"
)

// State is what shipgate remembers between runs in the release body, in a marker kept apart from
// the notes: an HTML comment `<!-- shipgate:state {json} -->` on the body's last line. GitHub
// renders nothing for it; the notes comparison and the TBD rule never see it.
type State struct {
	// IndexDigest is the multi-arch index digest published for this release.
	IndexDigest string `json:"digest,omitempty"`
	// Dispatch records the smoke-test dispatch, once it was sent.
	Dispatch *DispatchRecord `json:"dispatch,omitempty"`
}

// DispatchRecord is a smoke-test dispatch that was sent.
type DispatchRecord struct {
	Repo          string    `json:"repo"`
	EventType     string    `json:"event"`
	CorrelationID string    `json:"correlation_id"`
	Digest        string    `json:"digest"`
	At            time.Time `json:"at"`
	// Attempt counts the dispatches of this build: 1 for publish's, then one more for each
	// re-dispatch (0 in records written before re-dispatch existed: read it as 1).
	Attempt int `json:"attempt,omitempty"`
}

// IsZero reports whether s holds nothing.
func (s State) IsZero() bool { return s.IndexDigest == "" && s.Dispatch == nil }

// merge keeps s's fields and fills the empty ones from old.
func (s State) merge(old State) State {
	if s.IndexDigest == "" {
		s.IndexDigest = old.IndexDigest
	}
	if s.Dispatch == nil {
		s.Dispatch = old.Dispatch
	}
	return s
}

const (
	markerOpen  = "<!-- shipgate:state "
	markerClose = " -->"
)

// SplitBody separates a release body into the notes and shipgate's state marker. A body without a
// marker is all notes. A marker that does not parse is an error that says how to fix it.
func SplitBody(body string) (notes string, st State, err error) {
	body = strings.ReplaceAll(body, "\r\n", "\n")
	var kept []string
	var found string
	for _, line := range strings.Split(body, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, markerOpen) && strings.HasSuffix(t, markerClose) {
			found = strings.TrimSuffix(strings.TrimPrefix(t, markerOpen), markerClose)
			continue
		}
		kept = append(kept, line)
	}
	notes = normalizeNotes(strings.Join(kept, "\n"))
	if found != "" {
		if err := json.Unmarshal([]byte(found), &st); err != nil {
			return notes, State{}, fault.Unreadablef("the shipgate:state marker in the release body is not valid JSON (%w): delete that HTML comment from the release body and re-run publish", err)
		}
	}
	return notes, st, nil
}

// ComposeBody is notes followed, when st is not empty, by the state marker on its own last line.
func ComposeBody(notes string, st State) string {
	notes = normalizeNotes(notes)
	if st.IsZero() {
		return notes
	}
	b, _ := json.Marshal(st) // json escapes <, > and &: the marker cannot close early
	if notes == "" {
		return markerOpen + string(b) + markerClose
	}
	return notes + "\n\n" + markerOpen + string(b) + markerClose
}

// normalizeNotes makes notes comparable: LF line ends, no trailing blank space.
func normalizeNotes(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.TrimRight(strings.Join(lines, "\n"), "\n")
}

// Release is a GitHub release as shipgate sees it.
type Release struct {
	ID   int64
	Tag  string
	Name string
	// Notes is the body without the state marker; State is the marker's content.
	Notes string
	State State
	// Body is the raw body.
	Body       string
	Draft      bool
	Prerelease bool
	// Target is target_commitish: the finalize commit for releases shipgate made.
	Target      string
	URL         string
	PublishedAt time.Time
}

func fromGH(rel *gh.RepositoryRelease) (*Release, error) {
	if rel.GetID() == 0 || rel.GetTagName() == "" {
		return nil, fault.Unreadablef("GitHub answered with a release without id or tag")
	}
	notes, st, err := SplitBody(rel.GetBody())
	out := &Release{ID: rel.GetID(), Tag: rel.GetTagName(), Name: rel.GetName(), Notes: notes, State: st, Body: rel.GetBody(),
		Draft: rel.GetDraft(), Prerelease: rel.GetPrerelease(), Target: rel.GetTargetCommitish(), URL: rel.GetHTMLURL(),
		PublishedAt: rel.GetPublishedAt().Time}
	return out, err
}

// ErrAlreadyPublished is returned (wrapped) by EnsureDraft when the tag's release is public.
var ErrAlreadyPublished = errors.New("release already published")

// checkSeesDrafts fails when GitHub says the token cannot push to r: such a token is not shown
// draft releases, so "no draft found" could be wrong. Tokens for which GitHub reports no
// permissions (installation tokens) pass.
func (c *Client) checkSeesDrafts(ctx context.Context, r Repo) error {
	p, err := c.repoPermissions(ctx, r)
	if err != nil {
		return err
	}
	if push, ok := p["push"]; ok && !push {
		return fault.Refusedf("the token given with %s cannot push to %s, and GitHub shows draft releases only to tokens that can: give it contents: write", c.tokenFlag, r)
	}
	return nil
}

// FindRelease finds the release for tag: the published one (GitHub's by-tag endpoint), else the
// draft shipgate recorded making (see DraftRecordPrefix). It costs the same few requests however
// many releases r has. It returns nil when there is none, and an error when several recorded
// drafts share the tag. When nothing is found and GitHub says the token cannot push (so drafts
// are hidden from it), it fails instead of reporting a draft missing that may exist.
func (c *Client) FindRelease(ctx context.Context, r Repo, tag string) (*Release, error) {
	rel, _, err := c.findRelease(ctx, r, tag)
	if err != nil || rel != nil {
		return rel, err
	}
	return nil, c.checkSeesDrafts(ctx, r)
}

// findRelease is FindRelease without the token check; recorded is false when the release was
// found only by listing (its record is missing).
func (c *Client) findRelease(ctx context.Context, r Repo, tag string) (rel *Release, recorded bool, err error) {
	pub, err := c.publishedRelease(ctx, r, tag)
	if err != nil || pub != nil {
		if pub != nil {
			rel, err = fromGH(pub)
		}
		return rel, true, err
	}
	rec, err := c.readDraftRecord(ctx, r, tag)
	if err != nil || rec.empty() {
		return nil, true, err
	}
	found, err := c.recordedDrafts(ctx, r, tag, rec.ids)
	if err != nil {
		return nil, false, err
	}
	if len(found) > 0 {
		rel, err = oneRelease(found, r, tag)
		return rel, true, err
	}
	// Recorded but not readable: a draft being made when a run died, or deleted by hand. Listing
	// tells; a token that cannot see drafts would list in vain.
	if err := c.checkSeesDrafts(ctx, r); err != nil {
		return nil, false, err
	}
	all, err := c.listReleases(ctx, r)
	if err != nil {
		return nil, false, err
	}
	found = slices.DeleteFunc(all, func(x *gh.RepositoryRelease) bool { return x.GetTagName() != tag })
	rel, err = oneRelease(found, r, tag)
	return rel, false, err
}

// oneRelease is the one release in found, nil for none, and an error naming each when several
// share the tag.
func oneRelease(found []*gh.RepositoryRelease, r Repo, tag string) (*Release, error) {
	switch len(found) {
	case 0:
		return nil, nil
	case 1:
		return fromGH(found[0])
	}
	var ids []string
	for _, rel := range found {
		kind := "published"
		if rel.GetDraft() {
			kind = "draft"
		}
		ids = append(ids, fmt.Sprintf("%d (%s, %s)", rel.GetID(), kind, rel.GetHTMLURL()))
	}
	return nil, fault.Refusedf("%d releases for tag %s in %s: %s; delete the extra ones on GitHub and re-run", len(found), tag, r, strings.Join(ids, ", "))
}

func (c *Client) listReleases(ctx context.Context, r Repo) ([]*gh.RepositoryRelease, error) {
	all, err := listAll(func(o gh.ListOptions) ([]*gh.RepositoryRelease, *gh.Response, error) {
		return c.gh.Repositories.ListReleases(ctx, r.Owner, r.Name, &o)
	})
	return all, c.wrap(err, "list releases of "+r.String(), r, "contents: read")
}

// EnsureDraft makes sure a draft release vX.Y.Z exists in r with name vX.Y.Z, target commit,
// prerelease set for pre-releases, and body = notes plus the state marker. It creates the draft
// once (recording it, see DraftRecordPrefix), updates what differs (notes compare without the
// marker and without trailing blanks; st is merged into the recorded state, its empty fields keep
// the recorded values), and reports whether it changed anything. A published release for the tag
// fails with ErrAlreadyPublished: publish never touches a public release.
func (c *Client) EnsureDraft(ctx context.Context, r Repo, v version.Version, commit, notes string, st State) (*Release, bool, error) {
	tag := v.GitTag()
	// findRelease, not FindRelease: a token that cannot push (and so cannot see drafts) is refused
	// by the create below with 403, so no duplicate can follow.
	rel, recorded, err := c.findRelease(ctx, r, tag)
	if err != nil {
		return nil, false, err
	}
	if rel == nil {
		created, err := c.createDraft(ctx, r, v, commit, ComposeBody(notes, st))
		if err != nil || created.Body == ComposeBody(notes, st) && created.Target == commit {
			return created, err == nil, err
		}
		rel = created // found by a look after a lost answer: fall through and align it
	} else if rel.Draft && !recorded {
		if err := c.recordDraft(ctx, r, tag, "id-"+strconv.FormatInt(rel.ID, 10), commit); err != nil {
			return nil, false, err
		}
	}
	if !rel.Draft {
		return rel, false, fault.Refusedf("release %s in %s is already published (%s); publish does not change a published release — run promote to finish it, or release a new version: %w", tag, r, rel.URL, ErrAlreadyPublished)
	}
	want := ComposeBody(notes, st.merge(rel.State))
	if len(PlanDraft(rel, v, commit, notes, st)) == 0 {
		return rel, false, nil
	}
	out, _, err := c.gh.Repositories.EditRelease(ctx, r.Owner, r.Name, rel.ID, &gh.RepositoryRelease{
		TargetCommitish: gh.String(commit), Name: gh.String(tag), Body: gh.String(want), Prerelease: gh.Bool(v.IsPrerelease()),
	})
	if err != nil {
		return nil, false, c.wrap(err, fmt.Sprintf("update draft release %s in %s", tag, r), r, "contents: write")
	}
	updated, err := fromGH(out)
	return updated, true, err
}

// createDraft records that a draft of v is being made, creates it (looking again after a lost
// answer, so there is never a second one) and records its id.
func (c *Client) createDraft(ctx context.Context, r Repo, v version.Version, commit, body string) (*Release, error) {
	tag := v.GitTag()
	if err := c.recordDraft(ctx, r, tag, "pending", commit); err != nil {
		return nil, err
	}
	op := fmt.Sprintf("create draft release %s in %s", tag, r)
	created, err := retryWrite(ctx, c, func() (*Release, error) {
		out, _, err := c.gh.Repositories.CreateRelease(ctx, r.Owner, r.Name, &gh.RepositoryRelease{
			TagName: gh.String(tag), TargetCommitish: gh.String(commit), Name: gh.String(tag), Body: gh.String(body),
			Draft: gh.Bool(true), Prerelease: gh.Bool(v.IsPrerelease()),
		})
		if err != nil {
			return nil, c.wrap(err, op, r, "contents: write")
		}
		return fromGH(out)
	}, func() (*Release, bool, error) {
		got, _, err := c.findRelease(ctx, r, tag)
		return got, got != nil, err
	})
	if err != nil {
		return nil, err
	}
	if !created.Draft {
		return created, fault.Refusedf("release %s in %s was published meanwhile (%s): %w", tag, r, created.URL, ErrAlreadyPublished)
	}
	return created, c.recordDraft(ctx, r, tag, "id-"+strconv.FormatInt(created.ID, 10), commit)
}

func isSHA(s string) bool {
	if len(s) != 40 {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

// PlanDraft says, without any request, what EnsureDraft would change given the release FindRelease
// returned (nil: none): "create", or the fields to update ("notes", "state", "target", "name",
// "prerelease"); "published" means EnsureDraft would refuse. Empty means the draft is up to date.
// Dry-run prints it.
func PlanDraft(rel *Release, v version.Version, commit, notes string, st State) []string {
	if rel == nil {
		return []string{"create"}
	}
	if !rel.Draft {
		return []string{"published"}
	}
	var out []string
	if rel.Notes != normalizeNotes(notes) {
		out = append(out, "notes")
	}
	if !stateEq(rel.State, st.merge(rel.State)) {
		out = append(out, "state")
	}
	if rel.Target != commit {
		out = append(out, "target")
	}
	if rel.Name != v.GitTag() {
		out = append(out, "name")
	}
	if rel.Prerelease != v.IsPrerelease() {
		out = append(out, "prerelease")
	}
	return out
}

func stateEq(a, b State) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// UpdateState rewrites the state marker of rel (merged as in EnsureDraft), keeping its notes
// byte for byte, and returns the updated release.
func (c *Client) UpdateState(ctx context.Context, r Repo, rel *Release, st State) (*Release, error) {
	merged := st.merge(rel.State)
	if stateEq(merged, rel.State) {
		return rel, nil
	}
	out, _, err := c.gh.Repositories.EditRelease(ctx, r.Owner, r.Name, rel.ID, &gh.RepositoryRelease{Body: gh.String(ComposeBody(rel.Notes, merged))})
	if err != nil {
		return nil, c.wrap(err, fmt.Sprintf("record state in release %s of %s", rel.Tag, r), r, "contents: write")
	}
	return fromGH(out)
}

// PublishOutcome says what PublishRelease did.
type PublishOutcome struct {
	// AlreadyPublished: the release was public at this tag and commit before; nothing was done.
	AlreadyPublished bool
	// Latest: GitHub was asked to mark the release "Latest".
	Latest  bool
	Release *Release
}

// PublishRelease turns the draft for rel's tag public (draft=false) with make_latest "true" only
// when makeLatest is set and the version is not a pre-release ("false" otherwise, so an older
// line's hotfix never takes the label). Before publishing — which can make the release and its tag
// immutable — it checks that the tag, when it exists, points at rel.Target. A release already
// public at that tag and commit is a no-op reported as AlreadyPublished.
func (c *Client) PublishRelease(ctx context.Context, r Repo, rel *Release, makeLatest bool) (PublishOutcome, error) {
	v, err := version.ParseGitTag(rel.Tag)
	if err != nil {
		return PublishOutcome{}, fault.Refusedf("release tag %q in %s is not a version: %w", rel.Tag, r, err)
	}
	if v.IsPrerelease() {
		makeLatest = false
	}
	cur, err := c.FindRelease(ctx, r, rel.Tag)
	if err != nil {
		return PublishOutcome{}, err
	}
	if cur == nil {
		return PublishOutcome{}, fault.Refusedf("draft release %s not found in %s: run publish first", rel.Tag, r)
	}
	at, tagged, err := c.Tag(ctx, r, v)
	if err != nil {
		return PublishOutcome{}, err
	}
	if !isSHA(cur.Target) {
		return PublishOutcome{}, fault.Refusedf("release %s in %s targets %q, not a commit: shipgate drafts target the finalize commit; re-run publish to align the draft", rel.Tag, r, cur.Target)
	}
	if tagged && at != cur.Target {
		return PublishOutcome{}, fault.AsRefused(&TagConflictError{Repo: r, Tag: rel.Tag, At: at, Wanted: cur.Target})
	}
	if !cur.Draft {
		if !tagged {
			return PublishOutcome{}, fault.Refusedf("release %s in %s is published but its tag is missing: recreate the tag at %s", rel.Tag, r, short(cur.Target))
		}
		return PublishOutcome{AlreadyPublished: true, Release: cur}, nil
	}
	ml := "false"
	if makeLatest {
		ml = "true"
	}
	op := fmt.Sprintf("publish release %s in %s", rel.Tag, r)
	out, err := retryWrite(ctx, c, func() (*Release, error) {
		got, _, err := c.gh.Repositories.EditRelease(ctx, r.Owner, r.Name, cur.ID, &gh.RepositoryRelease{Draft: gh.Bool(false), MakeLatest: gh.String(ml)})
		if err != nil {
			return nil, c.wrap(err, op, r, "contents: write")
		}
		return fromGH(got)
	}, func() (*Release, bool, error) {
		got, _, err := c.findRelease(ctx, r, rel.Tag)
		return got, got != nil && !got.Draft, err
	})
	if err != nil {
		return PublishOutcome{}, err
	}
	return PublishOutcome{Latest: makeLatest, Release: out}, nil
}

// ReleasedVersions lists the versions of r's published releases (drafts excluded, pre-releases
// included; tags that are not versions are skipped). It lists every release: its cost grows with
// history, and past 10,000 releases it fails rather than answer from part of them.
//
// Deprecated: for the "Latest" decision use IsHighest, whose cost does not grow with history.
func (c *Client) ReleasedVersions(ctx context.Context, r Repo) ([]version.Version, error) {
	all, err := c.listReleases(ctx, r)
	if err != nil {
		return nil, err
	}
	var out []version.Version
	for _, rel := range all {
		if rel.GetDraft() {
			continue
		}
		if v, err := version.ParseGitTag(rel.GetTagName()); err == nil {
			out = append(out, v)
		}
	}
	return out, nil
}

// MakeLatest reports whether v should carry GitHub's "Latest" label given the released versions:
// only a full release at least as high as every released full release (so never a pre-release,
// and never a hotfix of an older line).
func MakeLatest(v version.Version, released []version.Version) bool {
	if v.IsPrerelease() {
		return false
	}
	hi, ok := version.Highest(released)
	return !ok || !v.Less(hi)
}

// IsHighest answers MakeLatest for v against the release that carries GitHub's "Latest" label
// (one request, whatever the history). shipgate gives the label only to the highest promoted
// release and rollback moves it back, so the label is the highest release that was not rolled
// back — the rule `latest` follows in the registry too. A Latest release whose tag is not a
// version of v's tag prefix (another component's cli-v9.0.0 beside v1.3.0) is ignored.
func (c *Client) IsHighest(ctx context.Context, r Repo, v version.Version) (bool, error) {
	cur, err := c.LatestRelease(ctx, r)
	if err != nil {
		return false, err
	}
	var released []version.Version
	if cur != nil {
		if lv, err := version.ParseGitTag(cur.Tag); err == nil && lv.TagPrefix() == v.TagPrefix() {
			released = append(released, lv)
		}
	}
	return MakeLatest(v, released), nil
}
