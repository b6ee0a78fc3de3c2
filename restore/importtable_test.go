package restore

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// fakeImportAPI answers ImportTable with the first state and DescribeImport with the rest.
type fakeImportAPI struct {
	importErr error
	states    []types.ImportTableDescription
	describes int
}

func (f *fakeImportAPI) ImportTable(context.Context, *dynamodb.ImportTableInput, ...func(*dynamodb.Options)) (*dynamodb.ImportTableOutput, error) {
	if f.importErr != nil {
		return nil, f.importErr
	}
	return &dynamodb.ImportTableOutput{ImportTableDescription: &f.states[0]}, nil
}

func (f *fakeImportAPI) DescribeImport(context.Context, *dynamodb.DescribeImportInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeImportOutput, error) {
	f.describes++
	return &dynamodb.DescribeImportOutput{ImportTableDescription: &f.states[min(f.describes, len(f.states)-1)]}, nil
}

func (f *fakeImportAPI) DescribeTable(context.Context, *dynamodb.DescribeTableInput, ...func(*dynamodb.Options)) (*dynamodb.DescribeTableOutput, error) {
	return nil, &types.ResourceNotFoundException{}
}

func state(status types.ImportStatus, imported, errs int64) types.ImportTableDescription {
	return types.ImportTableDescription{ImportArn: aws.String("arn:i"), ImportStatus: status, ImportedItemCount: imported, ErrorCount: errs,
		FailureCode: aws.String("Code"), FailureMessage: aws.String("why"), CloudWatchLogGroupArn: aws.String("arn:logs")}
}

func TestImport_FollowsDescribeImportToItsEnd(t *testing.T) {
	in := TableCreation{TableName: "t"}.Input("b", "p/", "")
	noWait := func(context.Context, time.Duration) error { return nil }
	for name, tc := range map[string]struct {
		api  *fakeImportAPI
		want string // "" for success
	}{
		"completed": {&fakeImportAPI{states: []types.ImportTableDescription{state("IN_PROGRESS", 0, 0), state("IN_PROGRESS", 5, 0), state("COMPLETED", 9, 0)}}, ""},
		"failed":    {&fakeImportAPI{states: []types.ImportTableDescription{state("IN_PROGRESS", 0, 0), state("FAILED", 0, 0)}}, "import arn:i into t failed: Code: why"},
		"cancelled": {&fakeImportAPI{states: []types.ImportTableDescription{state("CANCELLED", 0, 0)}}, "was cancelled"},
		"errors":    {&fakeImportAPI{states: []types.ImportTableDescription{state("COMPLETED", 8, 1)}}, "completed with 1 items not imported"},
		"exists":    {&fakeImportAPI{importErr: &types.ResourceInUseException{}}, "exists already"},
		"short":     {&fakeImportAPI{states: []types.ImportTableDescription{state("COMPLETED", 7, 0)}}, "imported 7 items, the files hold 9"},
	} {
		var seen []string
		st, err := Import(t.Context(), tc.api, in, ImportOptions{Wait: noWait, Items: 9, Progress: func(s ImportState) { seen = append(seen, s.Status) }})
		switch {
		case tc.want == "" && (err != nil || st.Imported != 9 || len(seen) != 3):
			t.Errorf("%s: %+v, %v, states %v", name, st, err, seen)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		case tc.want != "" && name != "exists" && !errors.Is(err, ErrImportFailed):
			t.Errorf("%s: err = %v, want ErrImportFailed", name, err)
		}
	}
}
