package writer

import (
	"bytes"
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/storage/faulty"
)

func TestCreateManifest_AWriteStoredButReportedFailedIsSuccessOnlyWhenTheManifestIsOurs(t *testing.T) {
	ctx := context.Background()
	ours, err := EncodeManifest(validManifest())
	if err != nil {
		t.Fatal(err)
	}
	other := validManifest()
	other.FinishedAt = other.FinishedAt.Add(time.Minute)
	theirs, err := EncodeManifest(other)
	if err != nil {
		t.Fatal(err)
	}
	const key = "orders/snapshots/20240517T100000Z/manifest.json"
	for _, tc := range []struct {
		name     string
		existing []byte // stored before the write
		rule     faulty.Rule
		wantErr  error  // nil: success
		want     []byte // stored afterwards; nil: nothing
	}{
		{"LostResponseThen412", nil, faulty.Rule{Ops: faulty.Create, Stored: true, Err: faulty.ErrLostExists}, nil, ours},
		{"ServerErrorAfterTheCommit", nil, faulty.Rule{Ops: faulty.Create, Stored: true}, nil, ours},
		{"Refused", nil, faulty.Rule{Ops: faulty.Create}, faulty.ErrRefused, nil},
		{"AnotherManifestIsThere", theirs, faulty.Rule{}, storage.ErrExists, theirs},
		// Stored, but the read-back fails too: not known to be stored, so an error.
		{"StoredButUnreadable", nil, faulty.Rule{Ops: faulty.Create | faulty.Open, Stored: true}, faulty.ErrAfterCommit, ours},
	} {
		t.Run(tc.name, func(t *testing.T) {
			under, err := dir.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if tc.existing != nil {
				if err := under.Put(ctx, key, bytes.NewReader(tc.existing)); err != nil {
					t.Fatal(err)
				}
			}
			err = CreateManifest(ctx, faulty.New(under, tc.rule), key, ours)
			if tc.wantErr == nil && err != nil || tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Fatalf("CreateManifest = %v, want %v", err, tc.wantErr)
			}
			data, _, err := StoredManifest(ctx, under, key)
			if tc.want == nil && !errors.Is(err, storage.ErrNotFound) || tc.want != nil && !bytes.Equal(data, tc.want) {
				t.Errorf("afterwards the key holds %d bytes (%v), want %d", len(data), err, len(tc.want))
			}
		})
	}
}
