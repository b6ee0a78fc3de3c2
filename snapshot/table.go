package snapshot

import (
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/globaltable"
	"github.com/ddbtape/ddbtape/writer"
)

// gib is the table size per scan segment when the segment count is not given: a parallel
// scan's unit of work, and about what one worker reads in a minute or two.
const gib = 1 << 30

// maxSegments is DynamoDB's limit on TotalSegments.
const maxSegments = 1_000_000

// defaultSegments is one segment per GiB of the table's size, at least one per worker so
// every worker has a segment from the start.
func defaultSegments(tableSizeBytes int64, workers int) int {
	n := int((tableSizeBytes + gib - 1) / gib)
	n = max(n, workers, 1)
	return min(n, maxSegments)
}

// describeManifest fills what the manifest says about the table, so a restore can recreate
// it: keys, indexes, capacity, stream, encryption at rest.
func describeManifest(d *types.TableDescription) writer.Manifest {
	m := writer.Manifest{
		FormatVersion: writer.ManifestFormatVersion,
		TableName:     aws.ToString(d.TableName),
		TableARN:      aws.ToString(d.TableArn),
		Method:        "scan",
		KeySchema:     keySchema(d.KeySchema),
		BillingMode:   string(types.BillingModeProvisioned),
	}
	for _, a := range d.AttributeDefinitions {
		m.AttributeDefinitions = append(m.AttributeDefinitions, writer.AttributeDefinition{
			AttributeName: aws.ToString(a.AttributeName), AttributeType: string(a.AttributeType),
		})
	}
	if d.BillingModeSummary != nil && d.BillingModeSummary.BillingMode != "" {
		m.BillingMode = string(d.BillingModeSummary.BillingMode)
	}
	if m.BillingMode == string(types.BillingModeProvisioned) && d.ProvisionedThroughput != nil {
		m.ReadCapacityUnits = aws.ToInt64(d.ProvisionedThroughput.ReadCapacityUnits)
		m.WriteCapacityUnits = aws.ToInt64(d.ProvisionedThroughput.WriteCapacityUnits)
	}
	for _, g := range d.GlobalSecondaryIndexes {
		ix := secondaryIndex(g.IndexName, g.KeySchema, g.Projection)
		if m.BillingMode == string(types.BillingModeProvisioned) && g.ProvisionedThroughput != nil {
			ix.ReadCapacityUnits = aws.ToInt64(g.ProvisionedThroughput.ReadCapacityUnits)
			ix.WriteCapacityUnits = aws.ToInt64(g.ProvisionedThroughput.WriteCapacityUnits)
		}
		m.GlobalSecondaryIndexes = append(m.GlobalSecondaryIndexes, ix)
	}
	for _, l := range d.LocalSecondaryIndexes {
		m.LocalSecondaryIndexes = append(m.LocalSecondaryIndexes, secondaryIndex(l.IndexName, l.KeySchema, l.Projection))
	}
	if s := d.StreamSpecification; s != nil && aws.ToBool(s.StreamEnabled) {
		m.StreamARN = aws.ToString(d.LatestStreamArn)
		m.StreamViewType = string(s.StreamViewType)
	}
	if s := d.SSEDescription; s != nil && s.Status != types.SSEStatusDisabled && s.Status != types.SSEStatusDisabling {
		m.SSEType, m.SSEKMSKeyARN = string(s.SSEType), aws.ToString(s.KMSMasterKeyArn)
	}
	g := globaltable.Describe(d)
	m.Region, m.GlobalTableVersion, m.Replicas = g.Region, g.Version, g.Replicas
	return m
}

func keySchema(ks []types.KeySchemaElement) []writer.KeyElement {
	out := make([]writer.KeyElement, 0, len(ks))
	for _, k := range ks {
		out = append(out, writer.KeyElement{AttributeName: aws.ToString(k.AttributeName), KeyType: string(k.KeyType)})
	}
	return out
}

func secondaryIndex(name *string, ks []types.KeySchemaElement, p *types.Projection) writer.SecondaryIndex {
	ix := writer.SecondaryIndex{IndexName: aws.ToString(name), KeySchema: keySchema(ks)}
	if p != nil {
		ix.ProjectionType = string(p.ProjectionType)
		ix.NonKeyAttributes = p.NonKeyAttributes
	}
	return ix
}

// streamWarning says why a snapshot of this table cannot be combined with change segments
// (DESIGN.md, "Snapshot handover"), or "" when it can.
func streamWarning(m writer.Manifest) string {
	switch m.StreamViewType {
	case "":
		return fmt.Sprintf("table %s has no stream: this snapshot can be restored alone (restore --snapshot %s), but cannot be combined with change segments; "+
			"enable a NEW_AND_OLD_IMAGES stream, start 'ddbtape capture', then take a new snapshot", m.TableName, m.SnapshotID)
	case string(types.StreamViewTypeNewImage), string(types.StreamViewTypeNewAndOldImages):
		return ""
	default:
		return fmt.Sprintf("table %s's stream has view type %s: capture needs NEW_IMAGE or NEW_AND_OLD_IMAGES, so this snapshot "+
			"cannot be combined with change segments; change the stream's view type before the next snapshot", m.TableName, m.StreamViewType)
	}
}
