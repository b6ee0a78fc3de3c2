package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/internal/backuptest"
	"github.com/ddbtape/ddbtape/internal/fakestreams"
	"github.com/ddbtape/ddbtape/storage/dir"
	"github.com/ddbtape/ddbtape/writer"
)

// On the fake Streams server, whose stamps are whole seconds as DynamoDB's are: a TTL
// delete of k2 and an update of k1 stamped in the same second as writes to k3 and k4;
// history shows both with their event ids, the delete's principal, and nothing of the
// others; a history ending the second before shows neither.
func TestHistory_FakeStreamSameSecondDeleteAndUpdateWithTheirEventIDs(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	f := newChaosFake(t)
	dest := t.TempDir()
	keys := func(k string) map[string]types.AttributeValue {
		return map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: k}, "sk": &types.AttributeValueMemberS{Value: "s"}}
	}
	image := func(k string, v int) map[string]types.AttributeValue {
		img := keys(k)
		img["v"] = &types.AttributeValueMemberN{Value: fmt.Sprint(v)}
		return img
	}
	start := f.clock.Now().Truncate(time.Second)
	for i := range 5 {
		k := fmt.Sprintf("k%d", i)
		if _, err := f.fake.Put(f.stream, fakestreams.Record{EventName: "INSERT", Keys: keys(k), NewImage: image(k, 0), CreatedAt: start}); err != nil {
			t.Fatal(err)
		}
	}
	bucket, err := dir.New(dest)
	if err != nil {
		t.Fatal(err)
	}
	bld := &backuptest.Builder{Bucket: bucket, Table: f.table, SpoolDir: t.TempDir(),
		KeySchema:            []writer.KeyElement{{AttributeName: "pk", KeyType: "HASH"}, {AttributeName: "sk", KeyType: "RANGE"}},
		AttributeDefinitions: []writer.AttributeDefinition{{AttributeName: "pk", AttributeType: "S"}, {AttributeName: "sk", AttributeType: "S"}}}
	if _, err := bld.Snapshot(ctx, "snap-1", f.clock.Now(), f.clock.Now(), 5, 10, func(i int) writer.SnapshotItem {
		k := fmt.Sprintf("k%d", i)
		return writer.SnapshotItem{Keys: fmt.Sprintf(`{"pk":{"S":%q},"sk":{"S":"s"}}`, k), Item: chaosItem(k, 0)}
	}); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(2 * time.Minute)
	at := f.clock.Now().Truncate(time.Second)
	ttl := &types.Identity{PrincipalId: aws.String("dynamodb.amazonaws.com"), Type: aws.String("Service")}
	if _, err := f.fake.Put(f.stream,
		fakestreams.Record{EventName: "MODIFY", Keys: keys("k3"), NewImage: image("k3", 3), OldImage: image("k3", 0), CreatedAt: at},
		fakestreams.Record{EventName: "REMOVE", Keys: keys("k2"), OldImage: image("k2", 0), CreatedAt: at, UserIdentity: ttl},
		fakestreams.Record{EventName: "MODIFY", Keys: keys("k1"), NewImage: image("k1", 666), OldImage: image("k1", 0), CreatedAt: at},
		fakestreams.Record{EventName: "MODIFY", Keys: keys("k4"), NewImage: image("k4", 4), OldImage: image("k4", 0), CreatedAt: at},
	); err != nil {
		t.Fatal(err)
	}
	f.clock.advance(2 * time.Minute)
	capture := []string{"capture", "--table", f.table, "--dest", dest, "--endpoint-url", f.fake.URL(), "--poll-interval", "50ms", "--until-idle", "1s"}
	if res := ddbtape(ctx, t, nil, capture...); res.code != 0 {
		t.Fatalf("capture: exit %d: %s", res.code, res.stderr)
	}

	type version struct {
		Base         bool   `json:"base"`
		EventName    string `json:"event_name"`
		EventID      string `json:"event_id"`
		UserIdentity string `json:"user_identity"`
		Time         string `json:"time"`
		Changed      []struct {
			Name string          `json:"name"`
			Op   string          `json:"op"`
			Old  json.RawMessage `json:"old"`
			New  json.RawMessage `json:"new"`
		} `json:"changed"`
	}
	history := func(key string, extra ...string) []version {
		t.Helper()
		res := ddbtape(ctx, t, nil, append([]string{"history", "--source", dest, "--table", f.table, "--key", key, "--json"}, extra...)...)
		var h struct{ Versions []version }
		if err := json.Unmarshal([]byte(res.stdout), &h); err != nil || res.code != 0 {
			t.Fatalf("history %s: exit %d, %v\n%s%s", key, res.code, err, res.stdout, res.stderr)
		}
		return h.Versions
	}
	stamp := at.Format(time.RFC3339)
	del := history(`{"sk":{"S":"s"},"pk":{"S":"k2"}}`)
	if len(del) != 2 || !del[0].Base || del[1].EventName != "REMOVE" || del[1].EventID == "" || del[1].UserIdentity != "dynamodb.amazonaws.com" || del[1].Time != stamp {
		t.Errorf("history of k2: %+v", del)
	}
	upd := history(`{"pk":{"S":"k1"},"sk":{"S":"s"}}`)
	if len(upd) != 2 || upd[1].EventName != "MODIFY" || upd[1].EventID == "" || upd[1].EventID == del[1].EventID || upd[1].Time != stamp ||
		len(upd[1].Changed) != 1 || upd[1].Changed[0].Name != "v" || compactJSON(upd[1].Changed[0].Old) != `{"N":"0"}` || compactJSON(upd[1].Changed[0].New) != `{"N":"666"}` {
		t.Errorf("history of k1: %+v", upd)
	}
	if before := history(`{"pk":{"S":"k1"},"sk":{"S":"s"}}`, "--to", at.Add(-time.Second).Format(time.RFC3339)); len(before) != 1 || !before[0].Base {
		t.Errorf("history of k1 to the second before: %+v", before)
	}
	res := ddbtape(ctx, t, nil, "history", "--source", dest, "--table", f.table, "--key", `{"pk":{"S":"k2"},"sk":{"S":"s"}}`)
	if !strings.Contains(res.stdout, "REMOVE event "+del[1].EventID) || !strings.Contains(res.stdout, "by dynamodb.amazonaws.com") {
		t.Errorf("history's text of k2:\n%s", res.stdout)
	}
}

func compactJSON(raw json.RawMessage) string {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		return string(raw)
	}
	return b.String()
}
