package writer

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestManifest_CompactedFromRoundTripsAndIsOptional(t *testing.T) {
	m := validManifest()
	m.Method = "compaction"
	m.StartedAt = m.FinishedAt
	m.CompactedFrom = &CompactionSource{SnapshotID: "20240516T100000Z-ab12", ChangesUntil: m.FinishedAt}
	data, err := EncodeManifest(m)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"compacted_from": {`) {
		t.Fatalf("compacted_from missing from:\n%s", data)
	}
	got, err := DecodeManifest(data)
	if err != nil {
		t.Fatal(err)
	}
	if got.CompactedFrom == nil || *got.CompactedFrom != *m.CompactedFrom {
		t.Fatalf("decoded compacted_from %+v, want %+v", got.CompactedFrom, m.CompactedFrom)
	}

	// A manifest without the field (every one written before it existed) still decodes.
	plain, err := EncodeManifest(validManifest())
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(plain), "compacted_from") {
		t.Fatalf("a scan's manifest holds compacted_from:\n%s", plain)
	}
	if got, err := DecodeManifest(plain); err != nil || got.CompactedFrom != nil {
		t.Fatalf("decode without compacted_from = %+v, %v", got.CompactedFrom, err)
	}
}

func TestManifest_RefusesAnInconsistentCompactedFrom(t *testing.T) {
	at := time.Date(2024, 5, 17, 10, 3, 0, 0, time.UTC)
	cases := []struct {
		name   string
		method string
		src    CompactionSource
		field  string
	}{
		{"on a scan", "scan", CompactionSource{SnapshotID: "base", ChangesUntil: at}, "compacted_from:"},
		{"no base", "compaction", CompactionSource{ChangesUntil: at}, "compacted_from.snapshot_id"},
		{"itself as base", "compaction", CompactionSource{SnapshotID: "20240517T100000Z", ChangesUntil: at}, "compacted_from.snapshot_id"},
		{"base with a slash", "compaction", CompactionSource{SnapshotID: "../x", ChangesUntil: at}, "compacted_from.snapshot_id"},
		{"no time", "compaction", CompactionSource{SnapshotID: "base"}, "compacted_from.changes_until"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := validManifest()
			m.Method = c.method
			m.CompactedFrom = &c.src
			_, err := EncodeManifest(m)
			if !errors.Is(err, ErrInvalidManifest) || !strings.Contains(err.Error(), c.field) {
				t.Errorf("EncodeManifest = %v, want ErrInvalidManifest naming %s", err, c.field)
			}
		})
	}
}
