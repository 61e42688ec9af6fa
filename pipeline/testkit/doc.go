// Package testkit is the shared kit for tests of every pipeline package: a fault-injecting HTTP
// proxy, a counting transport, registries (in-process: with and without the OCI referrers API,
// optionally paged and filtered as the distribution spec allows, behind Basic auth or a
// ghcr.io-like token service that counts tokens per scope; and a real registry process), and a
// check that a secret reaches no log line or error.
//
// It is an ordinary package (not _test) so that every package's tests, the benchmarks and the demo
// can use it; nothing in a release path imports it.
package testkit
