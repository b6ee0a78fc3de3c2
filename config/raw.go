package config

import (
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// rawConfig is the file as written. Pointers tell "left out" (inherit or default) from
// an explicit value, so that `records: 0` is refused rather than taken as the default.
type rawConfig struct {
	AppName       string        `yaml:"app-name"`
	WorkerID      string        `yaml:"worker-id"`
	Region        string        `yaml:"region"`
	EndpointURL   string        `yaml:"endpoint-url"`
	Destination   string        `yaml:"destination"`
	Checkpoint    string        `yaml:"checkpoint"`
	SpoolDir      string        `yaml:"spool-dir"`
	Start         string        `yaml:"start"`
	PollInterval  *Duration     `yaml:"poll-interval"`
	IdlePoll      *Duration     `yaml:"idle-poll-interval"`
	RetryBound    *Duration     `yaml:"retry-bound"`
	Roll          rawRoll       `yaml:"roll"`
	Snapshot      rawSnapshot   `yaml:"snapshot"`
	Compaction    rawCompaction `yaml:"compaction"`
	Retention     *Duration     `yaml:"retention"`
	Verify        rawVerify     `yaml:"verify"`
	Tables        []rawTable    `yaml:"tables"`
	HTTP          rawHTTP       `yaml:"http"`
	ShutdownGrace *Duration     `yaml:"shutdown-grace"`
	Log           rawLog        `yaml:"log"`
	S3            rawS3         `yaml:"s3"`
	ObjectLock    rawObjectLock `yaml:"object-lock"`
	Maintenance   *bool         `yaml:"maintenance"`
}

type rawObjectLock struct {
	Mode string    `yaml:"mode"`
	For  *Duration `yaml:"for"`
}

type rawRoll struct {
	Records *int      `yaml:"records"`
	Bytes   *ByteSize `yaml:"bytes"`
	Age     *Duration `yaml:"age"`
}

type rawSnapshot struct {
	Every            *Duration `yaml:"every"`
	AtStartIfMissing *bool     `yaml:"at-start-if-missing"`
	Segments         *int      `yaml:"segments"`
}

type rawCompaction struct {
	Every *Duration `yaml:"every"`
}

type rawVerify struct {
	Every         *Duration `yaml:"every"`
	Sample        *Fraction `yaml:"sample"`
	MaxRCU        *float64  `yaml:"max-rcu"`
	RecheckWithin *Duration `yaml:"recheck-within"`
}

// rawTable is one entry of tables: a name and the settings it overrides.
type rawTable struct {
	Name       string        `yaml:"name"`
	Start      string        `yaml:"start"`
	Roll       rawRoll       `yaml:"roll"`
	Snapshot   rawSnapshot   `yaml:"snapshot"`
	Compaction rawCompaction `yaml:"compaction"`
	Retention  *Duration     `yaml:"retention"`
	Verify     rawVerify     `yaml:"verify"`
}

type rawHTTP struct {
	Address            string    `yaml:"address"`
	ReadyCheckpointAge *Duration `yaml:"ready-checkpoint-age"`
}

type rawLog struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

type rawS3 struct {
	SSE       string `yaml:"sse"`
	KMSKeyID  string `yaml:"kms-key-id"`
	PathStyle *bool  `yaml:"path-style"`
	Profile   string `yaml:"profile"`
	RoleARN   string `yaml:"role-arn"`
}

var (
	rawType         = reflect.TypeFor[rawConfig]()
	unmarshalerType = reflect.TypeFor[yaml.Unmarshaler]()
)

// check walks the parsed document along the Go type t it will be decoded into and
// returns the first unknown key, repeated key or value of the wrong shape, named by its
// path (tables[1].roll.records). Its depth is bounded by t's, so aliases cannot make it
// recurse without end.
func check(n *yaml.Node, t reflect.Type, path string) error {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if isNull(n) {
		return nil // a key left empty means "not set"
	}
	if reflect.PointerTo(t).Implements(unmarshalerType) {
		u := reflect.New(t).Interface().(yaml.Unmarshaler)
		if err := u.UnmarshalYAML(n); err != nil {
			return &Error{Field: path, Msg: err.Error()}
		}
		return nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		return check(n, t.Elem(), path)
	case reflect.Struct:
		if n.Kind != yaml.MappingNode {
			return fieldErr(orRoot(path), "want a mapping of keys, got %s", describe(n))
		}
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Kind == yaml.AliasNode && k.Alias != nil {
				k = k.Alias
			}
			key := k.Value
			field := join(path, key)
			if k.Kind != yaml.ScalarNode {
				return fieldErr(orRoot(path), "a key must be a plain name, got %s (line %d)", describe(k), k.Line)
			}
			if k.ShortTag() == "!!merge" {
				// <<: *anchor (or a list of them) merges another mapping's keys here.
				if err := checkMerge(v, t, path); err != nil {
					return err
				}
				continue
			}
			if line, ok := seen[key]; ok {
				return fieldErr(field, "repeated (first at line %d)", line)
			}
			seen[key] = k.Line
			f, ok := fieldByTag(t, key)
			if !ok {
				return fieldErr(field, "unknown key (line %d); known keys here: %s", k.Line, strings.Join(tags(t), ", "))
			}
			if err := check(v, f.Type, field); err != nil {
				return err
			}
		}
		return nil
	case reflect.Slice:
		if n.Kind != yaml.SequenceNode {
			return fieldErr(path, "want a list, got %s", describe(n))
		}
		for i, e := range n.Content {
			if err := check(e, t.Elem(), path+"["+strconv.Itoa(i)+"]"); err != nil {
				return err
			}
		}
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return fieldErr(path, "want a single value, got %s", describe(n))
	}
	switch t.Kind() {
	case reflect.String:
		return nil
	case reflect.Int:
		if n.ShortTag() != "!!int" {
			return fieldErr(path, "%q is not a whole number", n.Value)
		}
		var v int
		if err := n.Decode(&v); err != nil {
			return fieldErr(path, "%q is not a whole number in range", n.Value)
		}
		return nil
	case reflect.Bool:
		if n.ShortTag() != "!!bool" {
			return fieldErr(path, "%q is not true or false", n.Value)
		}
		return nil
	case reflect.Float64:
		if n.ShortTag() != "!!float" && n.ShortTag() != "!!int" {
			return fieldErr(path, "%q is not a number", n.Value)
		}
		return nil
	}
	return fieldErr(path, "unsupported setting type %s", t) // a programming error
}

func checkMerge(v *yaml.Node, t reflect.Type, path string) error {
	if v.Kind == yaml.AliasNode && v.Alias != nil {
		v = v.Alias
	}
	if v.Kind == yaml.SequenceNode {
		for _, e := range v.Content {
			if e.Kind == yaml.AliasNode && e.Alias != nil {
				e = e.Alias
			}
			if e.Kind != yaml.MappingNode {
				return fieldErr(orRoot(path), "<< merges a mapping, got %s", describe(e))
			}
			if err := check(e, t, path); err != nil {
				return err
			}
		}
		return nil
	}
	if v.Kind != yaml.MappingNode {
		return fieldErr(orRoot(path), "<< merges a mapping, got %s", describe(v))
	}
	return check(v, t, path)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == 0 || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	}
	return "nothing"
}

func join(path, key string) string {
	// A key with a line break or other unprintable character is shown quoted, so that
	// the error naming it stays one line.
	if q := strconv.Quote(key); q[1:len(q)-1] != key {
		key = q
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}

func tags(t reflect.Type) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}
