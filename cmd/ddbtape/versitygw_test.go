package main

import (
	"context"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/internal/s3local"
)

// ownVersitygw starts a versitygw for this test alone (within two minutes of ctx), stopped
// when the test ends: for tests that pause it, lock its buckets or give it credentials of
// its own.
func ownVersitygw(ctx context.Context, t *testing.T) *s3local.Server {
	t.Helper()
	startCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	srv, err := s3local.Start(startCtx)
	if err != nil {
		t.Fatalf("start versitygw: %v", err)
	}
	t.Cleanup(srv.Stop)
	return srv
}
