package imagescan

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"path"
	"runtime"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sync/errgroup"

	"github.com/shipgate/shipgate/pipeline/fault"
	"github.com/shipgate/shipgate/pipeline/version"
)

// node is a file of the image that the scan keeps track of: a file it judged (named like a
// CHANGELOG, or declared) or a symbolic link (any name: links are needed to resolve paths).
type node struct {
	symlink bool
	target  string  // a symlink's target as written, or the target of a hard link
	layer   v1.Hash // the layer holding the content (or the link)
	size    int64
	c       verdict // for a judged file
}

// fsState is the image's final filesystem as far as the scan needs it: the layers merged so far.
type fsState struct {
	j     *judge
	seed  maphash.Seed
	nodes map[string]*node
}

func newFS(j *judge) *fsState {
	return &fsState{j: j, seed: maphash.MakeSeed(), nodes: map[string]*node{}}
}

// aheadPerCPU bounds, per CPU, how many layers may be read ahead of the lowest layer not yet
// applied (their deltas wait to be applied in order).
const aheadPerCPU = 4

// readImage streams every layer once. Layers are read concurrently, one per CPU, each into a
// delta that needs nothing from the layers below it, and the deltas are applied bottom to top as
// soon as they are ready, so the result is the one of reading the layers in order. A CPU moves on
// to the next layer as soon as it has read one, whether or not the layers below are done, so a
// big layer (a base image) does not idle the other CPUs; what that costs is memory for the deltas
// waiting their turn, at most aheadPerCPU per CPU (a delta holds 8 bytes a path and the verdicts
// of CHANGELOG files, never file contents).
//
// It returns only once every reader has stopped, also when it stops early: a layer that cannot
// be read, or a cancelled ctx, stops the readers of the others at their next read.
func (s *fsState) readImage(ctx context.Context, img v1.Image, res *Result) error {
	layers, err := img.Layers()
	if err != nil {
		return fault.Unreadablef("list the layers of the %s image: %w", res.Platform, err)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpus := runtime.GOMAXPROCS(0)
	g, gctx := errgroup.WithContext(ctx)
	// A slot per CPU for the readers, and one for the goroutine that starts them: it holds its
	// slot until it has started every layer.
	g.SetLimit(cpus + 1)
	w := window{ahead: make(chan struct{}, aheadPerCPU*cpus), out: make([]chan layerRead, len(layers))}
	for i := range w.out {
		w.out[i] = make(chan layerRead, 1)
	}
	g.Go(func() error {
		s.startLayers(gctx, g, layers, w, res.Platform)
		return nil
	})
	applyErr := s.applyLayers(gctx, w, res)
	if applyErr != nil {
		cancel()
	}
	// The first reader's failure, when one failed: a layer below it may have stopped only
	// because of it.
	if err := g.Wait(); err != nil {
		return err
	}
	return applyErr
}

// window is how readImage paces its readers: ahead holds a token for each layer started and not
// yet applied, and out[i] receives layer i's delta.
type window struct {
	ahead chan struct{}
	out   []chan layerRead
}

// layerRead is one layer's delta, or why it could not be read.
type layerRead struct {
	d   *delta
	err error
}

// startLayers starts a reader for each layer, in order, as soon as the layer is within the
// window above the lowest one not yet applied and g has a free slot (g.Go waits for one). It
// stops when ctx is done. A reader sends its layer's delta to out, and returns its failure to g,
// naming the layer, so that g stops the others.
func (s *fsState) startLayers(ctx context.Context, g *errgroup.Group, layers []v1.Layer, w window, platform version.Platform) {
	for i, l := range layers {
		select {
		case w.ahead <- struct{}{}:
		case <-ctx.Done():
			return
		}
		if ctx.Err() != nil { // the select takes either when both are ready
			return
		}
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				w.out[i] <- layerRead{&delta{}, err}
				return err
			}
			d, err := s.readLayer(ctx, l)
			if err != nil {
				if ctx.Err() != nil {
					err = ctx.Err() // stopped: what failed is the reason the scan stopped
				}
				err = fmt.Errorf("layer %d (%s) of the %s image: %w", i+1, d.digest, platform, err)
			}
			w.out[i] <- layerRead{d, err}
			return err
		})
	}
}

// applyLayers applies the deltas bottom to top as they arrive, and gives each applied layer's
// place in the window back. It stops at the first layer that could not be read, or when ctx is
// done.
func (s *fsState) applyLayers(ctx context.Context, w window, res *Result) error {
	for i := range w.out {
		var r layerRead
		select {
		case r = <-w.out[i]:
		case <-ctx.Done():
			return ctx.Err()
		}
		res.Bytes += r.d.bytes
		if r.err != nil {
			return r.err
		}
		s.apply(r.d)
		res.Layers++
		<-w.ahead
	}
	return nil
}

// delta is what one layer does to the filesystem below it.
type delta struct {
	digest   v1.Hash
	bytes    int64
	upper    map[string]*node    // judged files and symlinks the layer writes
	links    map[string]string   // hard links to files not in this layer: path -> target
	gone     []string            // whiteouts: the path and everything below it
	opaque   []string            // opaque directories: everything below them
	replaced map[uint64]struct{} // hashes of the paths of the layer's other non-directories
	dirs     map[uint64]struct{} // hashes of the layer's directories (they replace a lower file)
	buf      []byte              // reused for the one file being judged
}

// readLayer streams one layer once into a delta.
func (s *fsState) readLayer(ctx context.Context, l v1.Layer) (*delta, error) {
	d := &delta{upper: map[string]*node{}, links: map[string]string{}, replaced: map[uint64]struct{}{}, dirs: map[uint64]struct{}{}}
	var err error
	if d.digest, err = l.Digest(); err != nil {
		return d, fault.Unreadablef("digest: %w", err)
	}
	rc, err := openLayer(l)
	if err != nil {
		return d, fault.Unreadablef("open: %w", err)
	}
	defer rc.Close()
	cr := &countingReader{ctx: ctx, r: rc}
	defer func() { d.bytes, d.buf = cr.n, nil }()
	tr := tar.NewReader(cr)
	for {
		if err := ctx.Err(); err != nil {
			return d, err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return d, fault.Unreadablef("read tar: %w", err)
		}
		if err := s.entry(d, tr, h); err != nil {
			return d, err
		}
	}
	// Read to the end: a verifying reader (remote layers) checks the digest there.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return d, fault.Unreadablef("read tar: %w", err)
	}
	return d, nil
}

// entry records one tar entry: a whiteout, a directory, a judged file, a link or another file.
func (s *fsState) entry(d *delta, tr *tar.Reader, h *tar.Header) error {
	p := normalize(h.Name)
	dir, base := path.Split(p)
	if base == ".wh..wh..opq" {
		d.opaque = append(d.opaque, path.Clean(dir))
		return nil
	}
	if strings.HasPrefix(base, ".wh..wh.") {
		return nil // other AUFS metadata (.wh..wh.plnk, .wh..wh.aufs): not files of the image
	}
	if wh, ok := strings.CutPrefix(base, ".wh."); ok {
		d.gone = append(d.gone, path.Join(dir, wh))
		return nil
	}
	if h.Typeflag == tar.TypeDir {
		d.dirs[s.hash(p)] = struct{}{}
		return nil
	}
	d.replaced[s.hash(p)] = struct{}{}
	switch h.Typeflag {
	case tar.TypeSymlink:
		d.upper[p] = &node{symlink: true, target: h.Linkname, layer: d.digest}
	case tar.TypeLink:
		s.hardLink(d, p, normalize(h.Linkname))
	case tar.TypeReg, tar.TypeGNUSparse: // archive/tar reports the old TypeRegA as TypeReg
		if s.j.candidate(p) {
			n, err := s.readFile(d, tr, h)
			if err != nil {
				return err
			}
			d.upper[p] = n
		}
	}
	return nil
}

func (s *fsState) hash(p string) uint64 { return maphash.String(s.seed, p) }

// readFile reads and judges one candidate file, unless it is over the size cap.
func (s *fsState) readFile(d *delta, tr *tar.Reader, h *tar.Header) (*node, error) {
	n := &node{layer: d.digest, size: h.Size}
	if h.Size > s.j.maxSize {
		n.c = verdict{v: Skipped, reason: fmt.Sprintf("%d bytes, over the %d-byte cap of the scan: not read", h.Size, s.j.maxSize)}
		return n, nil
	}
	if int64(cap(d.buf)) < h.Size {
		d.buf = make([]byte, h.Size)
	}
	b := d.buf[:h.Size]
	if _, err := io.ReadFull(tr, b); err != nil {
		return nil, fault.Unreadablef("read %s: %w", normalize(h.Name), err)
	}
	n.c = s.j.content(b)
	return n, nil
}

// hardLink records link p to t. A link to a file of the same layer shares what the scan knows of
// it; a link to a lower file (which tar writers do not make, but a layer may hold) is resolved
// when the delta is applied.
func (s *fsState) hardLink(d *delta, p, t string) {
	if n, ok := d.upper[t]; ok && (n.symlink || s.j.candidate(p)) {
		d.upper[p] = linkTo(n, t)
		return
	}
	if s.j.candidate(p) {
		d.links[p] = t
	}
}

// linkTo is a hard link to n, which lies at t.
func linkTo(n *node, t string) *node {
	cp := *n
	if !n.symlink {
		cp.target = t
	}
	return &cp
}

// unreadLink is a hard link named like a CHANGELOG whose target the scan did not read.
func unreadLink(t string, layer v1.Hash) *node {
	return &node{layer: layer, target: t, c: verdict{v: Skipped, reason: fmt.Sprintf("hard link to %s, which is not named like a CHANGELOG, so its content was not read", t)}}
}

// countingReader counts the bytes read through it, or skipped. It stops reading once ctx is done,
// so a reader stops within a read of the scan's end, not at the next file of its layer.
type countingReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Seek skips forward when the stream can (a plain tar in a file, see fileTar): archive/tar then
// skips the bodies the scan does not read instead of reading them. Otherwise it fails, and
// archive/tar reads past them. Skipped bytes count as walked.
func (c *countingReader) Seek(off int64, whence int) (int64, error) {
	s, ok := c.r.(io.Seeker)
	if !ok {
		return -1, errors.ErrUnsupported
	}
	if _, err := s.Seek(off, whence); err != nil {
		return -1, err
	}
	c.n += off
	return c.n, nil
}
