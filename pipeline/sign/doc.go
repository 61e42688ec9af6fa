// Package sign signs and attests container image digests in the cosign v3 default format, stores
// the results in the registry next to the image, finds them again, and verifies them by policy.
//
// # What is written
//
// Every signature and attestation is a sigstore bundle (media type
// application/vnd.dev.sigstore.bundle.v0.3+json) whose content is a DSSE envelope (payload type
// application/vnd.in-toto+json) of an in-toto v1 statement about the digest:
//
//   - a signature is the statement cosign v3 `cosign sign` makes: subject {digest: {sha256: <hex>}},
//     predicateType https://sigstore.dev/cosign/sign/v1, predicate {};
//   - an attestation names the digest (and, for provenance, further digests) as subjects, with the
//     given predicate type and predicate: https://spdx.dev/Document for an SPDX JSON SBOM (cosign's
//     --type spdxjson), https://slsa.dev/provenance/v1 for provenance (--type slsaprovenance1).
//
// The bundle is stored as an OCI referrer of the digest, laid out as cosign v3.1.3 lays it out:
//
//	manifest   application/vnd.oci.image.manifest.v1+json
//	           artifactType application/vnd.dev.sigstore.bundle.v0.3+json
//	           subject      the signed manifest or index (media type, digest, size)
//	           annotations  org.opencontainers.image.created  (RFC 3339, UTC)
//	                        dev.sigstore.bundle.content       dsse-envelope
//	                        dev.sigstore.bundle.predicateType <the statement's predicate type>
//	config     application/vnd.oci.empty.v1+json, the 2-byte blob {}
//	layers[0]  application/vnd.dev.sigstore.bundle.v0.3+json, the bundle JSON; its descriptor
//	           also carries the bundle in data (base64) when it is at most 64 KiB
//
// The manifest is pushed by digest. Where the registry has the OCI referrers API it lists the
// referrer by itself; where it has not (GHCR, distribution 2.x), this package adds the manifest's
// descriptor (media type, digest, size, artifactType, annotations, and the manifest itself in
// data when it is at most 64 KiB) to the OCI image index tagged sha256-<hex of the subject> (the
// referrers tag schema), entries sorted by digest as go-containerregistry writes them; past 1 MiB
// the oldest entries lose their data, so that the index stays far below registries' manifest
// limits. A tag there that holds no index is not overwritten: signing refuses, naming it. That
// index is read, changed and written back, so a Store writes the referrers of one subject one
// after another, and reads the listing back after each write to add the referrer again if a
// concurrent writer elsewhere lost it.
//
// The data field is the OCI image spec's embedded content: a client may fill it before uploading,
// the decoded bytes are the content itself, and consumers should check them against digest and
// size. The blob is uploaded all the same, so tools that ignore data (or a registry that drops
// it) read it as before; stock cosign verifies what is written here in both lanes.
//
// # What is accepted
//
// A bundle is looked for among the referrers of the digest (artifactType or predicate-type
// annotation say it is a sigstore bundle; listings that say neither are opened and checked), and
// is accepted when sigstore-go verifies it under the Policy: the signature (key, or Fulcio
// certificate chaining to the trusted root, with its SCT), the transparency log entry, the
// certificate identity and issuer, and that the statement names the digest as a subject; then its
// predicate type must be the one asked for. Annotations are hints only; nothing unsigned decides.
// Stock `cosign verify` / `cosign verify-attestation` accept what is written here, and bundles
// that `cosign sign` / `cosign attest` (v3) write are accepted here, as are signatures and
// attestations in cosign's older format (below).
//
// # Cosign's older format
//
// When no bundle satisfies a requirement (and only then: the normal path makes no request for
// it), the tag cosign's older, tag-based format keeps next to the image is read: sha256-<hex>.sig
// for signatures, sha256-<hex>.att for attestations, each an image manifest with one layer per
// signature (cosign v2's default; cosign v3 writes it with --new-bundle-format=false). Each tag is
// read at most once per subject and verification, each layer's blob at most once. A layer is
// verified by sigstore-go like a bundle holding the same signature, under the same Policy:
//
//   - a .sig layer (application/vnd.dev.cosign.simplesigning.v1+json) is accepted when the
//     signature in its dev.cosignproject.cosign/signature annotation verifies over the layer's
//     bytes, and the payload is a "cosign container image signature" whose
//     critical.image.docker-manifest-digest is the subject and whose critical.identity
//     docker-reference names the subject's repository (tag or digest after it ignored). cosign
//     verify does not check that name; containers/image does, and so does this package, so that
//     a signature made for another repository (cosign copy) does not pass for this one;
//   - an .att layer (application/vnd.dsse.envelope.v1+json) is a DSSE envelope whose signature
//     over the PAE must verify, whose in-toto statement must name the subject, and which is then
//     judged exactly as a bundle's statement is (predicate type, and the provenance's commit);
//     its predicateType annotation only routes (skipping never accepts anything).
//
// Key mode verifies with the Policy's key. Keyless mode takes the Fulcio certificate from the
// dev.sigstore.cosign/certificate annotation and chains it to the trusted root (the
// dev.sigstore.cosign/chain annotation is not needed), with its SCT and identity checked as for
// bundles. Unless the Policy ignores the transparency log, the Rekor entry cosign recorded in
// the dev.sigstore.cosign/bundle annotation (entry body and signed entry timestamp) must verify
// under the trusted root's log keys and match the signature and certificate or key; a layer
// without one is refused saying so. An RFC 3161 timestamp annotation is not read. With
// IgnoreTlog, as cosign --insecure-ignore-tlog, the entry is not looked at (offline key mode).
//
// Whatever is not accepted is refused naming the tag (repository:sha256-<hex>.sig or .att), why
// each layer failed, and the cosign command that signs the digest again in the bundle format:
// cosign sign [--key cosign.key] IMAGE@sha256:<hex>, or cosign attest [--key cosign.key] --type
// slsaprovenance1|spdxjson --predicate FILE IMAGE@sha256:<hex> (--key in key mode only). Store.
// Bundle refuses an attestation accepted in the older format: it has no bundle to hand on.
//
// # Requests
//
// A Store lists each subject's referrers once (Registry.Referrers, no artifact type filter, so
// that bundles other tools wrote without one are seen) and keeps the listing for its life: make
// one Store per phase run. When the Store writes a referrer of a subject, the listing it reads back
// after the write replaces the kept one (a failed write drops it), so a later lookup of the same
// phase sees what was just written; a failed listing is not kept. The Store's first listing goes
// alone, so that a registry without the referrers API is asked once per phase (the registry stack
// remembers the 404), not once per subject listed side by side. VerifyRelease fetches each bundle
// once for all the requirements on that subject; a bundle whose own statement names another
// predicate type is not verified against a requirement it cannot meet (the statement is read
// unverified for routing only: skipping never accepts anything).
//
// Content embedded in a descriptor (a referrer manifest in the sha256-<hex> index, a bundle in
// its layer descriptor, a payload in an older-format layer) is used only when it has the size and
// sha256 digest its descriptor names, and so is the very content a GET by digest returns;
// anything else in data is ignored and the content fetched by digest as if there were none. It
// is then verified exactly as fetched content is. Without the referrers API, a verification of
// a release (three subjects, six bundles) thus reads the three sha256-<hex> tags and nothing else;
// with it, the three listings and the six referrer manifests (a registry's listing carries no
// data), and no blob.
//
// # Registry stack and errors
//
// A Store made with NewRegistryStore reaches registries through a Registry: in shipgate, the
// phase's *registry.Client, whose RemoteOptions carry its session, credentials, retries on the
// injected clock (Retry-After included), plain-HTTP rule and logger, and whose Fail classifies
// and scrubs every registry error. This package does not import the registry package; it only
// needs that interface. Every error is classified where it happens (package fault) and wrapped
// with %w: a registry that cannot be reached while verifying is Unreachable (a gate reports
// "could not look", not a refusal); a malformed bundle is Unreadable (when nothing else was
// found); a bundle that does not verify, or no bundle at all, is a refusal (false from
// Signed/Attested, a Refused *ReleaseError from VerifyRelease); an incomplete policy or an
// invalid predicate is BadInput. Referrers are dated by the Store's clock.
package sign
