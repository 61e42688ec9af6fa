// Package registry is everything shipgate does to images in an OCI registry, built on
// go-containerregistry (remote, mutate, partial): it never writes registry HTTP itself.
//
// # Tags
//
//   - X.Y.Z-<arch> (1.2.3-amd64, 1.2.3-arm64, 1.2.3-arm-v7): one per platform, the platform
//     manifest itself.
//   - X.Y.Z: an OCI image index with one entry per platform, each carrying its platform.
//   - latest, and with floating tags X.Y and X: moved only by promote and rollback, always to
//     the exact bytes of an X.Y.Z index (same digest; nothing is re-wrapped).
//
// Publish writes the first two and never latest; nothing is ever pushed without an explicit
// tag or digest. Platform images built on different machines are joined by digest: each
// builder pushes its image by digest (the Dagger engine's own push) and Publish builds the index
// from the digests. Every platform manifest's config (read from the registry for a digest
// source) must name the platform that was built, since a real engine has been seen labelling arm64
// builds amd64. A manifest PUT by digest is not read back: the registry stores it under that digest
// or refuses it; tags, which move, are.
//
// # Annotations
//
// The index carries org.opencontainers.image.version (X.Y.Z), .source (repository URL),
// .revision (the finalize commit) and .created (the finalize commit's time, not the wall clock),
// so publishing the same input twice yields the same index digest.
//
// # Immutability
//
// Publish first looks at X.Y.Z. Holding the same index, it is reused and nothing is written.
// Holding anything else, publish refuses (ErrImmutable) unless asked to Rebuild, and always once
// the version was promoted. Blobs the registry has are never uploaded again (HEAD, or a
// cross-repository mount within one registry), blobs shared by platforms are uploaded once, and
// a bounded number of uploads run at a time: a re-run uploads 0 bytes.
//
// # Promote: check and retag
//
// CheckIndex verifies that X.Y.Z is an index holding every expected platform and that each
// X.Y.Z-<arch> resolves to the index's entry. PlanTags then reads the verified digest once and
// decides which tags move; ApplyTags PUTs that manifest's bytes unchanged, skips a tag already
// there, refuses a tag that moved since the plan, and reads every tag back. What a tag holds is
// always decided from a GET, by the digest of the bytes returned, never from a HEAD answer (a
// cache or CDN in front of the registry can serve a stale Docker-Content-Digest), and a tag counts
// as moved only once read back. Promote's cost is independent of image size: it reads and writes
// manifests only.
//
// # Hotfix rule, floating tags, pre-releases
//
// latest moves only forward, judged by the version annotation of the index it holds: promoting
// a version lower than that (a hotfix of an older line) leaves latest alone and is reported as a
// skip, not an error. latest holding something without a readable version annotation is reported
// as blocked and moves only with AllowUnknownLatest. Floating tags (opt-in) X.Y and X move only
// when the version is the highest of that line. Pre-releases never move latest or floating tags.
//
// # Rollback
//
// Only PlanRollback moves latest backwards: it checks that the earlier version's index exists
// and is complete, then moves latest (and with floating tags that version's X.Y and X) to it.
//
// # Cleanup
//
// CandidateTags lists a version's candidate tags (X.Y.Z-rc.N, X.Y.Z-rcN and their per-arch tags)
// from ?last=X.Y.Z-rc on, stopping past them when the registry keeps tags in lexical order, in
// pages; a listing over the page limit fails naming it. PlanDelete reads, with GETs, the tags to
// delete and the tags to keep, and plans the manifests to delete (the tags' manifests, an index's
// children, their referrers and sha256-<hex> referrers tags) and those kept because a kept tag
// still refers to them, with the reason. ApplyDelete deletes by digest through the distribution
// API, then the tags that remain; gone already is success, so a re-run converges; a registry that
// refuses deletes (405/UNSUPPORTED: ghcr.io, distribution without storage.delete.enabled) is a
// refusal wrapping ErrDeleteUnsupported that says what to do (on ghcr.io: the plan's Digests are
// the package versions to delete through GitHub's packages API). ListOrphans finds referrers tags
// whose subject is gone; untagged manifests cannot be listed through the OCI API. The tag listing
// makes its requests (go-containerregistry's lister cannot send ?last=) over the client's session
// and transport (same handshake, retries, plain-HTTP rule and scrubbing).
//
// # Referrers
//
// Referrers lists a subject's signatures and attestations completely: through the OCI referrers
// API, following its Link pages (a listing over the page limit fails naming it), or, on a
// registry without the API (ghcr.io; asked once per registry and phase), from the sha256-<hex>
// tag's index; optionally of one artifact type, filtered by the registry when it says it did
// (OCI-Filters-Applied) and here otherwise.
//
// # Auth, transport, retries
//
// Credentials are a username and password or token (GHCR: a token with write:packages), or none.
// Plain HTTP is used only for hosts listed in WithInsecureHosts (shipgate's --plain-http). Failed
// requests (408, 429, 5xx, dropped connections) are retried a bounded number of times by the
// client's own transport, waiting on the client's clock (WithClock): Retry-After when the
// registry gives one (capped), otherwise a doubling backoff; 401, 403 and 404 are not retried.
// go-containerregistry's own retries are off. RemoteOptions hands this whole stack (credentials,
// transport, retries, plain-HTTP rule, logger) to other packages that use go-containerregistry,
// such as the signature store, and Fail gives their errors the same treatment.
//
// One Client is one phase's session: the registry is pinged once, and a token (registries with
// Bearer auth, such as ghcr.io) asked once per scope while it lives, whichever of the puller,
// pusher, deletes or listings start the handshake; a token the registry stops taking is asked
// for again. Content read by digest (manifests, configs, bundles) is read once; HEADs by digest
// are answered from it, except existence checks.
//
// # Errors
//
// Every error is classified where it happens (package fault): a registry that cannot be reached
// (dial errors, dropped connections, 5xx and 429 after retries) is Unreachable; an answer that
// cannot be read (a manifest that does not parse) is Unreadable; 401, 403 and 404 and a world not
// as required (a tag moved since the plan, an immutable version) are Refused; a bad reference or
// argument is BadInput. An *Error names the operation, the reference and the flag to change
// (--image, --registry-username, --plain-http). Secrets — the password and registry tokens — never
// appear in errors or logs.
package registry
