// Package workload drives random writes against a DynamoDB table for tests and keeps a
// model of what the table holds, so a test can compare a restore or a capture with it.
//
// Items use every attribute type (S, N with 38 digits, B, BOOL, NULL, SS, NS, BS, L, nested
// M, unicode, empty strings). Keys are composite: pk (S) and sk (S).
package workload

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// Item is one DynamoDB item.
type Item = map[string]types.AttributeValue

// Workload writes random changes to one table and models the result. Safe for use by one
// goroutine at a time; Snapshot may be called concurrently.
type Workload struct {
	db    *dynamodb.Client
	table string
	rng   *rand.Rand
	keys  int

	mu    sync.Mutex
	model map[string]Item // by canonical key JSON
	ops   int
}

// New returns a workload over table with keys drawn from a space of nKeys keys, so puts,
// updates and deletes hit the same items again and again.
func New(db *dynamodb.Client, table string, seed uint64, nKeys int) *Workload {
	return &Workload{db: db, table: table, rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), keys: nKeys, model: map[string]Item{}}
}

// Step performs one random put, update or delete and records it in the model.
func (w *Workload) Step(ctx context.Context) error {
	key := w.key(w.rng.IntN(w.keys))
	kj := mustKeyJSON(key)
	w.mu.Lock()
	cur, exists := w.model[kj]
	w.mu.Unlock()
	switch p := w.rng.IntN(10); {
	case p < 5 || !exists:
		item := w.RandomItem(key)
		if _, err := w.db.PutItem(ctx, &dynamodb.PutItemInput{TableName: &w.table, Item: item}); err != nil {
			return fmt.Errorf("put: %w", err)
		}
		w.set(kj, item)
	case p < 8:
		n := strconv.Itoa(w.rng.IntN(1_000_000))
		out, err := w.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
			TableName:                 &w.table,
			Key:                       key,
			UpdateExpression:          aws.String("SET #c = :n, #s = :s"),
			ExpressionAttributeNames:  map[string]string{"#c": "counter", "#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":n": &types.AttributeValueMemberN{Value: n}, ":s": &types.AttributeValueMemberS{Value: "upd-" + n}},
			ReturnValues:              types.ReturnValueAllNew,
		})
		if err != nil {
			return fmt.Errorf("update: %w", err)
		}
		_ = cur
		w.set(kj, out.Attributes)
	default:
		if _, err := w.db.DeleteItem(ctx, &dynamodb.DeleteItemInput{TableName: &w.table, Key: key}); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
		w.mu.Lock()
		delete(w.model, kj)
		w.ops++
		w.mu.Unlock()
	}
	return nil
}

// Run performs n steps.
func (w *Workload) Run(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		if err := w.Step(ctx); err != nil {
			return err
		}
	}
	return nil
}

func (w *Workload) set(kj string, item Item) {
	w.mu.Lock()
	w.model[kj] = item
	w.ops++
	w.mu.Unlock()
}

// Ops is the number of writes performed so far.
func (w *Workload) Ops() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ops
}

// Snapshot returns the model now: canonical key JSON -> canonical item JSON.
func (w *Workload) Snapshot() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]string, len(w.model))
	for k, item := range w.model {
		out[k] = MustCanonical(item)
	}
	return out
}

func (w *Workload) key(i int) Item {
	return Item{
		"pk": &types.AttributeValueMemberS{Value: fmt.Sprintf("user#%03d", i%37)},
		"sk": &types.AttributeValueMemberS{Value: fmt.Sprintf("item#%05d", i)},
	}
}

// RandomItem returns an item with key and attributes of every type.
func (w *Workload) RandomItem(key Item) Item {
	r := w.rng
	item := Item{}
	for k, v := range key {
		item[k] = v
	}
	item["s"] = &types.AttributeValueMemberS{Value: randomString(r)}
	item["n"] = &types.AttributeValueMemberN{Value: randomNumber(r)}
	item["big"] = &types.AttributeValueMemberN{Value: "12345678901234567890123456789012345678"}
	item["b"] = &types.AttributeValueMemberB{Value: randomBytes(r, 1+r.IntN(40))}
	item["ok"] = &types.AttributeValueMemberBOOL{Value: r.IntN(2) == 0}
	item["nothing"] = &types.AttributeValueMemberNULL{Value: true}
	item["ss"] = &types.AttributeValueMemberSS{Value: []string{"a" + strconv.Itoa(r.IntN(9)), "b", "ünï"}}
	item["ns"] = &types.AttributeValueMemberNS{Value: []string{strconv.Itoa(r.IntN(100)), "-1.5", "1e10"}}
	item["bs"] = &types.AttributeValueMemberBS{Value: [][]byte{{0, 1, 2}, randomBytes(r, 5)}}
	item["l"] = &types.AttributeValueMemberL{Value: []types.AttributeValue{
		&types.AttributeValueMemberS{Value: ""},
		&types.AttributeValueMemberN{Value: "0"},
		&types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"deep": &types.AttributeValueMemberL{Value: []types.AttributeValue{&types.AttributeValueMemberBOOL{Value: true}}}}},
	}}
	item["m"] = &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{
		"name":  &types.AttributeValueMemberS{Value: "日本語 " + randomString(r)},
		"empty": &types.AttributeValueMemberS{Value: ""},
		"inner": &types.AttributeValueMemberM{Value: map[string]types.AttributeValue{"x": &types.AttributeValueMemberN{Value: randomNumber(r)}}},
	}}
	if r.IntN(4) == 0 {
		item["pad"] = &types.AttributeValueMemberS{Value: strings.Repeat("x", r.IntN(2000))}
	}
	return item
}

func randomString(r *rand.Rand) string {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789 é€😀"
	rs := []rune(letters)
	n := r.IntN(24)
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteRune(rs[r.IntN(len(rs))])
	}
	return b.String()
}

func randomNumber(r *rand.Rand) string {
	switch r.IntN(3) {
	case 0:
		return strconv.Itoa(r.IntN(1_000_000) - 500_000)
	case 1:
		return strconv.Itoa(r.IntN(1000)) + "." + strconv.Itoa(1+r.IntN(999))
	default:
		return "0.000000000000000000000000000000000001"
	}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

// MustCanonical returns an item's canonical DynamoDB JSON; it panics on items that cannot
// be encoded, which only a broken test builds.
func MustCanonical(item Item) string {
	s, err := ddbjson.FromDynamoDB(item)
	if err != nil {
		panic(err)
	}
	c, err := ddbjson.Canonical(s)
	if err != nil {
		panic(err)
	}
	return c
}

func mustKeyJSON(key Item) string { return MustCanonical(key) }

// KeyOf returns the canonical key JSON of an item (pk and sk).
func KeyOf(item Item) string {
	return mustKeyJSON(Item{"pk": item["pk"], "sk": item["sk"]})
}

// ScanAll returns the table's content: canonical key JSON -> canonical item JSON.
func ScanAll(ctx context.Context, db *dynamodb.Client, table string) (map[string]string, error) {
	out := map[string]string{}
	p := dynamodb.NewScanPaginator(db, &dynamodb.ScanInput{TableName: &table, ConsistentRead: aws.Bool(true)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", table, err)
		}
		for _, item := range page.Items {
			out[KeyOf(item)] = MustCanonical(item)
		}
	}
	return out, nil
}
