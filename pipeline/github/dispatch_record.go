package github

import (
	"context"
	"fmt"
	"strings"

	gh "github.com/google/go-github/v62/github"
)

// DispatchPrefix is where shipgate records a smoke-test dispatch that has no draft release to
// hold it (a release candidate published without one) and every re-dispatch:
// refs/shipgate/dispatched/<tag> points at a marker commit holding the last DispatchRecord. Like
// the other records it is neither a branch nor a tag: it triggers no workflow.
const DispatchPrefix = "refs/shipgate/dispatched/"

// DispatchOf reads the dispatch record of tag; found is false when none was written.
func (c *Client) DispatchOf(ctx context.Context, r Repo, tag string) (DispatchRecord, bool, error) {
	var rec DispatchRecord
	_, found, err := c.readMarker(ctx, r, DispatchPrefix+tag, &rec, fmt.Sprintf("read the smoke-test dispatch record of %s in %s", tag, r))
	return rec, found, err
}

// RecordDispatch writes rec as the dispatch record of tag, replacing the one there.
func (c *Client) RecordDispatch(ctx context.Context, r Repo, tag string, rec DispatchRecord) error {
	op := fmt.Sprintf("record the smoke-test dispatch of %s in %s", tag, r)
	sha, err := c.markerCommit(ctx, r, "dispatch.json", "shipgate smoke-test dispatch of "+tag, rec, rec.At, "", op)
	if err != nil {
		return err
	}
	ref := &gh.Reference{Ref: gh.String(DispatchPrefix + tag), Object: &gh.GitObject{SHA: gh.String(sha)}}
	_, _, err = c.gh.Git.CreateRef(idempotent(ctx), r.Owner, r.Name, ref)
	err = c.wrap(err, op, r, "contents: write")
	if StatusOf(err) == 422 && strings.Contains(err.Error(), "already exists") {
		_, _, err = c.gh.Git.UpdateRef(idempotent(ctx), r.Owner, r.Name, ref, true)
		err = c.wrap(err, op, r, "contents: write")
	}
	return err
}

// For reports whether the record is of the build whose correlation id is corr — that id, or a
// later attempt of it (Redispatch's corr-rN) — sent to downstream.
func (r DispatchRecord) For(corr string, downstream Repo) bool {
	sent := r.CorrelationID == corr || strings.HasPrefix(r.CorrelationID, corr+"-r")
	return corr != "" && sent && strings.EqualFold(r.Repo, downstream.String())
}

// EnsureRecordedDispatch is EnsureDispatch for a build without a draft release: the record is
// the ref DispatchPrefix+tag instead of the release's state marker. A record naming
// p.CorrelationID and downstream means it was sent; otherwise it dispatches, then records.
func (c *Client) EnsureRecordedDispatch(ctx context.Context, r Repo, tag string, down *Client, downstream Repo, event string, p DispatchPayload) (DispatchOutcome, error) {
	if event == "" {
		event = DefaultEventType
	}
	prev, found, err := c.DispatchOf(ctx, r, tag)
	if err != nil {
		return DispatchOutcome{}, err
	}
	if found && prev.For(p.CorrelationID, downstream) {
		return DispatchOutcome{Record: prev}, nil
	}
	return c.dispatchAndRecord(ctx, r, tag, down, downstream, event, p, 1)
}

// Redispatch sends the smoke test of a build again (after a downstream flake): attempt is one
// more than the last recorded one (the release's state marker, rel, may be nil; and the record
// of tag), and the payload's correlation id carries it as a suffix "-rN" — the receiver sees a new
// id, so it does not drop the dispatch as a duplicate, and promote's gate, which looks for the
// build's id in the downstream's answer, matches every attempt.
func (c *Client) Redispatch(ctx context.Context, r Repo, tag string, rel *Release, down *Client, downstream Repo, event string, p DispatchPayload) (DispatchOutcome, error) {
	if event == "" {
		event = DefaultEventType
	}
	last := 0
	if rel != nil && rel.State.Dispatch != nil {
		last = max(rel.State.Dispatch.Attempt, 1)
	}
	prev, found, err := c.DispatchOf(ctx, r, tag)
	if err != nil {
		return DispatchOutcome{}, err
	}
	if found {
		last = max(last, prev.Attempt, 1)
	}
	return c.dispatchAndRecord(ctx, r, tag, down, downstream, event, p, last+1)
}

// AttemptID is the correlation id of dispatch attempt n of a build: id itself for the first,
// id-rN after.
func AttemptID(id string, n int) string {
	if n <= 1 {
		return id
	}
	return fmt.Sprintf("%s-r%d", id, n)
}

func (c *Client) dispatchAndRecord(ctx context.Context, r Repo, tag string, down *Client, downstream Repo, event string, p DispatchPayload, attempt int) (DispatchOutcome, error) {
	p.CorrelationID = AttemptID(p.CorrelationID, attempt)
	if err := down.Dispatch(ctx, downstream, event, p); err != nil {
		return DispatchOutcome{}, err
	}
	rec := DispatchRecord{Repo: downstream.String(), EventType: event, CorrelationID: p.CorrelationID, Digest: p.Digest, At: c.clk.Now().UTC(), Attempt: attempt}
	if err := c.RecordDispatch(ctx, r, tag, rec); err != nil {
		return DispatchOutcome{}, fmt.Errorf("smoke test dispatched to %s (attempt %d) but not recorded: %w", downstream, attempt, err)
	}
	return DispatchOutcome{Record: rec, Dispatched: true}, nil
}
