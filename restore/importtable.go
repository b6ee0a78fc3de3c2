package restore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/retry"
)

// ErrImportFailed means Import from S3 ended without the whole table: it failed or was
// cancelled, or it skipped items it could not read.
var ErrImportFailed = errors.New("import from S3 did not import every item")

// ImportAPI is the part of the DynamoDB client an import uses.
type ImportAPI interface {
	ImportTable(ctx context.Context, in *dynamodb.ImportTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.ImportTableOutput, error)
	DescribeImport(ctx context.Context, in *dynamodb.DescribeImportInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeImportOutput, error)
	DescribeTable(ctx context.Context, in *dynamodb.DescribeTableInput, optFns ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error)
}

// ImportOptions say how Import follows the import.
type ImportOptions struct {
	// Poll is the wait between DescribeImport calls; zero: 15 s.
	Poll time.Duration
	// Progress, when set, is told each state DescribeImport reports.
	Progress func(ImportState)
	// Wait sleeps d or until ctx ends; nil: a timer. Tests pass one that does not sleep.
	Wait func(ctx context.Context, d time.Duration) error
	// Items, when positive, is how many items the files hold: a completed import that
	// imported another number is a failure too.
	Items int64
}

// ImportState is what DescribeImport says of an import.
type ImportState struct {
	ImportARN, TableARN, Status string
	Processed, Imported, Errors int64
	ProcessedBytes              int64
	FailureCode, FailureMessage string
	LogGroupARN                 string
}

func importState(d *types.ImportTableDescription) ImportState {
	if d == nil {
		return ImportState{}
	}
	return ImportState{ImportARN: aws.ToString(d.ImportArn), TableARN: aws.ToString(d.TableArn), Status: string(d.ImportStatus),
		Processed: d.ProcessedItemCount, Imported: d.ImportedItemCount, Errors: d.ErrorCount, ProcessedBytes: aws.ToInt64(d.ProcessedSizeBytes),
		FailureCode: aws.ToString(d.FailureCode), FailureMessage: aws.ToString(d.FailureMessage), LogGroupARN: aws.ToString(d.CloudWatchLogGroupArn)}
}

// CheckImportTarget makes sure no table is called name: Import creates the table.
func CheckImportTarget(ctx context.Context, api ImportAPI, name string) error {
	_, err := api.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)})
	var missing *types.ResourceNotFoundException
	switch {
	case errors.As(err, &missing):
		return nil
	case err != nil:
		return fmt.Errorf("describe table %s: %w", name, err)
	}
	return fmt.Errorf("create table %s: %w", name, ErrTableExists)
}

// Import starts ImportTable with in and follows it with DescribeImport until it ends.
// An import that fails, is cancelled, or completes with items it could not import is an
// error wrapping ErrImportFailed that says why (and where its log is); a table of that
// name existing already wraps ErrTableExists.
func Import(ctx context.Context, api ImportAPI, in *dynamodb.ImportTableInput, o ImportOptions) (ImportState, error) {
	if o.Poll <= 0 {
		o.Poll = 15 * time.Second
	}
	if o.Wait == nil {
		o.Wait = retry.Sleep
	}
	name := aws.ToString(in.TableCreationParameters.TableName)
	out, err := api.ImportTable(ctx, in)
	if err != nil {
		var inUse *types.ResourceInUseException
		if errors.As(err, &inUse) {
			return ImportState{}, fmt.Errorf("import table %s: %w", name, ErrTableExists)
		}
		return ImportState{}, fmt.Errorf("import table %s: %w", name, err)
	}
	st := importState(out.ImportTableDescription)
	for {
		if o.Progress != nil {
			o.Progress(st)
		}
		switch types.ImportStatus(st.Status) {
		case types.ImportStatusCompleted:
			if st.Errors > 0 {
				return st, fmt.Errorf("import %s into %s completed with %d items not imported (%w; their errors are in CloudWatch log group %s): delete the table and restore again",
					st.ImportARN, name, st.Errors, ErrImportFailed, st.LogGroupARN)
			}
			if o.Items > 0 && st.Imported != o.Items {
				return st, fmt.Errorf("import %s into %s imported %d items, the files hold %d (%w): delete the table and restore again", st.ImportARN, name, st.Imported, o.Items, ErrImportFailed)
			}
			return st, nil
		case types.ImportStatusFailed, types.ImportStatusCancelled:
			return st, fmt.Errorf("import %s into %s %s: %s: %s (%w; the files stay where they are: fix the cause and run the import_command of their manifest.json, or restore again)",
				st.ImportARN, name, map[string]string{"FAILED": "failed", "CANCELLED": "was cancelled"}[st.Status], st.FailureCode, st.FailureMessage, ErrImportFailed)
		}
		if err := o.Wait(ctx, o.Poll); err != nil {
			return st, err
		}
		d, err := api.DescribeImport(ctx, &dynamodb.DescribeImportInput{ImportArn: aws.String(st.ImportARN)})
		if err != nil {
			return st, fmt.Errorf("describe import %s: %w", st.ImportARN, err)
		}
		st = importState(d.ImportTableDescription)
	}
}
