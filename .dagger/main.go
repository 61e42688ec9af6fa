// Package main is the shipgate Dagger module.
package main

import "context"

// Shipgate releases a container image in two phases.
type Shipgate struct {
	// Image repository.
	Image string
}

// New builds the module.
func New(
	// image repository
	image string,
) *Shipgate {
	return &Shipgate{Image: image}
}

// Hello says hello.
func (m *Shipgate) Hello(ctx context.Context) string { return "hi " + m.Image }
