package imagescan

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/shipgate/shipgate/pipeline/fault"
)

// watchedLayer calls opened before its content is handed out (an error fails the read) and closed
// when the scan closes it.
type watchedLayer struct {
	v1.Layer
	opened func() error
	closed func()
}

func (w watchedLayer) Compressed() (io.ReadCloser, error)   { return w.watch(w.Layer.Compressed()) }
func (w watchedLayer) Uncompressed() (io.ReadCloser, error) { return w.watch(w.Layer.Uncompressed()) }

func (w watchedLayer) watch(rc io.ReadCloser, err error) (io.ReadCloser, error) {
	if err != nil {
		return nil, err
	}
	if err := w.opened(); err != nil {
		rc.Close()
		return nil, err
	}
	return closeHook{ReadCloser: rc, hook: w.closed}, nil
}

type closeHook struct {
	io.ReadCloser
	hook func()
}

func (c closeHook) Close() error { c.hook(); return c.ReadCloser.Close() }

// A layer slow to read (a big base layer) does not idle the other CPUs: with two, every layer
// above it is read while it still is, and the result is still the one of applying them in order.
func TestSlowLayerDoesNotHoldBackTheOthers(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	const above = 6 // more than the CPUs, within aheadPerCPU of them
	var left atomic.Int32
	left.Store(above)
	allRead := make(chan struct{})
	var slowOpened atomic.Bool
	noop := func() error { return nil }
	slow := watchedLayer{Layer: layerOf(t, true, file("app/CHANGELOG.md", withTBD)), closed: func() {},
		opened: func() error {
			slowOpened.Store(true)
			select {
			case <-allRead:
				return nil
			case <-time.After(20 * time.Second): // only when the scan is wrong; it never waits this long otherwise
				return errors.New("the layers above were not read while this one was")
			}
		}}
	layers := []v1.Layer{slow}
	for i := range above {
		body := withTBD
		if i == above-2 {
			body = finalized
		}
		pad := file(fmt.Sprintf("pad/%d", i), "") // no two layers alike: the image finds layers by digest
		l := layerAs(t, compression(i%3), file("app/CHANGELOG.md", body), pad)
		if i == above-1 {
			l = layerAs(t, plain, pad)
		}
		layers = append(layers, watchedLayer{Layer: l, opened: noop, closed: func() {
			if left.Add(-1) == 0 {
				close(allRead)
			}
		}})
	}
	res, err := scan(t, imageOf(t, layers...))
	if !slowOpened.Load() || left.Load() != 0 {
		t.Fatalf("the scan did not read the layers given: slow layer opened %v, %d others not closed", slowOpened.Load(), left.Load())
	}
	if err != nil || res.Layers != above+1 || fileAt(t, res, "/app/CHANGELOG.md").Layer != digestOf(t, layers[above-1]) {
		t.Fatalf("%v %+v", err, res)
	}
}

// streamWatch counts, for the layers of a test, the streams open (opened, not yet closed) and the
// reads under way (a Read called that has not returned).
type streamWatch struct {
	open, reading atomic.Int32
}

// idle fails the test when a stream is still open or a read still under way.
func (w *streamWatch) idle(t *testing.T) {
	t.Helper()
	if o, r := w.open.Load(), w.reading.Load(); o != 0 || r != 0 {
		t.Fatalf("the scan returned with %d layer stream(s) open and %d read(s) under way: a reader outlived it", o, r)
	}
}

// feedLayer is a layer whose content comes from read: each Read of its stream calls read, which
// tells how the stream behaves (a stalled download, an endless one). Its digest, size and media
// type are those of the layer it wraps.
type feedLayer struct {
	v1.Layer
	watch *streamWatch
	read  func(p []byte) (int, error)
}

func (l feedLayer) Compressed() (io.ReadCloser, error)   { return l.stream(), nil }
func (l feedLayer) Uncompressed() (io.ReadCloser, error) { return l.stream(), nil }

func (l feedLayer) stream() io.ReadCloser {
	l.watch.open.Add(1)
	return feedStream{l}
}

type feedStream struct{ l feedLayer }

func (s feedStream) Read(p []byte) (int, error) {
	s.l.watch.reading.Add(1)
	defer s.l.watch.reading.Add(-1)
	return s.l.read(p)
}

func (s feedStream) Close() error { s.l.watch.open.Add(-1); return nil }

// When the run is cancelled while layers are stalled mid-read, the scan returns the cancellation
// only once every reader has stopped: no layer stream is left open behind it.
func TestCancelledScanLeavesNoReaderBehind(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var w streamWatch
	var stalled atomic.Int32
	// Both CPUs' reads stall until the run is cancelled, which the second stalled read does.
	stall := func([]byte) (int, error) {
		if stalled.Add(1) == 2 {
			cancel()
		}
		<-ctx.Done()
		return 0, ctx.Err()
	}
	layers := []v1.Layer{
		feedLayer{Layer: layerAs(t, plain, file("a", "1")), watch: &w, read: stall},
		feedLayer{Layer: layerAs(t, plain, file("b", "2")), watch: &w, read: stall},
		layerAs(t, gzipped, file("app/CHANGELOG.md", finalized)),
	}
	_, err := Scan(ctx, Input{Image: imageOf(t, layers...), Platform: platform, Version: release, Changelog: []byte(finalized)})
	w.idle(t)
	if !errors.Is(err, context.Canceled) || stalled.Load() != 2 {
		t.Fatalf("want the cancellation after both layers stalled (%d did), got %v", stalled.Load(), err)
	}
}

// When a layer fails while another is still being read, the scan returns that failure only once
// the other reader has stopped, though its layer is endless: the reader notices the scan ended
// at its next read and never finishes the layer.
func TestFailedScanLeavesNoReaderBehind(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	var w streamWatch
	endlessReading := make(chan struct{})
	var once sync.Once
	// A tar stream of one file of a terabyte: a header, then zeros for as long as anyone reads.
	var buf bytes.Buffer
	if err := tar.NewWriter(&buf).WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: 1 << 40, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	hdr := buf.Bytes()
	var sent atomic.Int64
	endless := func(p []byte) (int, error) {
		once.Do(func() { close(endlessReading) })
		off := sent.Load()
		n := len(p)
		if off < int64(len(hdr)) {
			n = copy(p, hdr[off:])
		} else {
			clear(p)
		}
		sent.Add(int64(n))
		return n, nil
	}
	broken := watchedLayer{Layer: layerAs(t, plain, file("a", "1")), closed: func() {},
		opened: func() error {
			<-endlessReading // fail only once the endless layer is being read
			return errors.New("connection reset by peer")
		}}
	layers := []v1.Layer{broken, feedLayer{Layer: layerAs(t, plain, file("b", "2")), watch: &w, read: endless}}
	_, err := scan(t, imageOf(t, layers...))
	w.idle(t)
	if !errors.Is(err, fault.ErrUnreadable) || !strings.Contains(err.Error(), "layer 1") || !strings.Contains(err.Error(), "connection reset by peer") {
		t.Fatalf("want layer 1 unreadable, got %v", err)
	}
}
