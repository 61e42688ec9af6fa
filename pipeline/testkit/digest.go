package testkit

import (
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Digest is the digest of x (an image, an index or a layer); an error fails the test.
func Digest(t testing.TB, x interface{ Digest() (v1.Hash, error) }) v1.Hash {
	t.Helper()
	d, err := x.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
