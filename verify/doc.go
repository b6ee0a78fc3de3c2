// Package verify proves that a backup restores: it rebuilds the table at a recent
// restorable moment M (the end of the restorable window when it starts) and compares it,
// item by item, with a strongly consistent Scan of the live table taken while capture
// goes on. Run does it once and returns a Report; WriteReport keeps the report in the
// destination (<table>/verify.json), where `ddbtape status` shows it.
//
// # Expected differences and mismatches
//
// The Scan reads each item at some moment after M, so an item written after M differs
// from the backup's state at M without anything being wrong. Such differences are told
// apart from real ones after the Scan, by the backup's own later changes:
//
//   - Every change stamped at or before M is in the state at M (M is restorable: every
//     such change is stored). So an item whose changes are all stamped at or before M
//     reads the same live as at M.
//   - An item that differs therefore had a change after M, and the Scan read it in the
//     state one of those changes left it in.
//
// The rule: once capture has covered the Scan's end E (the window end reached E), a key
// that differs is an expected difference when one of the backup's changes to it stamped
// in (M, E] leaves it as the Scan read it (its new image equals the live item, or a
// REMOVE when the table no longer has it); otherwise it is a mismatch. (E has two seconds
// added for this host's clock trailing DynamoDB's.) A mismatch means the backup does not hold what the table did: a change lost
// or altered, a file removed, an item written behind the stream's back.
//
// Items are compared in ddbjson.Canonical form. A sampled run (Config.Sample below 1)
// reads a contiguous run of the Scan's segments, a fraction of DynamoDB's key space, and
// compares every item it reads: different items and items the backup lacks are found
// there, but an item the backup holds and the table lost is found only by a full run,
// since which segment a key falls in is DynamoDB's secret. Successive sampled runs move
// on (Report.NextSegment), so together they cover the table.
package verify
