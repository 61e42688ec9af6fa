package testkit

import (
	"crypto/subtle"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"golang.org/x/crypto/bcrypt"
)

// RegistryOptions shape a test registry.
type RegistryOptions struct {
	// Referrers turns on the OCI referrers API (GET /v2/<name>/referrers/<digest>), whose
	// descriptors carry the artifactType the distribution spec says (the manifest's artifactType,
	// else its config media type; go-containerregistry's registry alone always gives the config
	// media type). Off is like GHCR: signatures fall back to sha256-<hex> tags.
	Referrers bool
	// ReferrersPage, with Referrers, answers the referrers API in pages of at most this many
	// descriptors (sorted by digest), each but the last with a Link header to the next, as a
	// registry may; 0 answers with every referrer at once.
	ReferrersPage int
	// ReferrersFilter, with Referrers, applies ?artifactType= on the referrers API and says so with
	// the OCI-Filters-Applied header (go-containerregistry's registry ignores it).
	ReferrersFilter bool
	// Username and Password, when set, require HTTP Basic auth on every /v2/ request; with Token,
	// they are what the token service checks instead.
	Username, Password string
	// Token puts a token service in front of the registry, as ghcr.io does: every /v2/ request
	// needs a bearer token covering its repository and action, or is answered 401 with a
	// "WWW-Authenticate: Bearer realm=...,service=...,scope=..." challenge; the realm
	// (http://<host>/token) hands out tokens per scope and counts them (RegistryServer.Tokens).
	// With Username, a wrong password is refused and anonymous callers get pull only.
	Token bool
}

// RegistryServer is an in-process registry started by StartRegistry.
type RegistryServer struct {
	// Host is its host:port.
	Host string
	// Tokens counts what its token service did; nil without RegistryOptions.Token.
	Tokens *TokenLog

	auth *tokenAuth
}

// RevokeTokens makes every token handed out so far invalid, as an expiry would: requests bearing
// one are answered 401 with an invalid_token challenge, and a client must ask for a new one.
func (s *RegistryServer) RevokeTokens() {
	if s.auth == nil {
		return
	}
	s.auth.mu.Lock()
	clear(s.auth.grants)
	s.auth.mu.Unlock()
}

// Registry starts go-containerregistry's in-process registry on 127.0.0.1 and returns its
// host:port; it stops when the test ends.
func Registry(t testing.TB, o RegistryOptions) string {
	t.Helper()
	return StartRegistry(t, o).Host
}

// StartRegistry starts go-containerregistry's in-process registry on 127.0.0.1, shaped by o (the
// referrers API, its pages and filter, Basic or token auth); it stops when the test ends.
func StartRegistry(t testing.TB, o RegistryOptions) *RegistryServer {
	t.Helper()
	if (o.ReferrersPage > 0 || o.ReferrersFilter) && !o.Referrers {
		t.Fatalf("StartRegistry: ReferrersPage and ReferrersFilter shape the referrers API: set Referrers too")
	}
	var h http.Handler = registry.New(registry.WithReferrersSupport(o.Referrers), registry.Logger(log.New(io.Discard, "", 0)))
	if o.Referrers {
		h = referrersFacade{next: h, page: o.ReferrersPage, filter: o.ReferrersFilter}
	}
	srv := &RegistryServer{}
	switch {
	case o.Token:
		srv.auth = newTokenAuth(h, o.Username, o.Password)
		srv.Tokens, h = srv.auth.log, srv.auth
	case o.Username != "":
		h = basicAuth(h, o.Username, o.Password)
	}
	s := httptest.NewServer(h)
	t.Cleanup(s.Close)
	srv.Host = strings.TrimPrefix(s.URL, "http://")
	return srv
}

func basicAuth(next http.Handler, user, pass string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || subtle.ConstantTimeCompare([]byte(u), []byte(user)) != 1 || subtle.ConstantTimeCompare([]byte(p), []byte(pass)) != 1 {
			w.Header().Set("WWW-Authenticate", `Basic realm="testkit"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// RegistryBinary is the registry program RegistryProcess starts (Debian's docker-registry,
// distribution v2.8); SHIPGATE_REGISTRY_BIN overrides it.
func RegistryBinary() string {
	if b := os.Getenv("SHIPGATE_REGISTRY_BIN"); b != "" {
		return b
	}
	return "docker-registry"
}

// RegistryProcess starts a real registry process (distribution) with its storage in a temporary
// directory, waits until it answers, and stops it when the test ends. It returns host:port of a
// listener on 127.0.0.1 that this process holds open for the whole test and hands every
// connection to the registry, which listens on a unix socket: no port is ever closed and
// re-bound, so no other test can take it in between. Without the binary the test is skipped,
// unless SHIPGATE_REQUIRE_REGISTRY=1 (set by CI), where a missing binary fails the test.
func RegistryProcess(t testing.TB, o RegistryOptions) string {
	t.Helper()
	bin, err := exec.LookPath(RegistryBinary())
	if err != nil {
		if os.Getenv("SHIPGATE_REQUIRE_REGISTRY") == "1" {
			t.Fatalf("registry binary %q not found (SHIPGATE_REQUIRE_REGISTRY=1): apt-get install docker-registry", RegistryBinary())
		}
		t.Skipf("registry binary %q not found: apt-get install docker-registry to run this test", RegistryBinary())
	}
	if o.Referrers {
		t.Fatalf("RegistryProcess: distribution v2.8 has no referrers API; use Registry for that lane")
	}
	if o.Token {
		t.Fatalf("RegistryProcess: token auth is only in the in-process registry; use StartRegistry for that lane")
	}
	// A short directory: a unix socket path must stay under ~100 bytes.
	dir, err := os.MkdirTemp("", "shipgate-registry-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "registry.sock")
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(registryConfig(t, dir, sock, o)), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := forward(t, sock)
	waitForRegistry(t, addr, &out)
	return addr
}

// registryConfig is distribution's configuration: storage under dir, listening on sock, with
// htpasswd auth when o asks for it.
func registryConfig(t testing.TB, dir, sock string, o RegistryOptions) string {
	t.Helper()
	auth := ""
	if o.Username != "" {
		hash, err := bcrypt.GenerateFromPassword([]byte(o.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "htpasswd"), []byte(o.Username+":"+string(hash)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: testkit\n    path: %s\n", filepath.Join(dir, "htpasswd"))
	}
	return fmt.Sprintf(`version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  net: unix
  addr: %s
%s`, filepath.Join(dir, "data"), sock, auth)
}

// forward listens on 127.0.0.1 (a port the kernel picks and this listener keeps) and copies
// every connection to and from the unix socket sock; when the test ends it closes the listener
// and every connection, and waits for its goroutines.
func forward(t testing.TB, sock string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
	)
	t.Cleanup(func() {
		_ = l.Close()
		mu.Lock()
		for c := range conns {
			_ = c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				pipe(c, sock)
				mu.Lock()
				delete(conns, c)
				mu.Unlock()
			}()
		}
	}()
	return l.Addr().String()
}

// pipe joins a client connection with a new connection to the unix socket until either side
// closes.
func pipe(c net.Conn, sock string) {
	defer c.Close()
	u, err := net.Dial("unix", sock)
	if err != nil {
		return
	}
	defer u.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(u, c)
		_ = u.Close()
		close(done)
	}()
	_, _ = io.Copy(c, u)
	_ = c.Close()
	<-done
}

// waitForRegistry polls addr until the registry answers /v2/.
func waitForRegistry(t testing.TB, addr string, out fmt.Stringer) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("registry process behind %s did not answer within 15s: %v\n%s", addr, err, out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
