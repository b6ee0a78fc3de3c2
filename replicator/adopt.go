package replicator

import (
	"context"
	"fmt"
	"time"

	"github.com/ddbtape/ddbtape/ledger"
	"github.com/ddbtape/ddbtape/storage"
	"github.com/ddbtape/ddbtape/writer"
)

// adoptWindow is how far back a capture looks, when it starts, for segments stored
// without their size and SHA-256 in the ledger.
const adoptWindow = 24 * time.Hour

// adoptUnrecorded records in the ledger the size and SHA-256 of the table's segments
// stored in the last adoptWindow that have none. A capture killed after storing a segment
// and before its next ledger write (every CoverageInterval) leaves such a segment; its
// checkpoint may have moved past it, so no later capture stores it again. The bytes are
// read back, as when a segment is found stored already: S3 checked them against their
// seal on upload. Segments of backups older than these facts are adopted the same way,
// a day's worth. A failure is only logged: readers decode an unrecorded segment as
// before.
func (c *Capture) adoptUnrecorded(ctx context.Context, known ledger.State) {
	objs, err := c.bucket.List(ctx, writer.ChangesPrefix(c.cfg.Table))
	if err != nil {
		c.log.Warn("could not list segments to record their checksums", "err", err)
		return
	}
	since := c.now().Add(-adoptWindow)
	n := 0
	for _, o := range objs {
		name, ok := writer.ParseSegmentKey(o.Key)
		if _, recorded := known.Files[o.Key]; recorded || !ok || name.Table != c.cfg.Table || o.ModTime.Before(since) {
			continue
		}
		fact, err := hashObject(ctx, c.bucket, o.Key)
		if err != nil {
			c.log.Warn("could not read a segment to record its checksum", "key", o.Key, "err", err)
			continue
		}
		c.ledger.Add(ledger.Entry{Objects: []ledger.Object{fact}})
		n++
	}
	if n > 0 {
		c.log.Info("recorded the checksums of segments stored without them (a capture stopped before its ledger write)", "segments", n)
	}
}

func hashObject(ctx context.Context, b storage.Bucket, key string) (ledger.Object, error) {
	rc, err := b.Open(ctx, key)
	if err != nil {
		return ledger.Object{}, err
	}
	defer rc.Close()
	sum, size, err := storage.HashReader(rc)
	if err != nil {
		return ledger.Object{}, fmt.Errorf("read %s: %w", storage.URL(b, key), err)
	}
	return ledger.Object{Key: key, Size: size, SHA256: sum}, nil
}
