package catalog

import (
	"fmt"
	"strings"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/writer"
)

// Region is the region whose stream the backup holds, from the ARNs of the streams its
// ledger records; "" when none is recorded yet. A global table's replicas each have a
// stream carrying every write, and a backup holds one of them: a ledger naming two
// regions is an error wrapping globaltable.ErrOtherRegion (capture refuses to write one,
// so it means files were copied in from another backup).
func (l Listing) Region() (string, error) {
	rs := l.Ledger.Regions()
	switch len(rs) {
	case 0:
		return "", nil
	case 1:
		return rs[0], nil
	}
	return "", fmt.Errorf("the backup of %s records the streams of regions %s (%w): keep one region's files, or start a new backup in another destination",
		l.Table, strings.Join(rs, " and "), globaltable.ErrOtherRegion)
}

// ofRegion reports whether snapshot manifest m can be combined with a backup of region
// (m scanned that region's replica); manifests and backups that record no region pass.
func ofRegion(m *writer.Manifest, region string) bool {
	return m.Region == "" || region == "" || m.Region == region
}
