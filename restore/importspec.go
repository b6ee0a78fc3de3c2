package restore

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/writer"
)

// ErrLocalIndexes means a table with local secondary indexes was to be made by Import
// from S3, which cannot create them (an LSI exists only from a table's creation on).
var ErrLocalIndexes = errors.New("Import from S3 cannot create local secondary indexes")

// Import from S3's input, as this package writes it and ImportTable is told.
const (
	ImportFormat      = "DYNAMODB_JSON"
	ImportCompression = "GZIP"
	// MaxImportFiles is how many objects one import reads at most.
	MaxImportFiles = 50_000
)

// TableCreation is the table an import creates, in ImportTable's own JSON shape
// (TableCreationParameters), so the manifest, the printed command and the API call say
// the same: the backed-up table's keys, global secondary indexes, billing mode and
// throughput, and encryption at rest, from the snapshot manifest.
type TableCreation struct {
	TableName              string              `json:"TableName"`
	AttributeDefinitions   []ImportAttribute   `json:"AttributeDefinitions"`
	KeySchema              []ImportKey         `json:"KeySchema"`
	BillingMode            string              `json:"BillingMode"`
	ProvisionedThroughput  *ImportThroughput   `json:"ProvisionedThroughput,omitempty"`
	GlobalSecondaryIndexes []ImportGlobalIndex `json:"GlobalSecondaryIndexes,omitempty"`
	SSESpecification       *ImportSSE          `json:"SSESpecification,omitempty"`
}

// ImportAttribute, ImportKey, ImportThroughput, ImportGlobalIndex, ImportProjection and
// ImportSSE are the members of TableCreation, named as ImportTable names them.
type (
	ImportAttribute struct {
		AttributeName string `json:"AttributeName"`
		AttributeType string `json:"AttributeType"`
	}
	ImportKey struct {
		AttributeName string `json:"AttributeName"`
		KeyType       string `json:"KeyType"`
	}
	ImportThroughput struct {
		ReadCapacityUnits  int64 `json:"ReadCapacityUnits"`
		WriteCapacityUnits int64 `json:"WriteCapacityUnits"`
	}
	ImportGlobalIndex struct {
		IndexName             string            `json:"IndexName"`
		KeySchema             []ImportKey       `json:"KeySchema"`
		Projection            ImportProjection  `json:"Projection"`
		ProvisionedThroughput *ImportThroughput `json:"ProvisionedThroughput,omitempty"`
	}
	ImportProjection struct {
		ProjectionType   string   `json:"ProjectionType"`
		NonKeyAttributes []string `json:"NonKeyAttributes,omitempty"`
	}
	ImportSSE struct {
		Enabled        bool   `json:"Enabled"`
		SSEType        string `json:"SSEType,omitempty"`
		KMSMasterKeyID string `json:"KMSMasterKeyId,omitempty"`
	}
)

// ImportCreation is the table Import from S3 creates as name for the backup of manifest
// m. Import cannot create local secondary indexes: a table that has some is an error
// wrapping ErrLocalIndexes, naming them. Attribute definitions are those of the keys of
// the table and its global indexes only, as ImportTable wants.
func ImportCreation(name string, m *writer.Manifest) (TableCreation, error) {
	if len(m.KeySchema) == 0 {
		return TableCreation{}, fmt.Errorf("snapshot %s: manifest has no key schema", m.SnapshotID)
	}
	if len(m.LocalSecondaryIndexes) > 0 {
		var names []string
		for _, ix := range m.LocalSecondaryIndexes {
			names = append(names, ix.IndexName)
		}
		return TableCreation{}, fmt.Errorf("table %s has local secondary indexes (%s): %w; restore with --create alone (BatchWriteItem), which creates them",
			m.TableName, strings.Join(names, ", "), ErrLocalIndexes)
	}
	tc := TableCreation{TableName: name, KeySchema: importKeys(m.KeySchema), BillingMode: string(types.BillingModePayPerRequest)}
	provisioned := m.BillingMode == string(types.BillingModeProvisioned)
	if provisioned {
		tc.BillingMode = m.BillingMode
		tc.ProvisionedThroughput = &ImportThroughput{max(m.ReadCapacityUnits, 1), max(m.WriteCapacityUnits, 1)}
	}
	used := map[string]bool{}
	for _, k := range m.KeySchema {
		used[k.AttributeName] = true
	}
	for _, ix := range m.GlobalSecondaryIndexes {
		g := ImportGlobalIndex{IndexName: ix.IndexName, KeySchema: importKeys(ix.KeySchema),
			Projection: ImportProjection{ProjectionType: ix.ProjectionType, NonKeyAttributes: ix.NonKeyAttributes}}
		if g.Projection.ProjectionType == "" {
			g.Projection.ProjectionType = string(types.ProjectionTypeAll)
		}
		if provisioned {
			g.ProvisionedThroughput = &ImportThroughput{max(ix.ReadCapacityUnits, 1), max(ix.WriteCapacityUnits, 1)}
		}
		for _, k := range ix.KeySchema {
			used[k.AttributeName] = true
		}
		tc.GlobalSecondaryIndexes = append(tc.GlobalSecondaryIndexes, g)
	}
	for _, d := range m.AttributeDefinitions {
		if used[d.AttributeName] {
			tc.AttributeDefinitions = append(tc.AttributeDefinitions, ImportAttribute{d.AttributeName, d.AttributeType})
		}
	}
	if m.SSEType != "" {
		tc.SSESpecification = &ImportSSE{Enabled: true, SSEType: m.SSEType, KMSMasterKeyID: m.SSEKMSKeyARN}
	}
	return tc, nil
}

// ImportFilesCreation is ImportCreation for files that are only written (restore --to-s3),
// to be imported later by hand: local secondary indexes are left out of the table rather
// than refused, and said so first among what the imported table will lack (leftOut,
// ImportLeavesOut's lines after it).
func ImportFilesCreation(name string, m *writer.Manifest) (tc TableCreation, leftOut []string, err error) {
	if len(m.LocalSecondaryIndexes) > 0 {
		var names []string
		for _, ix := range m.LocalSecondaryIndexes {
			names = append(names, ix.IndexName)
		}
		leftOut = append(leftOut, fmt.Sprintf("local secondary indexes (%s): Import from S3 cannot create them", strings.Join(names, ", ")))
		without := *m
		without.LocalSecondaryIndexes = nil
		m = &without
	}
	tc, err = ImportCreation(name, m)
	return tc, append(leftOut, ImportLeavesOut(m)...), err
}

func importKeys(ks []writer.KeyElement) []ImportKey {
	out := make([]ImportKey, len(ks))
	for i, k := range ks {
		out[i] = ImportKey{k.AttributeName, k.KeyType}
	}
	return out
}

// ImportLeavesOut says, a line each, what a table made by Import from S3 lacks of the
// backed-up table of manifest m and must be set again by hand: Import creates no stream
// and sets no TTL, point-in-time recovery, tags, resource policy, deletion protection,
// auto scaling or global replicas.
func ImportLeavesOut(m *writer.Manifest) []string {
	var out []string
	if m.StreamViewType != "" {
		out = append(out, fmt.Sprintf("the stream (%s): aws dynamodb update-table --table-name NAME --stream-specification StreamEnabled=true,StreamViewType=%s", m.StreamViewType, m.StreamViewType))
	}
	out = append(out,
		"time to live: aws dynamodb update-time-to-live --table-name NAME --time-to-live-specification Enabled=true,AttributeName=ATTR (if the table had it)",
		"point-in-time recovery: aws dynamodb update-continuous-backups --table-name NAME --point-in-time-recovery-specification PointInTimeRecoveryEnabled=true",
		"tags, resource policy, deletion protection and auto scaling: set them again as the source table had them",
	)
	if len(m.Replicas) > 0 {
		out = append(out, fmt.Sprintf("global table replicas (%s): add them with update-table --replica-updates once the stream is on (README: Global tables)", strings.Join(m.Replicas, ", ")))
	}
	return out
}

// Input is the ImportTable request that creates tc from the files under prefix of bucket.
// clientToken makes a retried request the same import.
func (tc TableCreation) Input(bucket, prefix, clientToken string) *dynamodb.ImportTableInput {
	p := &types.TableCreationParameters{
		TableName:   aws.String(tc.TableName),
		BillingMode: types.BillingMode(tc.BillingMode),
		KeySchema:   sdkKeys(tc.KeySchema),
	}
	for _, a := range tc.AttributeDefinitions {
		p.AttributeDefinitions = append(p.AttributeDefinitions, types.AttributeDefinition{AttributeName: aws.String(a.AttributeName), AttributeType: types.ScalarAttributeType(a.AttributeType)})
	}
	p.ProvisionedThroughput = sdkThroughput(tc.ProvisionedThroughput)
	for _, g := range tc.GlobalSecondaryIndexes {
		ix := types.GlobalSecondaryIndex{IndexName: aws.String(g.IndexName), KeySchema: sdkKeys(g.KeySchema),
			Projection:            &types.Projection{ProjectionType: types.ProjectionType(g.Projection.ProjectionType), NonKeyAttributes: g.Projection.NonKeyAttributes},
			ProvisionedThroughput: sdkThroughput(g.ProvisionedThroughput)}
		p.GlobalSecondaryIndexes = append(p.GlobalSecondaryIndexes, ix)
	}
	if s := tc.SSESpecification; s != nil {
		p.SSESpecification = &types.SSESpecification{Enabled: aws.Bool(s.Enabled), SSEType: types.SSEType(s.SSEType)}
		if s.KMSMasterKeyID != "" {
			p.SSESpecification.KMSMasterKeyId = aws.String(s.KMSMasterKeyID)
		}
	}
	in := &dynamodb.ImportTableInput{
		S3BucketSource:          &types.S3BucketSource{S3Bucket: aws.String(bucket), S3KeyPrefix: aws.String(prefix)},
		InputFormat:             types.InputFormat(ImportFormat),
		InputCompressionType:    types.InputCompressionType(ImportCompression),
		TableCreationParameters: p,
	}
	if clientToken != "" {
		in.ClientToken = aws.String(clientToken)
	}
	return in
}

func sdkKeys(ks []ImportKey) []types.KeySchemaElement {
	out := make([]types.KeySchemaElement, len(ks))
	for i, k := range ks {
		out[i] = types.KeySchemaElement{AttributeName: aws.String(k.AttributeName), KeyType: types.KeyType(k.KeyType)}
	}
	return out
}

func sdkThroughput(t *ImportThroughput) *types.ProvisionedThroughput {
	if t == nil {
		return nil
	}
	return &types.ProvisionedThroughput{ReadCapacityUnits: aws.Int64(t.ReadCapacityUnits), WriteCapacityUnits: aws.Int64(t.WriteCapacityUnits)}
}

// Command is the aws CLI command that imports the files under prefix of bucket as tc,
// quoted for a POSIX shell.
func (tc TableCreation) Command(bucket, prefix string) string {
	src, _ := json.Marshal(map[string]string{"S3Bucket": bucket, "S3KeyPrefix": prefix})
	params, _ := json.Marshal(tc)
	return strings.Join([]string{"aws dynamodb import-table",
		"--s3-bucket-source", shellQuote(string(src)),
		"--input-format", ImportFormat,
		"--input-compression-type", ImportCompression,
		"--table-creation-parameters", shellQuote(string(params)),
	}, " ")
}

// shellQuote quotes s for a POSIX shell: in single quotes, a single quote as '\”.
func shellQuote(s string) string {
	if s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || slices.Contains([]rune("-_./=:,@"), r))
	}) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
