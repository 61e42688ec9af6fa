package sign

// Listing referrers, once per subject and Store, and writing the sha256-<hex> index of a registry
// without the referrers API (see the package documentation, "Requests").

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// maxFallbackIndex bounds the sha256-<hex> index this package writes: past it, the manifests
// embedded in its oldest entries are left out (they are then fetched by digest), so that the
// index stays far below the manifest size registries accept (4 MiB for distribution).
const maxFallbackIndex = 1 << 20

// listingMemo is a Store's listing of one subject's referrers: kept once read, replaced by what
// the Store reads back after writing a referrer of it, dropped when that fails.
type listingMemo struct {
	mu    sync.Mutex
	ok    bool
	descs []v1.Descriptor
}

// memo returns subject's listing memo, made empty the first time.
func (s *Store) memo(subject name.Digest) *listingMemo {
	key := subjectKey(subject)
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.listings[key]
	if m == nil {
		m = &listingMemo{}
		s.listings[key] = m
	}
	return m
}

// listing returns subject's referrers as the Store listed them first (or read them back after
// its last write of one); lookups side by side wait for one listing. A failure is not kept: the
// next lookup asks again. The result is shared: do not change it.
func (s *Store) listing(ctx context.Context, subject name.Digest) ([]v1.Descriptor, error) {
	m := s.memo(subject)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.ok {
		return m.descs, nil
	}
	descs, err := s.list(ctx, subject)
	if err != nil {
		return nil, err
	}
	m.descs, m.ok = descs, true
	return descs, nil
}

// relist lists subject's referrers from the registry, whatever the Store kept, and keeps the
// answer (or drops what it kept, on failure).
func (s *Store) relist(ctx context.Context, subject name.Digest) ([]v1.Descriptor, error) {
	m := s.memo(subject)
	m.mu.Lock()
	defer m.mu.Unlock()
	descs, err := s.list(ctx, subject)
	m.descs, m.ok = descs, err == nil
	return descs, err
}

// forget drops the Store's listing of subject.
func (s *Store) forget(subject name.Digest) {
	m := s.memo(subject)
	m.mu.Lock()
	m.descs, m.ok = nil, false
	m.mu.Unlock()
}

// list asks the registry for every referrer of subject (no artifact type filter: a bundle written
// by another tool may say none). The Store's first listing goes alone: its answer tells the stack
// whether the registry has the referrers API, so listings side by side after it do not each ask.
func (s *Store) list(ctx context.Context, subject name.Digest) ([]v1.Descriptor, error) {
	if !s.probed.Load() {
		s.probe.Lock()
		if !s.probed.Load() {
			defer s.probe.Unlock()
			descs, err := s.reg.Referrers(ctx, subject, "")
			s.probed.Store(err == nil)
			return descs, err
		}
		s.probe.Unlock()
	}
	return s.reg.Referrers(ctx, subject, "")
}

// fallbackTag is the tag of the referrers tag schema for subject: sha256-<hex>.
func fallbackTag(subject name.Digest) name.Tag {
	return subject.Context().Tag(strings.Replace(subject.DigestStr(), ":", "-", 1))
}

// putManifest puts a referrer manifest by digest. api says the registry has the referrers API
// (it lists the referrer by itself); false when it said it has not, and the sha256-<hex> index
// is then ours to update. The conn's pusher has go-containerregistry's tag fallback off: after
// the manifest is stored, it asks the referrers API (answered from the stack's memo after the
// first 404) and, on a registry without it, fails with the error putManifest recognizes by its
// text (go-containerregistry has no error value for it; the tag-fallback tests fail if it
// changes).
func putManifest(cn conn, ref name.Digest, raw []byte) (api bool, _ error) {
	err := remote.Put(ref, rawManifest{raw, types.OCIManifestSchema1}, cn.opts...)
	switch {
	case err == nil:
		return true, nil
	case strings.Contains(err.Error(), "referrers tag fallback is disabled"):
		return false, nil
	}
	return false, cn.fail("pushing", ref, err)
}

// addToFallback adds desc to subject's sha256-<hex> index (made when missing), as
// go-containerregistry does (entries sorted by digest), but with the referrer manifest embedded
// in desc. An index that holds it already is left alone, unless desc brings the embedded
// manifest it lacks.
func addToFallback(cn conn, subject name.Digest, desc v1.Descriptor) error {
	tag := fallbackTag(subject)
	im := &v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex}
	got, err := remote.Get(tag, cn.opts...)
	switch {
	case isNotFound(err):
	case err != nil:
		return cn.fail("reading", tag, err)
	default:
		im, err = v1.ParseIndexManifest(bytes.NewReader(got.Manifest))
		switch {
		case err == nil && (got.MediaType.IsIndex() || im.MediaType.IsIndex()):
			// An index (some servers label manifests application/json: its own mediaType says).
		case got.MediaType.IsIndex():
			return fault.Unreadablef("the referrers tag %s is labelled an index but cannot be read (%w): re-run; if it stays so, delete that tag and sign again", tag, err)
		case got.MediaType.IsImage() || got.MediaType.IsSchema1():
			return fault.Unreadablef("the referrers tag %s holds a %s, not an index of referrers: another tool wrote it; delete that tag and sign again", tag, got.MediaType)
		default:
			// Not a manifest at all (a proxy's login page): the tag itself may be fine.
			return fault.Unreadablef("reading the referrers tag %s: the registry answered with %q, not a manifest: check --image and any proxy between here and the registry, then re-run", tag, got.MediaType)
		}
	}
	i := slices.IndexFunc(im.Manifests, func(d v1.Descriptor) bool { return d.Digest == desc.Digest })
	switch {
	case i >= 0 && (im.Manifests[i].Data != nil || desc.Data == nil):
		return nil
	case i >= 0:
		im.Manifests[i] = desc
	default:
		im.Manifests = append(im.Manifests, desc)
	}
	slices.SortFunc(im.Manifests, func(a, b v1.Descriptor) int { return strings.Compare(a.Digest.String(), b.Digest.String()) })
	raw, err := fitFallback(im)
	if err != nil {
		return err
	}
	if err := remote.Put(tag, rawManifest{raw, types.OCIImageIndex}, cn.opts...); err != nil {
		return cn.fail("tagging", tag, err)
	}
	return nil
}

// fitFallback encodes the index, leaving out the embedded manifests of its oldest entries (by
// their created annotation) while it is over maxFallbackIndex.
func fitFallback(im *v1.IndexManifest) ([]byte, error) {
	order := make([]int, len(im.Manifests))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return strings.Compare(im.Manifests[a].Annotations[AnnotationCreated], im.Manifests[b].Annotations[AnnotationCreated])
	})
	for _, next := range order {
		raw, err := json.Marshal(im)
		if err != nil {
			return nil, fmt.Errorf("encode the referrers index: %w", err)
		}
		if len(raw) <= maxFallbackIndex {
			return raw, nil
		}
		im.Manifests[next].Data = nil
	}
	raw, err := json.Marshal(im)
	if err != nil {
		return nil, fmt.Errorf("encode the referrers index: %w", err)
	}
	return raw, nil
}
