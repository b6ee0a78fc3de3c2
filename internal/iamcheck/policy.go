package iamcheck

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Policy is an identity policy: Allow statements only.
type Policy struct {
	Version   string
	Statement []Statement
}

// Statement is one statement of a Policy.
type Statement struct {
	Sid       string
	Effect    string
	Action    []string
	Resource  []string
	Condition map[string]map[string]any
}

// Load reads the policy documents at paths as one policy (a role with several attached),
// replacing each placeholder (vars' keys, e.g. BACKUP_BUCKET) by its value.
func Load(vars map[string]string, paths ...string) (Policy, error) {
	var p Policy
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return Policy{}, err
		}
		s := string(data)
		for k, v := range vars {
			s = strings.ReplaceAll(s, k, v)
		}
		var one Policy
		if err := json.Unmarshal([]byte(s), &one); err != nil {
			return Policy{}, fmt.Errorf("%s: %w", path, err)
		}
		p.Statement = append(p.Statement, one.Statement...)
	}
	return p, nil
}

// Denied returns the calls p does not allow: for each, every action on every resource
// must be allowed by some statement whose conditions hold. An error is a condition
// operator this evaluator does not know.
func (p Policy) Denied(calls []Call) ([]Call, error) {
	var out []Call
	for _, c := range calls {
		for _, a := range c.Actions {
			for _, r := range c.Resources {
				ok, err := p.allows(a, r, c.Context)
				if err != nil {
					return nil, err
				}
				if !ok {
					out = append(out, c)
					goto next
				}
			}
		}
	next:
	}
	return out, nil
}

func (p Policy) allows(action, resource string, ctx map[string]string) (bool, error) {
	for _, s := range p.Statement {
		if s.Effect != "Allow" || !anyMatch(s.Action, action) || !anyMatch(s.Resource, resource) {
			continue
		}
		ok, err := conditionsHold(s.Condition, ctx)
		if err != nil {
			return false, fmt.Errorf("statement %s: %w", s.Sid, err)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

func anyMatch(patterns []string, v string) bool {
	for _, p := range patterns {
		if glob(p).MatchString(v) {
			return true
		}
	}
	return false
}

// glob turns an IAM pattern (* any run of characters, ? one) into a regexp.
func glob(p string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^")
	for _, r := range p {
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString("$")
	return regexp.MustCompile(b.String())
}

// conditionsHold evaluates a Condition block: every operator, every key, any value.
func conditionsHold(cond map[string]map[string]any, ctx map[string]string) (bool, error) {
	for op, keys := range cond {
		for key, want := range keys {
			var values []string
			switch v := want.(type) {
			case string:
				values = []string{v}
			case []any:
				for _, e := range v {
					values = append(values, fmt.Sprint(e))
				}
			default:
				return false, fmt.Errorf("condition %s %s: value %v of type %T", op, key, want, want)
			}
			got, present := ctx[key]
			ok := false
			for _, w := range values {
				switch op {
				case "StringLike":
					ok = ok || present && glob(w).MatchString(got)
				case "StringEquals", "Bool":
					ok = ok || present && got == w
				case "Null":
					ok = ok || (w == "true") == !present
				default:
					return false, fmt.Errorf("condition operator %s is not modelled here", op)
				}
			}
			if !ok {
				return false, nil
			}
		}
	}
	return true, nil
}
