package sign

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	intoto "github.com/in-toto/attestation/go/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shipgate/shipgate/pipeline/clock"
	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/provenance"
)

// Predicate types this package writes and looks for.
const (
	// SignaturePredicateType is the predicate type of the statement cosign v3 signs for `cosign
	// sign`: a plain signature over the digest.
	SignaturePredicateType = "https://sigstore.dev/cosign/sign/v1"
	// SPDXPredicateType is the predicate type of an SPDX SBOM attestation (cosign --type spdx or
	// spdxjson).
	SPDXPredicateType = "https://spdx.dev/Document"
	// ProvenancePredicateType is SLSA provenance v1 (cosign --type slsaprovenance1).
	ProvenancePredicateType = provenance.PredicateType
)

// OCI names of the stored layout (see the package documentation).
const (
	// BundleMediaType is the media type of a sigstore bundle v0.3: the referrer manifest's
	// artifactType and its layer's media type.
	BundleMediaType = "application/vnd.dev.sigstore.bundle.v0.3+json"
	// AnnotationPredicateType is the referrer annotation naming the statement's predicate type
	// (a hint for finding bundles; never trusted).
	AnnotationPredicateType = "dev.sigstore.bundle.predicateType"
	// AnnotationContent is the referrer annotation naming the bundle's content, "dsse-envelope".
	AnnotationContent = "dev.sigstore.bundle.content"
	// AnnotationCreated is the referrer annotation with the time the referrer was written.
	AnnotationCreated = "org.opencontainers.image.created"

	bundleMediaTypePrefix = "application/vnd.dev.sigstore.bundle"
	emptyConfigMediaType  = "application/vnd.oci.empty.v1+json"
)

// maxBundleSize bounds a bundle read from a registry; an SPDX document of a large image fits.
const maxBundleSize = 64 << 20

// maxCandidates bounds how many bundles one lookup opens, newest first.
const maxCandidates = 50

// Registry is the registry stack a Store reaches registries through: *registry.Client is one, so
// signatures share the client's transport, retries on its clock, plain-HTTP rule, logger and
// secret scrubbing.
type Registry interface {
	// RemoteOptions are the go-containerregistry options of the stack, for requests under ctx.
	RemoteOptions(ctx context.Context) []remote.Option
	// Fail turns an error of a request made with RemoteOptions into a classified error (see
	// package fault) naming the operation ("reading", "pushing", ...) and ref, with no secret in
	// its text.
	Fail(op, ref string, err error) error
	// Referrers lists every referrer of subject, of artifactType ("" for all): through the OCI
	// referrers API (every page), or from the sha256-<hex> tag's index on a registry without it.
	// None is no error. Its errors are classified and scrubbed already.
	Referrers(ctx context.Context, subject name.Digest, artifactType string) ([]v1.Descriptor, error)
}

// Store signs, attests and verifies digests in OCI registries. Its methods may be called
// concurrently; writes for one subject are serialized.
//
// A Store lists each subject's referrers once and keeps the listing, updated with what it writes
// itself, until it is dropped: make one Store per phase run, never one for a whole process.
type Store struct {
	reg Registry
	clk clock.Clock

	mu       sync.Mutex
	locks    map[string]*sync.Mutex
	listings map[string]*listingMemo

	// probe makes a Store's first listing go alone: the answer tells the registry stack whether
	// the registry has the referrers API, so listings side by side after it do not all ask.
	probe  sync.Mutex
	probed atomic.Bool
}

// String names the Store without its registry stack: printing a Store shows no credential.
func (s *Store) String() string { return "signature store" }

// GoString keeps %#v from printing the registry stack and its credentials.
func (s *Store) GoString() string { return s.String() }

// NewRegistryStore returns a Store that reaches registries through reg and dates the referrers it
// writes by clk (nil: the wall clock). Make one per phase run: it keeps what it listed.
func NewRegistryStore(reg Registry, clk clock.Clock) *Store {
	return &Store{reg: reg, clk: clock.Or(clk), locks: map[string]*sync.Mutex{}, listings: map[string]*listingMemo{}}
}

// conn is one operation's view of the registry: options sharing one puller and one pusher, so
// that the registry's auth handshake (ping, token) happens once for the whole operation.
type conn struct {
	opts  []remote.Option
	reg   Registry
	store *Store
}

// fail classifies and scrubs a registry error through the store's Registry.
func (c conn) fail(op string, ref name.Reference, err error) error {
	return c.reg.Fail(op, ref.String(), err)
}

// conn returns the operation's options. Its pusher has go-containerregistry's referrers tag
// fallback off: on a registry without the referrers API the store writes the sha256-<hex> index
// itself, with the referrer manifest embedded (see putReferrer). It is a pusher of its own, not
// the stack's (Reuse of a nil pusher drops the stack's), whose handshake the stack keeps.
func (s *Store) conn(ctx context.Context) (conn, error) {
	opts := s.reg.RemoteOptions(ctx)
	pull, err := remote.NewPuller(opts...)
	if err != nil {
		return conn{}, fault.BadInputf("registry options: %w", err)
	}
	push, err := remote.NewPusher(append(slices.Clip(opts), remote.Reuse((*remote.Pusher)(nil)), remote.WithReferrersTagFallback(false))...)
	if err != nil {
		return conn{}, fault.BadInputf("registry options: %w", err)
	}
	return conn{opts: append(opts, remote.Reuse(pull), remote.Reuse(push)), reg: s.reg, store: s}, nil
}

// subjectKey names subject for the Store's per-subject locks and listings.
func subjectKey(subject name.Digest) string {
	return subject.Context().Name() + "@" + subject.DigestStr()
}

// lock serializes writes of referrers for one subject: without a referrers API they all change the
// same sha256-<hex> index tag.
func (s *Store) lock(subject name.Digest) func() {
	key := subjectKey(subject)
	s.mu.Lock()
	l := s.locks[key]
	if l == nil {
		l = &sync.Mutex{}
		s.locks[key] = l
	}
	s.mu.Unlock()
	l.Lock()
	return l.Unlock
}

// Subject is one artifact a statement is about.
type Subject struct {
	// Name is the artifact's name (for images, the repository).
	Name string
	// Digest is "sha256:<hex>".
	Digest string
}

// Statement is a verified in-toto statement.
type Statement struct {
	// PredicateType is the statement's predicate type URI.
	PredicateType string
	// Subjects are the artifacts the statement is about.
	Subjects []Subject
	// Predicate is the predicate JSON exactly as signed (none for a signature in cosign's older
	// format, whose payload has no predicate).
	Predicate json.RawMessage
}

// Covers says whether the statement names digest ("sha256:<hex>") as a subject.
func (st Statement) Covers(digest string) bool {
	return slices.ContainsFunc(st.Subjects, func(s Subject) bool { return s.Digest == digest })
}

// Sign signs subject (an image manifest or index digest) the way `cosign sign` does and stores
// the bundle as a referrer of subject. It signs again when called again; observe with Signed
// first to skip a digest that is already signed.
func (s *Store) Sign(ctx context.Context, subject name.Digest, sg Signer) error {
	stmt, err := statement(SignaturePredicateType, []byte("{}"), false, subject)
	if err != nil {
		return err
	}
	return s.write(ctx, subject, SignaturePredicateType, stmt, sg)
}

// Attest signs an in-toto statement with predicateType and predicate (a JSON object, stored
// byte for byte) about subject, and about each of also, and stores it as a referrer of subject
// only. For provenance of a multi-platform image, subject is the index and also the platform
// manifests. Observe with Attested first to skip what is already attested.
func (s *Store) Attest(ctx context.Context, subject name.Digest, predicateType string, predicate []byte, sg Signer, also ...name.Digest) error {
	if predicateType == "" {
		return fault.BadInputf("attest: predicate type is empty: give the predicate's type URI, for example %s", SPDXPredicateType)
	}
	stmt, err := statement(predicateType, predicate, true, subject, also...)
	if err != nil {
		return err
	}
	return s.write(ctx, subject, predicateType, stmt, sg)
}

type statementJSON struct {
	Type          string          `json:"_type"`
	Subject       []subjectJSON   `json:"subject"`
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

type subjectJSON struct {
	Name   string            `json:"name,omitempty"`
	Digest map[string]string `json:"digest"`
}

// statement encodes an in-toto v1 statement; the predicate keeps its bytes (compacted), and the
// result is checked with the in-toto Go types. named gives each subject its repository as name,
// as `cosign attest` does (`cosign sign` names none).
func statement(predicateType string, predicate []byte, named bool, subject name.Digest, also ...name.Digest) ([]byte, error) {
	var pred bytes.Buffer
	if err := json.Compact(&pred, predicate); err != nil || !bytes.HasPrefix(pred.Bytes(), []byte("{")) {
		return nil, fault.BadInputf("predicate of type %s is not a JSON object: give the document itself (for an SBOM, syft's SPDX JSON output)", predicateType)
	}
	st := statementJSON{Type: intoto.StatementTypeUri, PredicateType: predicateType, Predicate: pred.Bytes()}
	seen := map[string]bool{}
	for _, d := range append([]name.Digest{subject}, also...) {
		alg, hexDigest, ok := strings.Cut(d.DigestStr(), ":")
		if !ok || alg != "sha256" {
			return nil, fault.BadInputf("subject %s: only sha256 digests can be signed", d)
		}
		if seen[d.DigestStr()] {
			continue
		}
		seen[d.DigestStr()] = true
		sj := subjectJSON{Digest: map[string]string{alg: hexDigest}}
		if named {
			sj.Name = d.Context().Name()
		}
		st.Subject = append(st.Subject, sj)
	}
	raw, err := json.Marshal(st)
	if err != nil {
		return nil, fmt.Errorf("encode statement: %w", err)
	}
	check := &intoto.Statement{}
	if err := protojson.Unmarshal(raw, check); err != nil {
		return nil, fault.BadInputf("statement is not an in-toto statement: %w", err)
	}
	if err := check.Validate(); err != nil {
		return nil, fault.BadInputf("statement is not a valid in-toto statement: %w", err)
	}
	return raw, nil
}

// write signs statement and stores the bundle as a referrer of subject.
func (s *Store) write(ctx context.Context, subject name.Digest, predicateType string, stmt []byte, sg Signer) error {
	if sg == nil {
		// Callers build the signer from --sign before writing: no flag can get here.
		return fmt.Errorf("internal error: no signer to sign %s with; this is a bug in shipgate, please report it", subject)
	}
	unlock := s.lock(subject)
	defer unlock()
	cn, err := s.conn(ctx)
	if err != nil {
		return err
	}
	desc, err := remote.Head(subject, cn.opts...)
	if err != nil {
		if isNotFound(err) {
			return fault.Refusedf("cannot sign %s: no such manifest in the registry: push the image before signing it", subject)
		}
		return fmt.Errorf("cannot sign %s: %w", subject, cn.fail("reading", subject, err))
	}
	bundle, err := sg.signStatement(ctx, stmt)
	if err != nil {
		return err
	}
	return s.putReferrer(ctx, cn, subject, *desc, bundle, predicateType)
}

// rawManifest is a manifest pushed byte for byte.
type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

// referrerManifest uploads the blobs of a referrer of subject holding bundle and returns its
// manifest, and the descriptor that lists it (as the referrers API would, with the manifest
// embedded when small enough). The bundle layer's descriptor carries the bundle itself (data)
// when it is small enough, so that a reader needs no blob request; the blob is uploaded all the
// same.
func (s *Store) referrerManifest(cn conn, subject name.Digest, subjectDesc v1.Descriptor, bundle []byte, predicateType string) ([]byte, v1.Descriptor, error) {
	repo := subject.Context()
	cfg := static.NewLayer([]byte("{}"), emptyConfigMediaType)
	layer := static.NewLayer(bundle, BundleMediaType)
	for _, l := range []struct {
		what  string
		layer v1.Layer
	}{{"empty config", cfg}, {"bundle", layer}} {
		if err := remote.WriteLayer(repo, l.layer, cn.opts...); err != nil {
			d, _ := l.layer.Digest()
			return nil, v1.Descriptor{}, fmt.Errorf("store %s of %s for %s: %w", l.what, predicateType, subject, cn.fail("uploading", repo.Digest(d.String()), err))
		}
	}
	cfgDigest, _ := cfg.Digest()
	layerDigest, _ := layer.Digest()
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		ArtifactType:  BundleMediaType,
		Config:        v1.Descriptor{MediaType: emptyConfigMediaType, Digest: cfgDigest, Size: 2},
		Layers:        []v1.Descriptor{embed(v1.Descriptor{MediaType: BundleMediaType, Digest: layerDigest, Size: int64(len(bundle))}, bundle)},
		Subject:       &v1.Descriptor{MediaType: subjectDesc.MediaType, Digest: subjectDesc.Digest, Size: subjectDesc.Size},
		Annotations: map[string]string{
			AnnotationCreated:       s.clk.Now().UTC().Format(time.RFC3339),
			AnnotationContent:       "dsse-envelope",
			AnnotationPredicateType: predicateType,
		},
	}
	raw, err := json.Marshal(m)
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("encode referrer manifest: %w", err)
	}
	h, size, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return nil, v1.Descriptor{}, fmt.Errorf("digest of referrer manifest: %w", err)
	}
	listed := v1.Descriptor{MediaType: types.OCIManifestSchema1, Digest: h, Size: size, ArtifactType: BundleMediaType, Annotations: m.Annotations}
	return raw, embed(listed, raw), nil
}

// putReferrer stores bundle as a referrer of subject and checks that the registry lists it. On a
// registry without the referrers API it adds the referrer to the sha256-<hex> index itself (see
// addToFallback). That update is read-modify-write: if a writer elsewhere overwrote the index
// between our read and write, our referrer is missing from the listing read back, and adding
// again puts it back. The listing read back becomes the Store's listing of subject.
func (s *Store) putReferrer(ctx context.Context, cn conn, subject name.Digest, subjectDesc v1.Descriptor, bundle []byte, predicateType string) (err error) {
	// Whatever happens, the listing kept from before the write is out of date.
	s.forget(subject)
	defer func() {
		if err != nil {
			s.forget(subject)
		}
	}()
	raw, desc, err := s.referrerManifest(cn, subject, subjectDesc, bundle, predicateType)
	if err != nil {
		return err
	}
	ref := subject.Context().Digest(desc.Digest.String())
	for attempt := 1; ; attempt++ {
		api, err := putManifest(cn, ref, raw)
		if err != nil {
			return fmt.Errorf("store %s referrer %s of %s: %w", predicateType, desc.Digest, subject, err)
		}
		if !api {
			if err := addToFallback(cn, subject, desc); err != nil {
				return fmt.Errorf("store %s referrer %s of %s: %w", predicateType, desc.Digest, subject, err)
			}
		}
		descs, err := s.relist(ctx, subject)
		if err != nil {
			return fmt.Errorf("read back referrers of %s after storing %s: %w", subject, desc.Digest, err)
		}
		if slices.ContainsFunc(descs, func(d v1.Descriptor) bool { return d.Digest == desc.Digest }) {
			return nil
		}
		if attempt == 3 {
			return fault.Refusedf("stored %s referrer %s of %s, but the registry does not list it after %d attempts: another writer keeps replacing the %s tag; run one publish at a time", predicateType, desc.Digest, subject, attempt, fallbackTag(subject).TagStr())
		}
	}
}

func isNotFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}
