package sign

// Content embedded in descriptors (OCI image-spec, descriptor "data"): a client may embed small
// content in a descriptor before uploading what holds it, to spare readers a round trip; the
// decoded bytes must be the content itself, and consumers should check them against the
// descriptor's digest and size.

import (
	"crypto/sha256"
	"encoding/hex"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// maxEmbedded bounds what this package embeds in a descriptor: a bundle in its referrer
// manifest's layer descriptor, a referrer manifest in its sha256-<hex> index entry.
const maxEmbedded = 64 << 10

// embed returns d carrying content (its bytes) in data when content is at most maxEmbedded bytes;
// d as it is otherwise.
func embed(d v1.Descriptor, content []byte) v1.Descriptor {
	if len(content) <= maxEmbedded {
		d.Data = content
	}
	return d
}

// embedded returns the content d carries in data when it is the content d describes: as many
// bytes as d's size, hashing to d's sha256 digest. Anything else (no data, another algorithm, a
// mismatch) is not content: ok is false, and the caller fetches it by digest as if there were
// no data.
func embedded(d v1.Descriptor) (_ []byte, ok bool) {
	if d.Data == nil || int64(len(d.Data)) != d.Size || d.Digest.Algorithm != "sha256" {
		return nil, false
	}
	sum := sha256.Sum256(d.Data)
	if hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, false
	}
	return d.Data, true
}
