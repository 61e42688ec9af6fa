// Package enginetest drives the shipgate Dagger module through a real Dagger engine: publish and
// promote of a tiny FROM scratch image against a registry and a GitHub API server started by the
// test. It has only tests, and they skip unless an engine is reachable; see engine_test.go for the
// environment they read.
package enginetest
