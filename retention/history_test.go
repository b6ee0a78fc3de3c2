package retention

import (
	"github.com/ddbtape/ddbtape/internal/backuptest"
)

// The backup history shared with the other package that tests it (restore/backuptest).
type history = backuptest.History

var (
	newHistory = backuptest.NewHistory
	restoreAt  = backuptest.RestoreAt
	itemJSON   = backuptest.ItemJSON
	keyJSON    = backuptest.KeyJSON
	at         = backuptest.At
)

const (
	testTable  = backuptest.HistoryTable
	testStream = backuptest.HistoryStream
)
