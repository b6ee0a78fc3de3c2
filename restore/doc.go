// Package restore writes the state of a table at a moment T, as package replay rebuilds
// it from a catalog.Plan, into a Target: Run reads the backup (with SkipCorrupt, going on
// without damaged files and listing them), classifies every key against what the target
// holds, and hands the target only what it needs. The targets are a file in DynamoDB's
// export format (File), a new table (Table, loaded with BatchWriteItem), the input of
// AWS's Import from S3 (ImportFiles: shuffled gzip files and their manifest, with
// ImportCreation the table to create; Import runs ImportTable and follows it), and a
// DryRun that counts and writes nothing. Options.Partition restores one share of the keys
// into any of them. Verify is a restore into the table itself that writes nothing and
// says what differs.
//
// Into an existing table, which the application may be writing, Sync restores as a plan
// first: Run hands a Pending every write with the item the table's Scan read (a Change),
// the counts are shown, and only when confirmed are the writes made, each guarded
// (WriteGuarded, with the expressions of Guard): it goes through only where the table
// still holds what was read, and a key changed since is a conflict, left as it is. A Log
// records what such writes changed, beside the backup, so that package undo can revert
// them.
package restore
