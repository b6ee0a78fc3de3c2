package shards

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams/types"

	"github.com/ddbtape/ddbtape/ddbjson"
)

// answering is an SDK Streams client whose every call gets body as a 200 answer.
func answering(body string) *dynamodbstreams.Client {
	return dynamodbstreams.New(dynamodbstreams.Options{
		Region:           "us-east-1",
		Credentials:      credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint:     aws.String("http://streams.test"),
		RetryMaxAttempts: 1,
		HTTPClient: doFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{
				StatusCode:    200,
				Header:        http.Header{"Content-Type": {"application/x-amz-json-1.0"}},
				Body:          io.NopCloser(strings.NewReader(body)),
				ContentLength: int64(len(body)),
				Request:       r,
			}, nil
		}),
	})
}

type doFunc func(*http.Request) (*http.Response, error)

func (f doFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// compareWithSDK reads body both ways: the SDK's decoder then FromStreams, and the
// transcoding reader. It reports whether transcoding accepted the answer, and fails when
// it did and the two differ in anything a segment row is made of.
func compareWithSDK(t *testing.T, body string) bool {
	t.Helper()
	c := answering(body)
	in := &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String("it")}
	raw, err := c.GetRecords(context.Background(), in, withReadPage)
	if err != nil {
		return false
	}
	sdk, err := c.GetRecords(context.Background(), in)
	if err != nil {
		// Transcoding is stricter only where the SDK is too; it must never accept
		// an answer the SDK cannot read.
		t.Fatalf("transcoding read an answer the SDK refuses (%v):\n%s", err, body)
	}
	p, ok := page(raw)
	if !ok {
		t.Fatal("the transcoding call left no page")
	}
	if len(raw.Records) != 0 {
		t.Fatalf("the SDK's decoder was given %d records, want none", len(raw.Records))
	}
	if aws.ToString(raw.NextShardIterator) != aws.ToString(sdk.NextShardIterator) || (raw.NextShardIterator == nil) != (sdk.NextShardIterator == nil) {
		t.Fatalf("next iterator %v, SDK %v", raw.NextShardIterator, sdk.NextShardIterator)
	}
	if len(p.Records) != len(sdk.Records) || len(p.Images) != len(p.Records) {
		t.Fatalf("%d records (%d images), SDK %d", len(p.Records), len(p.Images), len(sdk.Records))
	}
	for i, want := range sdk.Records {
		got := p.Records[i]
		if want.Dynamodb != nil {
			im, err := fromSDK(want.Dynamodb)
			if err != nil {
				return false // FromStreams refuses it: capture stops either way
			}
			if g := p.Images[i]; g.Keys != im.Keys || !sameString(g.NewImage, im.NewImage) || !sameString(g.OldImage, im.OldImage) {
				t.Fatalf("record %d items differ:\n got %s | %v | %v\nwant %s | %v | %v\nanswer: %s", i,
					g.Keys, deref(g.NewImage), deref(g.OldImage), im.Keys, deref(im.NewImage), deref(im.OldImage), body)
			}
			d := *want.Dynamodb
			d.Keys, d.NewImage, d.OldImage = nil, nil, nil
			want.Dynamodb = &d
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, got, want)
		}
	}
	return true
}

func fromSDK(d *types.StreamRecord) (ddbjson.Images, error) {
	var im ddbjson.Images
	var err error
	if im.Keys, err = ddbjson.FromStreams(d.Keys); err != nil {
		return im, err
	}
	for _, x := range []struct {
		m   map[string]types.AttributeValue
		dst **string
	}{{d.NewImage, &im.NewImage}, {d.OldImage, &im.OldImage}} {
		if x.m != nil {
			s, err := ddbjson.FromStreams(x.m)
			if err != nil {
				return im, err
			}
			*x.dst = &s
		}
	}
	return im, nil
}

func sameString(a, b *string) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// wireWriter writes items as DynamoDB might: names in any order, whitespace, escapes of
// every kind.
type wireWriter struct {
	rng *rand.Rand
	b   strings.Builder
}

func (w *wireWriter) space() {
	if w.rng.IntN(4) == 0 {
		w.b.WriteString([]string{" ", "\n", "\t ", "\r\n"}[w.rng.IntN(4)])
	}
}

func (w *wireWriter) str(s string) {
	switch w.rng.IntN(3) {
	case 0: // as encoding/json escapes (<, >, & and U+2028 as \u escapes)
		b, _ := json.Marshal(s)
		w.b.Write(b)
	case 1: // every non-ASCII rune as \u escapes, surrogate pairs included
		w.b.WriteString(jsonASCII(s))
	default: // '/' escaped too
		b, _ := json.Marshal(s)
		w.b.WriteString(strings.ReplaceAll(string(b), "/", `\/`))
	}
}

// jsonASCII quotes s with every non-ASCII rune as \u escapes (UTF-16 pairs above the BMP).
func jsonASCII(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r >= 0x7f:
			if r > 0xffff {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04X`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04X`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func (w *wireWriter) item(m map[string]types.AttributeValue) {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	w.rng.Shuffle(len(names), func(i, j int) { names[i], names[j] = names[j], names[i] })
	w.b.WriteByte('{')
	for i, k := range names {
		if i > 0 {
			w.b.WriteByte(',')
		}
		w.space()
		w.str(k)
		w.space()
		w.b.WriteByte(':')
		w.space()
		w.value(m[k])
	}
	w.space()
	w.b.WriteByte('}')
}

func (w *wireWriter) value(v types.AttributeValue) {
	tag := func(t string) {
		w.b.WriteByte('{')
		w.space()
		w.b.WriteString(`"` + t + `":`)
		w.space()
	}
	list := func(n int, f func(int)) {
		w.b.WriteByte('[')
		for i := 0; i < n; i++ {
			if i > 0 {
				w.b.WriteByte(',')
				w.space()
			}
			f(i)
		}
		w.b.WriteByte(']')
	}
	switch v := v.(type) {
	case *types.AttributeValueMemberS:
		tag("S")
		w.str(v.Value)
	case *types.AttributeValueMemberN:
		tag("N")
		w.str(v.Value)
	case *types.AttributeValueMemberB:
		tag("B")
		w.b.WriteString(`"` + base64.StdEncoding.EncodeToString(v.Value) + `"`)
	case *types.AttributeValueMemberBOOL:
		tag("BOOL")
		fmt.Fprint(&w.b, v.Value)
	case *types.AttributeValueMemberNULL:
		tag("NULL")
		w.b.WriteString("true")
	case *types.AttributeValueMemberSS:
		tag("SS")
		list(len(v.Value), func(i int) { w.str(v.Value[i]) })
	case *types.AttributeValueMemberNS:
		tag("NS")
		list(len(v.Value), func(i int) { w.str(v.Value[i]) })
	case *types.AttributeValueMemberBS:
		tag("BS")
		list(len(v.Value), func(i int) { w.b.WriteString(`"` + base64.StdEncoding.EncodeToString(v.Value[i]) + `"`) })
	case *types.AttributeValueMemberL:
		tag("L")
		list(len(v.Value), func(i int) { w.value(v.Value[i]) })
	case *types.AttributeValueMemberM:
		tag("M")
		w.item(v.Value)
	}
	w.space()
	w.b.WriteByte('}')
}

var sampleStrings = []string{"", "a", "pk#1", "é", "日本語", "😀 emoji", "quote \" and \\ back", "tab\tnew\nline", "\u2028", "<&>", "/slash/", "\x01ctl", "zz", "A", "a b"}

func randomValue(rng *rand.Rand, depth int) types.AttributeValue {
	s := func() string { return sampleStrings[rng.IntN(len(sampleStrings))] }
	n := func() string {
		return []string{"0", "-1", "1.5", "12345678901234567890123456789012345678", "1E+100", "0.000001", "-0"}[rng.IntN(7)]
	}
	bin := func() []byte {
		b := make([]byte, rng.IntN(20))
		for i := range b {
			b[i] = byte(rng.IntN(256))
		}
		return b
	}
	k := rng.IntN(10)
	if depth > 3 && k >= 8 {
		k = 0
	}
	switch k {
	case 0:
		return &types.AttributeValueMemberS{Value: s()}
	case 1:
		return &types.AttributeValueMemberN{Value: n()}
	case 2:
		return &types.AttributeValueMemberB{Value: bin()}
	case 3:
		return &types.AttributeValueMemberBOOL{Value: rng.IntN(2) == 0}
	case 4:
		return &types.AttributeValueMemberNULL{Value: true}
	case 5:
		return &types.AttributeValueMemberSS{Value: []string{s(), s() + "x"}}
	case 6:
		return &types.AttributeValueMemberNS{Value: []string{n()}}
	case 7:
		return &types.AttributeValueMemberBS{Value: [][]byte{bin(), bin()}}
	case 8:
		l := make([]types.AttributeValue, rng.IntN(4))
		for i := range l {
			l[i] = randomValue(rng, depth+1)
		}
		return &types.AttributeValueMemberL{Value: l}
	default:
		return &types.AttributeValueMemberM{Value: randomItem(rng, depth+1)}
	}
}

func randomItem(rng *rand.Rand, depth int) map[string]types.AttributeValue {
	m := map[string]types.AttributeValue{}
	for i := rng.IntN(6); i >= 0; i-- {
		m[sampleStrings[rng.IntN(len(sampleStrings))]+fmt.Sprint(rng.IntN(3))] = randomValue(rng, depth)
	}
	return m
}

// randomPage is a GetRecords answer with n records of random items, written as DynamoDB
// might write it.
func randomPage(rng *rand.Rand, n int) string {
	w := &wireWriter{rng: rng}
	w.b.WriteString(`{"NextShardIterator":"arn:aws:dynamodb:us-east-1:1:table/t/stream/x|1|AAAA/+=",`)
	w.space()
	w.b.WriteString(`"Records":[`)
	for i := 0; i < n; i++ {
		if i > 0 {
			w.b.WriteByte(',')
		}
		names := []string{"INSERT", "MODIFY", "REMOVE"}
		fmt.Fprintf(&w.b, `{"awsRegion":"us-east-1","eventID":"e%d","eventName":%q,"eventSource":"aws:dynamodb","eventVersion":"1.1",`, i, names[rng.IntN(3)])
		if rng.IntN(3) == 0 {
			w.b.WriteString(`"userIdentity":{"PrincipalId":"dynamodb.amazonaws.com","Type":"Service"},`)
		}
		w.b.WriteString(`"unknownMember":{"a":[1,2.5e3,null,true,{"b":"c"}]},`)
		w.b.WriteString(`"dynamodb":{`)
		fmt.Fprintf(&w.b, `"ApproximateCreationDateTime":%s,`, []string{"1.764715E9", "1764715200", "1764715200.123", "1.7647152001234E9"}[rng.IntN(4)])
		w.b.WriteString(`"Keys":`)
		w.item(map[string]types.AttributeValue{"pk": randomValue(rng, 4), "sk": &types.AttributeValueMemberN{Value: fmt.Sprint(i)}})
		switch rng.IntN(4) {
		case 0:
			w.b.WriteString(`,"NewImage":`)
			w.item(randomItem(rng, 0))
			w.b.WriteString(`,"OldImage":`)
			w.item(randomItem(rng, 0))
		case 1:
			w.b.WriteString(`,"NewImage":`)
			w.item(randomItem(rng, 0))
		case 2:
			w.b.WriteString(`,"OldImage":{}`)
		}
		fmt.Fprintf(&w.b, `,"SequenceNumber":"%021d","SizeBytes":%d,"StreamViewType":"NEW_AND_OLD_IMAGES"}}`, 100+i, 40+rng.IntN(400000))
	}
	w.b.WriteString(`]}`)
	return w.b.String()
}

// Every answer DynamoDB might write is transcoded into exactly the items the SDK's
// decoder and FromStreams would have stored, and the records' other fields are the SDK's.
func TestReadPage_SameAsTheSDK(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 300; i++ {
		body := randomPage(rng, rng.IntN(8))
		if !compareWithSDK(t, body) {
			t.Fatalf("transcoding refused a valid answer:\n%s", body)
		}
	}
	for _, body := range []string{
		`{}`,
		`{"NextShardIterator":null,"Records":[]}`,
		`{"Records":null}`,
		`{"NextShardIterator":"a\"b\\c","Records":[{"dynamodb":{"Keys":{},"SequenceNumber":"1"}}]}`,
		`{"Records":[{"dynamodb":{"SequenceNumber":"1","NewImage":null}}]}`,
		`{"Records":[{"eventID":"x"}]}`,
	} {
		if !compareWithSDK(t, body) {
			t.Fatalf("transcoding refused a valid answer:\n%s", body)
		}
	}
}

// Members repeated, or written null after a value, or in another case, are read as the SDK
// reads them, or refused.
func TestReadPage_OddMembers(t *testing.T) {
	for _, body := range []string{
		`{"Records":[{"eventID":"a"}],"Records":[{"eventID":"b"},{"eventID":"c"}]}`,
		`{"Records":[{"eventID":"a"}],"Records":null}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x"}},"NewImage":{"a":{"S":"x"}},"SequenceNumber":"1"},"dynamodb":{"SequenceNumber":"2"}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x"}},"SequenceNumber":"1"},"dynamodb":null}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x"}},"Keys":{"b":{"S":"y"}},"SequenceNumber":"1"}}]}`,
		`{"Records":[{"dynamodb":{"NewImage":{"a":{"S":"x"}},"NewImage":null,"SequenceNumber":"1"}}]}`,
		`{"Records":[{"dynamodb":{"SizeBytes":5,"SizeBytes":null,"SequenceNumber":"1","SequenceNumber":null}}]}`,
		`{"Records":[{"userIdentity":{"Type":"Service"},"userIdentity":null,"eventID":"a","eventID":null}]}`,
		`{"Records":[{"eventid":"x","EventID":"y","DYNAMODB":{"Keys":{}}}]}`,
		`{"NextShardIterator":"a","NextShardIterator":null}`,
	} {
		compareWithSDK(t, body)
	}
}

// What is not an answer DynamoDB sends is refused, and the call fails: capture stops
// rather than store items a restore would read differently.
func TestReadPage_Refuses(t *testing.T) {
	for _, body := range []string{
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x"},"a":{"S":"y"}}}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x","N":"1"}}}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"Q":"x"}}}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"B":"not base64!"}}}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"\ud800"}}}}]}`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"S":"x"}}}}]`,
		`{"Records":[]} trailing`,
		`{"Records":[{"dynamodb":{"Keys":{"a":{"L":[` + strings.Repeat(`{"L":[`, 70) + strings.Repeat(`]}`, 70) + `]}}}}]}`,
	} {
		_, err := answering(body).GetRecords(context.Background(), &dynamodbstreams.GetRecordsInput{ShardIterator: aws.String("it")}, withReadPage)
		if err == nil {
			t.Errorf("transcoding accepted %s", body)
		}
	}
}

// Whatever the answer, transcoding never panics, and what it accepts it reads as the SDK
// does.
func FuzzReadPage(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 8; i++ {
		f.Add(randomPage(rng, 1+rng.IntN(3)))
	}
	f.Add(`{"Records":[{"dynamodb":{"NewImage":{},"SequenceNumber":"1"}}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		compareWithSDK(t, body)
	})
}

// A transcoding reader delivers the same records as a plain one, with each record's items
// in Images as FromStreams encodes what the plain one got, through a closed shard's
// pages, empty ones included.
func TestReader_TranscodeDeliversTheSameRecords(t *testing.T) {
	e := newEnv(t)
	e.addShard("s1", "")
	want := e.appendN("s1", 0, 1500)
	if err := e.fake.CloseShard("s1"); err != nil {
		t.Fatal(err)
	}
	if err := e.fake.InjectEmptyPages("s1", 1); err != nil {
		t.Fatal(err)
	}
	var plain, raw collector
	if err := e.reader().Read(context.Background(), e.shard("s1"), "", TrimHorizon, plain.handle); err != nil {
		t.Fatalf("Read: %v", err)
	}
	if err := e.fake.InjectEmptyPages("s1", 1); err != nil {
		t.Fatal(err)
	}
	r := e.reader()
	r.Transcode = true
	if err := r.Read(context.Background(), e.shard("s1"), "", TrimHorizon, raw.handle); err != nil {
		t.Fatalf("Read transcoding: %v", err)
	}
	equalSeqs(t, raw.seqs(), want)
	if got, wantShape := raw.shape(), plain.shape(); !slices.Equal(got, wantShape) {
		t.Errorf("transcoding batches %v, plain %v", got, wantShape)
	}
	n := 0
	for i, b := range raw.batches {
		if len(b.Images) != len(b.Records) {
			t.Fatalf("batch %d: %d images for %d records", i, len(b.Images), len(b.Records))
		}
		for j, r := range b.Records {
			p := plain.batches[i].Records[j]
			im, err := fromSDK(p.Dynamodb)
			if err != nil {
				t.Fatal(err)
			}
			if g := b.Images[j]; g.Keys != im.Keys || !sameString(g.NewImage, im.NewImage) || !sameString(g.OldImage, im.OldImage) {
				t.Fatalf("record %s: items %+v, plain %+v", aws.ToString(r.Dynamodb.SequenceNumber), g, im)
			}
			if r.Dynamodb.Keys != nil || r.Dynamodb.NewImage != nil {
				t.Fatalf("record %s kept its AttributeValue items", aws.ToString(r.Dynamodb.SequenceNumber))
			}
			n++
		}
	}
	if n != len(want) {
		t.Fatalf("compared %d records, want %d", n, len(want))
	}
}
