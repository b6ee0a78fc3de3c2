package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// The SDK service packages whose calls need IAM permissions, by import path.
const (
	pkgDynamoDB = "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	pkgStreams  = "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	pkgS3       = "github.com/aws/aws-sdk-go-v2/service/s3"
	pkgS3Mgr    = "github.com/aws/aws-sdk-go-v2/feature/s3/manager"
)

// apiCall is one SDK operation the code can make, and where it was seen first.
type apiCall struct {
	service string // dynamodb, dynamodbstreams or s3
	op      string // GetRecords, PutObject, ...
	at      string // file:line
}

// operations lists the operations of a service client: the exported methods of
// *dynamodb.Client (and the others) whose second parameter is *<Op>Input. Reading them
// from the SDK itself keeps the list current with the SDK in go.mod.
func operations() map[string]map[string]bool {
	ops := map[string]map[string]bool{}
	for service, client := range map[string]any{
		"dynamodb": (*dynamodb.Client)(nil), "dynamodbstreams": (*dynamodbstreams.Client)(nil), "s3": (*s3.Client)(nil),
	} {
		t := reflect.TypeOf(client)
		ops[service] = map[string]bool{}
		for i := 0; i < t.NumMethod(); i++ {
			m := t.Method(i)
			if m.Type.NumIn() >= 3 && m.Type.In(2).Kind() == reflect.Pointer && m.Type.In(2).Elem().Name() == m.Name+"Input" {
				ops[service][m.Name] = true
			}
		}
	}
	return ops
}

// scanAPICalls finds every DynamoDB, DynamoDB Streams and S3 operation that the packages
// linked into the program at mainPkg (a directory under root) can call. It follows the
// module's own imports from mainPkg, reads each package's non-test files, and counts an
// operation as called when a file
//
//   - names the operation's input type (dynamodb.GetItemInput: every call builds or passes
//     one, and the narrow API interfaces of the packages declare their methods with it), or
//   - calls a method named after an operation of a service the file imports, with at least
//     two arguments (client.ListTables(ctx, nil) builds no input).
//
// The S3 transfer manager makes calls of its own; its constructors count as the calls
// they make.
func scanAPICalls(root, module, mainPkg string) ([]apiCall, error) {
	ops := operations()
	seen := map[string]apiCall{}
	add := func(service, op, at string) {
		k := service + ":" + op
		if _, ok := seen[k]; !ok {
			seen[k] = apiCall{service: service, op: op, at: at}
		}
	}
	fset := token.NewFileSet()
	visited := map[string]bool{}
	queue := []string{mainPkg}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		if visited[dir] {
			continue
		}
		visited[dir] = true
		files, err := filepath.Glob(filepath.Join(root, dir, "*.go"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("package %s has no Go files", dir)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
			if err != nil {
				return nil, err
			}
			aliases := map[string]string{} // local name -> service
			for _, imp := range f.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if rest, ok := strings.CutPrefix(p, module+"/"); ok {
					queue = append(queue, rest)
					continue
				}
				service := ""
				switch p {
				case pkgDynamoDB:
					service = "dynamodb"
				case pkgStreams:
					service = "dynamodbstreams"
				case pkgS3:
					service = "s3"
				case pkgS3Mgr:
					service = "s3manager"
				default:
					continue
				}
				name := filepath.Base(p)
				if imp.Name != nil {
					name = imp.Name.Name
				}
				aliases[name] = service
			}
			if len(aliases) == 0 {
				continue
			}
			rel, _ := filepath.Rel(root, path)
			ast.Inspect(f, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.SelectorExpr:
					x, ok := n.X.(*ast.Ident)
					if !ok {
						return true
					}
					service, ok := aliases[x.Name]
					if !ok {
						return true
					}
					at := fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line)
					if service == "s3manager" {
						for _, op := range managerCalls[n.Sel.Name] {
							add("s3", op, at)
						}
						return true
					}
					if op, ok := strings.CutSuffix(n.Sel.Name, "Input"); ok && ops[service][op] {
						add(service, op, at)
					}
				case *ast.CallExpr:
					sel, ok := n.Fun.(*ast.SelectorExpr)
					if !ok || len(n.Args) < 2 {
						return true
					}
					for _, service := range aliases {
						if ops[service][sel.Sel.Name] {
							add(service, sel.Sel.Name, fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line))
						}
					}
				}
				return true
			})
		}
	}
	calls := make([]apiCall, 0, len(seen))
	for _, c := range seen {
		calls = append(calls, c)
	}
	sort.Slice(calls, func(i, j int) bool { return calls[i].service+calls[i].op < calls[j].service+calls[j].op })
	return calls, nil
}

// managerCalls are the S3 operations behind the transfer manager's constructors.
var managerCalls = map[string][]string{
	"NewUploader":   {"PutObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload", "AbortMultipartUpload"},
	"NewDownloader": {"GetObject"},
}

// iamActions maps an SDK operation to the IAM actions it needs. DynamoDB Streams' actions
// are in the dynamodb: namespace. S3 operations are spelled out: several share one action
// (multipart uploads need s3:PutObject) and ListObjectsV2 needs s3:ListBucket. An
// operation missing here is an error: add it, with the actions from the Service
// Authorization Reference, before adding it to the policy.
func iamActions(c apiCall) ([]string, error) {
	switch c.service {
	case "dynamodb", "dynamodbstreams":
		switch c.op {
		case "TransactWriteItems", "TransactGetItems", "ExecuteStatement", "BatchExecuteStatement", "ExecuteTransaction":
			return nil, fmt.Errorf("%s.%s: its IAM actions depend on the statements it runs; map them by hand", c.service, c.op)
		}
		return []string{"dynamodb:" + c.op}, nil
	case "s3":
		if a, ok := s3Actions[c.op]; ok {
			return a, nil
		}
	}
	return nil, fmt.Errorf("%s.%s (at %s): no IAM action mapping; add one to iamActions", c.service, c.op, c.at)
}

// PutObject and CreateMultipartUpload also need s3:PutObjectRetention when they carry an
// Object Lock retention, as ddbtape's do under --object-lock-mode.
var s3Actions = map[string][]string{
	"PutObject":                  {"s3:PutObject", "s3:PutObjectRetention"},
	"CreateMultipartUpload":      {"s3:PutObject", "s3:PutObjectRetention"},
	"UploadPart":                 {"s3:PutObject"},
	"CompleteMultipartUpload":    {"s3:PutObject"},
	"AbortMultipartUpload":       {"s3:AbortMultipartUpload"},
	"GetObject":                  {"s3:GetObject"},
	"HeadObject":                 {"s3:GetObject"},
	"DeleteObject":               {"s3:DeleteObject"},
	"DeleteObjects":              {"s3:DeleteObject"},
	"ListObjectsV2":              {"s3:ListBucket"},
	"ListObjects":                {"s3:ListBucket"},
	"HeadBucket":                 {"s3:ListBucket"},
	"ListMultipartUploads":       {"s3:ListBucketMultipartUploads"},
	"ListParts":                  {"s3:ListMultipartUploadParts"},
	"GetObjectLockConfiguration": {"s3:GetBucketObjectLockConfiguration"},
	"GetObjectRetention":         {"s3:GetObjectRetention"},
	"PutObjectRetention":         {"s3:PutObjectRetention"},
	"CopyObject":                 {"s3:GetObject", "s3:PutObject"},
	"UploadPartCopy":             {"s3:GetObject", "s3:PutObject"},
}

// moduleRoot returns the repository root (the directory of go.mod) and the module path.
func moduleRoot() (string, string, error) {
	root, err := filepath.Abs("..")
	if err != nil {
		return "", "", err
	}
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		return "", "", err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if m, ok := strings.CutPrefix(strings.TrimSpace(line), "module "); ok {
			return root, strings.TrimSpace(m), nil
		}
	}
	return "", "", fmt.Errorf("%s/go.mod has no module line", root)
}
