package ddbjson

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	streamstypes "github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"
)

// benchItem is a ~300-byte item of the shape a typical application writes: a few key and
// string attributes, numbers, a flag, a small set, a nested map and list.
func benchItem(i int) map[string]streamstypes.AttributeValue {
	return map[string]streamstypes.AttributeValue{
		"pk":     &streamstypes.AttributeValueMemberS{Value: fmt.Sprintf("customer#%08d", i)},
		"sk":     &streamstypes.AttributeValueMemberS{Value: "order#2024-05-17T10:42:17Z"},
		"status": &streamstypes.AttributeValueMemberS{Value: "SHIPPED"},
		"total":  &streamstypes.AttributeValueMemberN{Value: "1234.56"},
		"qty":    &streamstypes.AttributeValueMemberN{Value: "3"},
		"gift":   &streamstypes.AttributeValueMemberBOOL{Value: false},
		"email":  &streamstypes.AttributeValueMemberS{Value: "someone@example.com"},
		"tags":   &streamstypes.AttributeValueMemberSS{Value: []string{"priority", "fragile"}},
		"address": &streamstypes.AttributeValueMemberM{Value: map[string]streamstypes.AttributeValue{
			"street": &streamstypes.AttributeValueMemberS{Value: "221B Baker Street"},
			"city":   &streamstypes.AttributeValueMemberS{Value: "London"},
			"zip":    &streamstypes.AttributeValueMemberS{Value: "NW1 6XE"},
		}},
		"items": &streamstypes.AttributeValueMemberL{Value: []streamstypes.AttributeValue{
			&streamstypes.AttributeValueMemberS{Value: "sku-00012"},
			&streamstypes.AttributeValueMemberS{Value: "sku-00047"},
		}},
		"updated": &streamstypes.AttributeValueMemberN{Value: "1715942537"},
	}
}

// cpuTime is the process's user+system CPU time: the machine is shared, so items per
// CPU-second is the stable per-core figure, wall-clock rates are not.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportRates(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
	if used := cpuTime(b) - cpu0; used > 0 {
		b.ReportMetric(float64(b.N)/used.Seconds(), "items/cpu-s")
	}
}

func BenchmarkFromStreams(b *testing.B) {
	item := benchItem(42)
	s, _ := FromStreams(item)
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := FromStreams(item); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu0)
}

func BenchmarkToDynamoDB(b *testing.B) {
	s, _ := FromStreams(benchItem(42))
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := ToDynamoDB(s); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu0)
}

func BenchmarkCanonical(b *testing.B) {
	s, _ := FromStreams(benchItem(42))
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	cpu0 := cpuTime(b)
	for b.Loop() {
		if _, err := Canonical(s); err != nil {
			b.Fatal(err)
		}
	}
	reportRates(b, cpu0)
}

// BenchmarkReadPage reads a GetRecords answer of 1000 INSERT records of benchItem, as
// DynamoDB writes it (keys and new image), per record.
func BenchmarkReadPage(b *testing.B) {
	const records = 1000
	var page []byte
	page = append(page, `{"NextShardIterator":"arn:aws:dynamodb:us-east-1:000000000000:table/bench/stream/2024-05-17T10:42:17.000|1|AAAAAAAAAAE=","Records":[`...)
	for i := range records {
		item, err := FromStreams(benchItem(i))
		if err != nil {
			b.Fatal(err)
		}
		if i > 0 {
			page = append(page, ',')
		}
		page = fmt.Appendf(page, `{"awsRegion":"us-east-1","dynamodb":{"ApproximateCreationDateTime":1.715942537E9,"Keys":{"pk":{"S":"customer#%08d"}},"NewImage":%s,"SequenceNumber":"%021d","SizeBytes":312,"StreamViewType":"NEW_AND_OLD_IMAGES"},"eventID":"%032x","eventName":"INSERT","eventSource":"aws:dynamodb","eventVersion":"1.1"}`,
			i, item, 100000000000000000+i, i)
	}
	page = append(page, `]}`...)
	body := string(page)
	b.SetBytes(int64(len(body)) / records)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += records {
		p, err := ReadPage(body)
		if err != nil {
			b.Fatal(err)
		}
		if len(p.Records) != records {
			b.Fatalf("%d records", len(p.Records))
		}
	}
}
