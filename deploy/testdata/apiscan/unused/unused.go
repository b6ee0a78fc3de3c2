// Package unused is not linked into the tool, so its calls do not count.
package unused

import ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"

var _ = ddb.DeleteItemInput{}
