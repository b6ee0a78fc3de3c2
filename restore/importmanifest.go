package restore

import (
	"encoding/json"
	"fmt"
)

// importManifestVersion is the format of ImportManifest.
const importManifestVersion = 1

// ImportManifest describes the files of one restore --to-s3 (of one partition of it),
// written last beside data/: without it the files are not a finished restore.
type ImportManifest struct {
	FormatVersion int          `json:"format_version"`
	Source        ImportSource `json:"source"`
	// Partition is "whole", or I/N when the files are one partition's: an import reads
	// data/, the files of every partition, once each partition's manifest is there.
	Partition   string `json:"partition"`
	Format      string `json:"input_format"`
	Compression string `json:"input_compression_type"`
	DataPrefix  string `json:"data_prefix"`
	Items       int64  `json:"items"`
	// Bytes are the files' stored (compressed) sizes, UncompressedBytes the items' JSON,
	// which Import bills.
	Bytes             int64        `json:"bytes"`
	UncompressedBytes int64        `json:"uncompressed_bytes"`
	Files             []ImportFile `json:"files"`
	// Table is the table to create, as ImportTable's TableCreationParameters.
	Table TableCreation `json:"table_creation_parameters"`
	// LeftOut is what the imported table will lack of the backed-up one and must be set
	// again by hand.
	LeftOut []string `json:"left_out"`
	// ImportCommand imports the files with the aws CLI.
	ImportCommand string `json:"import_command"`
}

// ImportFile is one stored file.
type ImportFile struct {
	Key               string `json:"key"`
	Items             int64  `json:"items"`
	Bytes             int64  `json:"bytes"`
	UncompressedBytes int64  `json:"uncompressed_bytes"`
	SHA256            string `json:"sha256"`
}

// Manifest describes what was stored so far: after Commit, every file.
func (t *ImportFiles) Manifest() ImportManifest {
	m := ImportManifest{FormatVersion: importManifestVersion, Source: t.opts.Source, Partition: t.opts.Partition.String(),
		Format: ImportFormat, Compression: ImportCompression, DataPrefix: ImportDataPrefix,
		Files: t.stored, Table: t.spec, LeftOut: t.leftOut, ImportCommand: t.ImportCommand()}
	if m.Files == nil {
		m.Files = []ImportFile{}
	}
	for _, f := range t.stored {
		m.Items += f.Items
		m.Bytes += f.Bytes
		m.UncompressedBytes += f.UncompressedBytes
	}
	return m
}

// ImportCommand is the aws CLI command importing the files: of the S3 destination, or,
// for a directory, with BUCKET and PREFIX to fill in once it is copied to S3.
func (t *ImportFiles) ImportCommand() string {
	bucket, prefix := t.opts.S3Bucket, t.opts.S3Prefix
	if bucket == "" {
		bucket, prefix = "BUCKET", "PREFIX/"
	}
	return t.spec.Command(bucket, prefix+ImportDataPrefix)
}

// Encode is the manifest as stored: indented JSON.
func (m ImportManifest) Encode() ([]byte, error) {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode import manifest: %w", err)
	}
	return append(data, '\n'), nil
}

// DecodeImportManifest reads a stored manifest.
func DecodeImportManifest(data []byte) (ImportManifest, error) {
	var m ImportManifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("decode import manifest: %w", err)
	}
	if m.FormatVersion != importManifestVersion {
		return m, fmt.Errorf("import manifest format %d, want %d", m.FormatVersion, importManifestVersion)
	}
	return m, nil
}
