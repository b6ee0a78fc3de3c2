// Package restore writes the state of a table at a moment T, as package replay rebuilds
// it from a catalog.Plan, into a target: a file in DynamoDB's export format, a new table,
// or the existing table (compared item by item with a live Scan, so only what differs is
// written).
package restore
