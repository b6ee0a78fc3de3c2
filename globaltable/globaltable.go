// Package globaltable recognises a DynamoDB global table and the bookkeeping its
// replication leaves in items.
//
// Every replica of a global table has a stream of its own, and each region's stream
// carries every write, the replicated ones included. So ddbtape captures one region's
// stream, the region it runs against, and a backup holds that region's stream alone: its
// segments, ledger and snapshots all say the same region (the region is part of a stream
// or table ARN). Mixing two regions' streams in one backup would order the same write
// twice at two different stamps, and a snapshot scanned in one region does not line up
// with another region's stream (replication lag), so both are refused.
//
// Version 2017.11.29 ("legacy") global tables keep replication state in three attributes
// of every item: aws:rep:deleting, aws:rep:updatetime and aws:rep:updateregion. They are
// in the stream's images and in a Scan, so a backup holds them as they were; a restore
// drops them (StripAttributes) unless asked to keep them, since a table that is not such
// a replica has no use for them and a legacy replica writes its own.
package globaltable

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// Versions of global tables, as DescribeTable's GlobalTableVersion says them.
const (
	Version2017 = "2017.11.29"
	Version2019 = "2019.11.21"
)

// AttributePrefix starts the names of the replication attributes of version 2017.11.29.
const AttributePrefix = "aws:rep:"

// ErrOtherRegion means a backup holds another region's stream (or snapshot) than the one
// at hand: one backup holds one region's stream.
var ErrOtherRegion = errors.New("a backup holds one region's stream")

// CheckRegion returns an error wrapping ErrOtherRegion when the backup, holding the
// regions have (normally one), is not of region; what names the work refused (capture,
// snapshot). An empty region or an empty have passes: nothing is known to differ.
func CheckRegion(table, what, region string, have []string) error {
	if region == "" {
		return nil
	}
	for _, r := range have {
		if r != region {
			return fmt.Errorf("%s of %s in region %s refused: the destination holds a backup of the table from region %s's stream (%w); run against region %s (--region %s), or use another destination",
				what, table, region, r, ErrOtherRegion, r, r)
		}
	}
	return nil
}

// Info is what a table's description says of its replication.
type Info struct {
	// Region is the region of the table described, from its ARN.
	Region string `json:"region,omitempty"`
	// Version is the global table version; empty for a table that is not one.
	Version string `json:"global_table_version,omitempty"`
	// Replicas are the regions of the table's replicas, this one included, sorted; empty
	// for a table that is not a global table (and for a 2017.11.29 one, whose replicas
	// only DescribeGlobalTable lists).
	Replicas []string `json:"replicas,omitempty"`
}

// Global reports whether the table is a global table.
func (i Info) Global() bool { return i.Version != "" || len(i.Replicas) > 0 }

// Describe reads a table's description.
func Describe(d *types.TableDescription) Info {
	if d == nil {
		return Info{}
	}
	i := Info{Region: RegionOf(aws.ToString(d.TableArn)), Version: aws.ToString(d.GlobalTableVersion)}
	for _, r := range d.Replicas {
		if name := aws.ToString(r.RegionName); name != "" && !slices.Contains(i.Replicas, name) {
			i.Replicas = append(i.Replicas, name)
		}
	}
	if len(i.Replicas) > 0 && i.Region != "" && !slices.Contains(i.Replicas, i.Region) {
		i.Replicas = append(i.Replicas, i.Region)
	}
	slices.Sort(i.Replicas)
	if i.Version == "" && len(i.Replicas) > 0 {
		i.Version = Version2019 // replicas are listed only for the current version
	}
	return i
}

// String describes the table for logs and status: "global table (version 2019.11.21,
// replicas eu-west-1, us-east-1)", or "single-region table".
func (i Info) String() string {
	if !i.Global() {
		return "single-region table"
	}
	s := "global table (version " + i.Version
	if len(i.Replicas) > 0 {
		s += ", replicas " + strings.Join(i.Replicas, ", ")
	}
	return s + ")"
}

// RegionOf returns the region of an ARN (arn:aws:dynamodb:REGION:account:...), or ""
// when s is not one.
func RegionOf(arn string) string {
	parts := strings.SplitN(arn, ":", 5)
	if len(parts) < 5 || parts[0] != "arn" {
		return ""
	}
	return parts[3]
}

// IsAttribute reports whether name is a replication attribute of version 2017.11.29.
func IsAttribute(name string) bool { return strings.HasPrefix(name, AttributePrefix) }

// StripAttributes returns item (DynamoDB JSON) without its replication attributes, and
// how many it removed. An item without any is returned as it is, without being parsed.
func StripAttributes(item string) (string, int, error) {
	if !strings.Contains(item, `"`+AttributePrefix) {
		return item, 0, nil
	}
	m, err := ddbjson.ToDynamoDB(item)
	if err != nil {
		return "", 0, fmt.Errorf("item: %w", err)
	}
	n := 0
	for name := range m {
		if IsAttribute(name) {
			delete(m, name)
			n++
		}
	}
	if n == 0 {
		return item, 0, nil
	}
	out, err := ddbjson.FromDynamoDB(m)
	if err != nil {
		return "", 0, fmt.Errorf("item: %w", err)
	}
	return out, n, nil
}
