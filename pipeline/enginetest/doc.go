// Package enginetest checks the shipgate Dagger module as users meet it. Without an engine it
// reads .dagger/main.go: every function and argument documented, each function's first doc line a
// whole sentence (all `dagger functions` shows), every field of the main object +private, every
// +default equal to pipeline/config's, and the README, workflow script and workflows using real
// flags. With a Dagger engine it releases a tiny FROM scratch image through `dagger call`: prepare,
// dry runs, publish with SBOMs, a refused promote, status, promote, the native-runner path and
// rollback, checking that no secret appears in any output. The engine tests skip without an engine
// unless SHIPGATE_REQUIRE_ENGINE=1; see engine_test.go for the environment they read.
package enginetest
