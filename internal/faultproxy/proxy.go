// Package faultproxy is a test fixture: an HTTP reverse proxy between an AWS SDK client and
// a real server (DynamoDB Local, an S3 gateway) that misbehaves on purpose. Throttling,
// 5xx answers, connection resets, delays, truncated responses and expired iterators cannot
// be provoked in DynamoDB Local, yet "nothing lost" must hold through all of them; the proxy
// produces them with the bodies and status codes the real services send, so the real SDK
// client classifies them exactly as it would in production.
//
// Rules pick requests by operation (the X-Amz-Target suffix: "Scan", "GetRecords"), or by
// HTTP method and path prefix (S3), and fire either for the next N matching requests or at
// a rate drawn from a seeded generator, so a run is reproducible. Rules can be added and
// cleared while requests flow; counters tell a test how many faults were injected.
//
//	p := faultproxy.Start(ddb.Endpoint())
//	defer p.Close()
//	p.Add(faultproxy.Rule{Op: "Scan", Fault: faultproxy.ProvisionedThroughputExceeded, Rate: 0.3})
//	... point the client at p.URL() ...
package faultproxy

import (
	"bufio"
	"fmt"
	"hash/crc32"
	"io"
	"log"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// DefaultSeed seeds the rate generator until Seed is called.
const DefaultSeed = 1

// Rule picks requests and the fault to inject into them. Empty match fields match any
// request. With Next > 0 the rule fires for the next Next matching requests and then stays
// quiet; otherwise it fires for each matching request with probability Rate (1 = always,
// 0 = never). Rules are tried in the order they were added; the first that fires wins.
type Rule struct {
	Op         string // X-Amz-Target operation, e.g. "Scan", "GetRecords"
	Method     string // HTTP method, e.g. "PUT" (S3)
	PathPrefix string // URL path prefix, e.g. "/bucket/table/" (S3)
	Fault      Fault
	Next       int
	Rate       float64
}

type rule struct {
	Rule
	left int // for Next rules: how many more requests it fires for
}

func (r *rule) matches(req *http.Request, op string) bool {
	return (r.Op == "" || r.Op == op) &&
		(r.Method == "" || strings.EqualFold(r.Method, req.Method)) &&
		(r.PathPrefix == "" || strings.HasPrefix(req.URL.Path, r.PathPrefix))
}

// Proxy is a running fault-injecting proxy. Its methods are safe for concurrent use.
type Proxy struct {
	srv       *httptest.Server
	target    *url.URL
	targetErr error
	transport *http.Transport
	forward   *httputil.ReverseProxy
	closing   chan struct{}
	closeOnce sync.Once

	mu       sync.Mutex
	rules    []*rule
	rng      *rand.Rand
	injected map[string]int64
	seen     map[string]int64
}

// Start runs a proxy on a free loopback port forwarding to target (e.g.
// "http://127.0.0.1:8000"). Like httptest.NewServer it cannot fail in a way a test could
// handle; a target that is not an absolute URL makes every request answer 502 saying so.
func Start(target string) *Proxy {
	p := &Proxy{
		closing:  make(chan struct{}),
		rng:      rand.New(rand.NewPCG(DefaultSeed, 0)),
		injected: map[string]int64{},
		seen:     map[string]int64{},
		// No compression: bodies pass through byte for byte, so a truncation is exact and
		// the SDK's CRC32 check sees what the target sent.
		transport: &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 64},
	}
	u, err := url.Parse(target)
	switch {
	case err != nil:
		p.targetErr = fmt.Errorf("faultproxy: target %q: %w", target, err)
	case u.Scheme == "" || u.Host == "":
		p.targetErr = fmt.Errorf("faultproxy: target %q is not an absolute URL", target)
	}
	p.target = u
	p.forward = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(p.target)
			// Keep the client's Host: SigV4 signs it, and an S3 server checks the signature.
			pr.Out.Host = pr.In.Host
		},
		Transport: p.transport,
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, "faultproxy: forward: "+err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(p.serve))
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	p.srv.Start()
	return p
}

// URL is the proxy's base URL, to use as the client's endpoint.
func (p *Proxy) URL() string { return p.srv.URL }

// Close stops the proxy; delayed requests are released and answered by the target.
func (p *Proxy) Close() {
	p.closeOnce.Do(func() {
		close(p.closing)
		p.srv.CloseClientConnections()
		p.srv.Close()
		p.transport.CloseIdleConnections()
	})
}

// Add appends rules; they apply from the next request on.
func (p *Proxy) Add(rules ...Rule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range rules {
		p.rules = append(p.rules, &rule{Rule: r, left: r.Next})
	}
}

// Clear removes every rule; counters are kept.
func (p *Proxy) Clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = nil
}

// Seed restarts the rate generator: the same seed and the same order of requests give the
// same faults.
func (p *Proxy) Seed(seed uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rng = rand.New(rand.NewPCG(seed, 0))
}

// Injected is how many times the fault named name was injected.
func (p *Proxy) Injected(name string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.injected[name]
}

// Counts is a copy of the injection counters, by fault name.
func (p *Proxy) Counts() map[string]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int64, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

// Seen is how many requests arrived for op: the X-Amz-Target operation ("Scan"), or the
// HTTP method for requests without one (S3: "GET", "PUT").
func (p *Proxy) Seen(op string) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seen[op]
}

func operation(r *http.Request) string {
	t := r.Header.Get("X-Amz-Target")
	if t == "" {
		return r.Method
	}
	return t[strings.LastIndexByte(t, '.')+1:]
}

func (p *Proxy) pick(r *http.Request) (Fault, bool) {
	op := operation(r)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.seen[op]++
	for _, ru := range p.rules {
		if !ru.matches(r, op) {
			continue
		}
		if ru.Next > 0 {
			if ru.left == 0 {
				continue
			}
			ru.left--
		} else if ru.Rate <= 0 || p.rng.Float64() >= ru.Rate {
			continue
		}
		p.injected[ru.Fault.Name]++
		return ru.Fault, true
	}
	return Fault{}, false
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	if p.targetErr != nil {
		http.Error(w, p.targetErr.Error(), http.StatusBadGateway)
		return
	}
	f, ok := p.pick(r)
	if !ok {
		p.forward.ServeHTTP(w, r)
		return
	}
	switch f.Action {
	case Respond:
		respond(w, f)
	case Reset:
		reset(w)
	case ResetAfter:
		if resp, err := p.roundTrip(r); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		reset(w)
	case Delay:
		t := time.NewTimer(f.Delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-p.closing:
		case <-r.Context().Done():
			return
		}
		p.forward.ServeHTTP(w, r)
	case Truncate:
		p.truncate(w, r)
	default:
		http.Error(w, fmt.Sprintf("faultproxy: fault %q has no action", f.Name), http.StatusInternalServerError)
	}
}

func respond(w http.ResponseWriter, f Fault) {
	h := w.Header()
	h.Set("Content-Type", f.ContentType)
	h.Set("Content-Length", strconv.Itoa(len(f.Body)))
	h.Set("X-Amzn-Requestid", "faultproxy")
	if strings.HasPrefix(f.ContentType, "application/x-amz-json") {
		// DynamoDB sends a CRC32 of every body, and the SDK checks it when present.
		h.Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(f.Body))), 10))
	}
	w.WriteHeader(f.Status)
	_, _ = io.WriteString(w, f.Body)
}

// reset closes the client's connection with an RST (linger 0) instead of a FIN, which the
// client sees as "connection reset by peer".
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		badGateway(w, err)
		return
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

func (p *Proxy) roundTrip(r *http.Request) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.RequestURI = ""
	out.URL.Scheme = p.target.Scheme
	out.URL.Host = p.target.Host
	out.Host = r.Host
	return p.transport.RoundTrip(out)
}

func (p *Proxy) truncate(w http.ResponseWriter, r *http.Request) {
	resp, err := p.roundTrip(r)
	if err != nil {
		badGateway(w, err)
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		badGateway(w, err)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		badGateway(w, err)
		return
	}
	defer conn.Close()
	resp.Header.Del("Transfer-Encoding")
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Set("Connection", "close")
	bw := bufio.NewWriter(conn)
	fmt.Fprintf(bw, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	_ = resp.Header.Write(bw)
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(body[:len(body)/2])
	_ = bw.Flush()
}

// badGateway answers when a fault cannot be carried out (the target is down, the
// connection cannot be taken over): the test sees a 502 naming the cause.
func badGateway(w http.ResponseWriter, err error) {
	http.Error(w, "faultproxy: "+err.Error(), http.StatusBadGateway)
}
