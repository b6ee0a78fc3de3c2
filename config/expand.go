package config

import (
	"bytes"
	"fmt"
)

// Expand replaces ${VAR} and ${VAR:-default} in data with the environment, before YAML
// parsing (so a value may be a whole scalar or part of one: s3://${BUCKET}/ddbtape).
//
//   - ${VAR} with VAR unset or empty is an error naming VAR and the line: a backup
//     silently pointed at the wrong place is worse than a refusal to start.
//   - ${VAR:-default} gives default when VAR is unset or empty, as in the shell.
//   - $${ is a literal ${, and a $ not followed by { is left alone.
//   - Lines whose first non-blank character is # are comments and are not expanded, so
//     documentation in the file may mention ${VAR} freely.
//
// Values are inserted as they are: quote the scalar in the file ("${VAR}") when a value
// may contain YAML syntax such as ": " or "#".
func Expand(data []byte, getenv func(string) string) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(data))
	line := 1
	for len(data) > 0 {
		end := bytes.IndexByte(data, '\n')
		var l []byte
		if end < 0 {
			l, data = data, nil
		} else {
			l, data = data[:end+1], data[end+1:]
		}
		if trimmed := bytes.TrimLeft(l, " \t"); len(trimmed) > 0 && trimmed[0] == '#' {
			out.Write(l)
		} else if err := expandLine(&out, l, line, getenv); err != nil {
			return nil, err
		}
		line++
	}
	return out.Bytes(), nil
}

func expandLine(out *bytes.Buffer, l []byte, line int, getenv func(string) string) error {
	for i := 0; i < len(l); i++ {
		c := l[i]
		if c != '$' || i+1 >= len(l) {
			out.WriteByte(c)
			continue
		}
		switch l[i+1] {
		case '$':
			if i+2 < len(l) && l[i+2] == '{' {
				out.WriteString("${")
				i += 2
				continue
			}
			out.WriteByte(c)
			continue
		case '{':
		default:
			out.WriteByte(c)
			continue
		}
		end := bytes.IndexByte(l[i+2:], '}')
		if end < 0 {
			return fmt.Errorf("line %d: unclosed ${ (write ${VAR} or ${VAR:-default}; $${ for a literal ${)", line)
		}
		ref := string(l[i+2 : i+2+end])
		name, def, hasDef := cutDefault(ref)
		if !validEnvName(name) {
			return fmt.Errorf("line %d: ${%s} is not a variable reference (write ${VAR} or ${VAR:-default}; $${ for a literal ${)", line, ref)
		}
		v := getenv(name)
		switch {
		case v != "":
		case hasDef:
			v = def
		default:
			return fmt.Errorf("line %d: environment variable %s is not set (set it, or write ${%s:-default})", line, name, name)
		}
		out.WriteString(v)
		i += 2 + end
	}
	return nil
}

func cutDefault(ref string) (name, def string, ok bool) {
	for i := 0; i+1 < len(ref); i++ {
		if ref[i] == ':' && ref[i+1] == '-' {
			return ref[:i], ref[i+2:], true
		}
	}
	return ref, "", false
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '_', 'A' <= c && c <= 'Z', 'a' <= c && c <= 'z':
		case i > 0 && '0' <= c && c <= '9':
		default:
			return false
		}
	}
	return true
}
