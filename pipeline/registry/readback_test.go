package registry

import (
	"context"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/testkit"
)

// staleHead makes the proxy answer HEAD of repo:tag as a cache in front of the registry might:
// with the digest d (and its media type and size), whatever the tag holds now.
func (e *env) staleHead(tag string, d v1.Hash, size int) *testkit.Rule {
	return e.proxy.Inject(testkit.Fault{
		Method: http.MethodHead,
		Path:   regexp.MustCompile(`/manifests/` + regexp.QuoteMeta(tag) + `$`),
		Status: http.StatusOK,
		Header: http.Header{
			"Docker-Content-Digest": {d.String()},
			"Content-Type":          {"application/vnd.oci.image.index.v1+json"},
			"Content-Length":        {strconv.Itoa(size)},
		},
	})
}

// A HEAD answered from a stale cache must not make promote skip a write: whether latest already
// holds the digest is decided from a GET, by the digest of the bytes returned.
func TestApplyTagsIgnoresAStaleHead(t *testing.T) {
	eachLane(t, faultLanes(), func(t *testing.T, e *env) {
		_, p2, plan := e.planAfter("1.2.3", "1.3.0", TagOptions{})
		if len(plan.Moves) != 1 {
			t.Fatalf("plan: %v", plan)
		}
		// The cache claims latest already is 1.3.0.
		stale := e.staleHead(LatestTag, p2.Index, len(e.manifestBytes("acme/app@"+p2.Index.String())))
		if d, err := remote.Head(e.ref("acme/app:latest")); err != nil || d.Digest != p2.Index || stale.Injected() != 1 {
			t.Fatalf("the stale HEAD is not in place: %v %v (fired %d)", err, d, stale.Injected())
		}
		e.applyTags(plan)
		e.proxy.Clear()
		if got := e.resolve("acme/app", LatestTag); got != p2.Index {
			t.Fatalf("latest is %s after ApplyTags reported success, want %s (a stale HEAD made it skip the write)", got, p2.Index)
		}
	})
}

// A write the registry acknowledges but does not make (a proxy answering 201 without passing the
// PUT on) is caught by reading the tag back.
func TestApplyTagsReadsEveryMovedTagBack(t *testing.T) {
	e := localEnv(t)
	ctx := context.Background()
	p1, p2, plan := e.planAfter("1.2.3", "1.3.0", TagOptions{})
	swallowed := e.proxy.Inject(testkit.Fault{Method: http.MethodPut, Path: regexp.MustCompile(`/manifests/latest$`), Status: http.StatusCreated, Body: "{}",
		Header: http.Header{"Docker-Content-Digest": {p2.Index.String()}}})
	err := e.c.ApplyTags(ctx, plan)
	if swallowed.Injected() == 0 {
		t.Fatal("the swallowed PUT never happened")
	}
	if err == nil || !strings.Contains(err.Error(), "read back") || !strings.Contains(err.Error(), p1.Index.String()) || fault.Of(err) == fault.Unknown {
		t.Fatalf("a tag that did not move was reported moved: %v (class %v)", err, fault.Of(err))
	}
	t.Logf("apply error: %v", err)
}

// TestApplyTagsUnderLockWritesWithoutReadingFirst: a plan made under the promote lock is written
// without a read of each tag first; each tag is still read back after its write, and the result
// is the same.
func TestApplyTagsUnderLockWritesWithoutReadingFirst(t *testing.T) {
	for _, underLock := range []bool{false, true} {
		e := localEnv(t)
		ctx := context.Background()
		_, p2, plan := e.planAfter("1.2.3", "1.3.0", TagOptions{Floating: true})
		plan.UnderLock = underLock
		mark := len(e.proxy.Requests())
		e.applyTags(plan)
		gets, puts := e.count(http.MethodGet, `/manifests/(latest|1\.3|1)$`, mark), e.count(http.MethodPut, `/manifests/`, mark)
		want := 2 * len(plan.Moves) // a read first and a read back
		if underLock {
			want = len(plan.Moves) // the read back only
		}
		if puts != len(plan.Moves) || gets != want {
			t.Fatalf("under lock %v: %d PUTs, %d GETs of the moved tags; want %d and %d", underLock, puts, gets, len(plan.Moves), want)
		}
		for _, tag := range []string{"latest", "1.3", "1"} {
			if d, _, err := e.c.Resolve(ctx, e.repo, tag); err != nil || d != p2.Index {
				t.Fatalf("under lock %v: %s = %s %v", underLock, tag, d, err)
			}
		}
	}
}
