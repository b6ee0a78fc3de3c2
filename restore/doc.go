// Package restore writes the state of a table at a moment T, as package replay rebuilds
// it from a catalog.Plan, into a Target: Run reads the backup (with SkipCorrupt, going on
// without damaged files and listing them), classifies every key against what the target
// holds, and hands the target only what it needs. The targets are a file in DynamoDB's
// export format (File), a new table or the existing one (Table: the existing one is read
// with a Scan and compared item by item, so only what differs is written), the input of
// AWS's Import from S3 (ImportFiles: shuffled gzip files and their manifest, with
// ImportCreation the table to create; Import runs ImportTable and follows it), and a
// DryRun that counts and writes nothing. Options.Partition restores one share of the keys
// into any of them. Verify is a restore into the table itself that writes nothing and
// says what differs.
package restore
