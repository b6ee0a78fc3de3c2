package storage

import (
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"strings"
)

// Location is a parsed destination: where backups go or come from.
type Location struct {
	// Scheme is "file" (a local directory) or "s3".
	Scheme string
	// Path is the directory for the file scheme, cleaned; empty for s3.
	Path string
	// Bucket is the S3 bucket for the s3 scheme; empty for file.
	Bucket string
	// Prefix is the key prefix inside the bucket for the s3 scheme: "" or ending in "/",
	// without empty segments.
	Prefix string
}

// String gives the location back in the form ParseURL reads.
func (l Location) String() string {
	switch l.Scheme {
	case "s3":
		return "s3://" + l.Bucket + "/" + l.Prefix
	case "file":
		// A path that would read as another scheme keeps its file:// so it parses back.
		if _, _, ok := splitScheme(l.Path); ok {
			return "file://" + l.Path
		}
		return l.Path
	}
	return l.Scheme + "://"
}

const urlForms = "use a directory path, file:///path or s3://bucket/prefix"

// ParseURL reads a destination URL: a plain directory path or file://path gives a file
// Location; s3://bucket/prefix gives an s3 Location. Errors are one line that says which
// forms are accepted.
func ParseURL(s string) (Location, error) {
	if strings.TrimSpace(s) == "" {
		return Location{}, fmt.Errorf("empty destination: %s", urlForms)
	}
	if strings.ContainsRune(s, 0) {
		return Location{}, fmt.Errorf("destination %q contains a NUL byte: %s", s, urlForms)
	}
	scheme, rest, ok := splitScheme(s)
	if !ok {
		return fileLocation(s, s)
	}
	switch strings.ToLower(scheme) {
	case "file":
		return fileLocation(s, rest)
	case "s3":
		return parseS3(s, rest)
	default:
		return Location{}, fmt.Errorf("unsupported destination %q: %s", s, urlForms)
	}
}

func fileLocation(s, path string) (Location, error) {
	// Checked before and after Clean: "" cleans to "." and " /" to " ".
	if strings.TrimSpace(path) == "" || strings.TrimSpace(filepath.Clean(path)) == "" {
		return Location{}, fmt.Errorf("destination %q has no path: %s", s, urlForms)
	}
	return Location{Scheme: "file", Path: filepath.Clean(path)}, nil
}

// splitScheme finds an RFC 3986 scheme ("letter *( letter / digit / + / - / . )") followed
// by "://". Anything else is a plain path, even if it contains "://" further on.
func splitScheme(s string) (scheme, rest string, ok bool) {
	i := strings.Index(s, "://")
	if i <= 0 {
		return "", "", false
	}
	for j := 0; j < i; j++ {
		c := s[j]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case j > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return "", "", false
		}
	}
	return s[:i], s[i+3:], true
}

func parseS3(s, rest string) (Location, error) {
	bucket, key, _ := strings.Cut(rest, "/")
	if bucket == "" {
		return Location{}, fmt.Errorf("destination %q has no bucket: use s3://bucket/prefix", s)
	}
	if err := validBucketName(bucket); err != nil {
		return Location{}, fmt.Errorf("destination %q: invalid S3 bucket name %q: %w", s, bucket, err)
	}
	var segs []string
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			// "s3://b//x/" and "s3://b/x//" mean what the user meant: s3://b/x/.
			continue
		case ".", "..":
			return Location{}, fmt.Errorf("destination %q: prefix may not contain %q segments", s, seg)
		}
		segs = append(segs, seg)
	}
	prefix := ""
	if len(segs) > 0 {
		prefix = strings.Join(segs, "/") + "/"
	}
	return Location{Scheme: "s3", Bucket: bucket, Prefix: prefix}, nil
}

// validBucketName applies the S3 general-purpose bucket naming rules.
func validBucketName(b string) error {
	if len(b) < 3 || len(b) > 63 {
		return errors.New("must be 3 to 63 characters")
	}
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '-') {
			return errors.New("may contain only lowercase letters, digits, '.' and '-'")
		}
	}
	if !isAlnum(b[0]) || !isAlnum(b[len(b)-1]) {
		return errors.New("must begin and end with a letter or digit")
	}
	if strings.Contains(b, "..") {
		return errors.New("may not contain two adjacent periods")
	}
	if _, err := netip.ParseAddr(b); err == nil {
		return errors.New("may not be formatted as an IP address")
	}
	return nil
}

func isAlnum(c byte) bool { return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' }
