package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/justpay/justpay/sqlstore"
	"github.com/justpay/justpay/sqlstore/sqlstoretest"
	"github.com/justpay/justpay/webhook"
)

// The crash test of issue 6: the real binary is killed (SIGKILL) while webhook deliveries are
// pending, some never attempted, some failed once and waiting for their retry, and some in flight
// (their receiver holds the request without answering), then restarted on the same database.
// Every event is then delivered, at least once and always with the same webhook-id and the same
// bytes, every request is signed with the agent's secret, and no event arrives that the test did
// not cause: the webhook-ids received are exactly the events the server recorded, and those are
// exactly the job and address changes the test made.
//
// Before the kill the receiver answers the first two requests 200, then alternately 503 with
// Retry-After: 3600 and a request it holds until the sender goes away, until every worker of the
// dispatcher holds one. After the restart it answers 200. What was never attempted goes out at
// once; the 503s (due in an hour) and the attempts lost in flight (leased for a minute) go out when
// the dev clock is advanced past both.
func TestServe_WebhooksSurviveKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs it twice")
	}
	bin := buildJustpay(t)
	sqlstoretest.Run(t, func(t *testing.T, b sqlstoretest.Backend) {
		testWebhooksSurviveKill(t, bin, b)
	})
}

// crashMasterKey seals the webhook secrets in both runs of the server.
var crashMasterKey = strings.Repeat("5e", 32)

// Events the test causes: a direct job (job.created and job.completed for its provider,
// job.delivered for its client at the job's own callbackUrl) and crashAddressChanges
// wallet.address_changed for each of crashAddressAgents agents.
const (
	crashAddressAgents  = 4
	crashAddressChanges = 6
)

func testWebhooksSurviveKill(t *testing.T, bin string, b sqlstoretest.Backend) {
	dataDir, databaseURL := t.TempDir(), ""
	if b.URL != "" {
		u, drop, err := sqlstore.CreateScratchSchema(context.Background(), b.URL)
		if err != nil {
			t.Fatalf("postgres: %v", err)
		}
		t.Cleanup(func() { drop() }) // runs after the servers' cleanups have killed them
		databaseURL = u
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dataDir, "--database-url", databaseURL,
		"--log-format", "json", "--rate-limit-per-key", "0", "--rate-limit-per-ip", "0"}
	rc := newCrashReceiver(t)
	first := startServeProcess(t, bin, args)
	api := &crashAPI{t: t, base: first.url}

	// Agents, each at its own path so the receiver knows whose secret signs a request.
	client := api.register("crash-client", rc, "/hook/client")
	provider := api.register("crash-provider", rc, "/hook/provider")
	rc.listen("/job/client", client.secret) // the job's own callbackUrl: the client's events of the job
	var addressAgents []crashAgent
	for i := range crashAddressAgents {
		addressAgents = append(addressAgents, api.register(fmt.Sprintf("crash-agent-%d", i), rc, fmt.Sprintf("/hook/agent-%d", i)))
	}
	agents := append([]crashAgent{client, provider}, addressAgents...)

	// What the test causes, as "path event key" (the key is the job id or the new address).
	var want []string
	api.fund(client)
	api.fund(provider)
	var svc, job struct{ ID, Status string }
	api.do("POST", "/api/v1/services", provider.key, crashServiceBody, http.StatusCreated, &svc)
	api.do("POST", "/api/v1/jobs", client.key, `{"type":"direct","serviceId":"`+svc.ID+`","input":{"text":"crash"},"callbackUrl":"`+
		rc.srv.URL+`/job/client"}`, http.StatusCreated, &job)
	api.do("POST", "/api/v1/jobs/"+job.ID+"/deliver", provider.key, `{"output":{"summary":"done"}}`, http.StatusOK, nil)
	api.do("POST", "/api/v1/jobs/"+job.ID+"/accept-delivery", client.key, "", http.StatusOK, nil)
	want = append(want, "/hook/provider job.created "+job.ID, "/job/client job.delivered "+job.ID, "/hook/provider job.completed "+job.ID)

	// Address changes, one agent per goroutine. An agent's first address is no change.
	addresses := make([][]string, len(addressAgents))
	for i, a := range addressAgents {
		for k := range crashAddressChanges + 1 {
			addresses[i] = append(addresses[i], sqlstoretest.NewWallet(t))
			if k > 0 {
				want = append(want, a.path+" wallet.address_changed "+addresses[i][k])
			}
		}
	}
	errs := make([]error, len(addressAgents))
	var wg sync.WaitGroup
	for i, a := range addressAgents {
		wg.Go(func() {
			for _, addr := range addresses[i] {
				if errs[i] = api.call("PUT", "/api/v1/wallet/withdrawal-address", a.key, `{"address":"`+addr+`"}`, http.StatusOK, nil); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}

	// Kill once every worker holds a request the receiver does not answer.
	pollUntil(t, 60*time.Second, "every webhook worker holding an unanswered request", func() string {
		if n := rc.holding(); n < webhook.DefaultWorkers {
			return fmt.Sprintf("%d held", n)
		}
		return ""
	})
	before, inFlight := api.deliveries(agents), rc.heldIDs()
	first.kill()
	var failedOnce, neverAttempted []string
	delivered := 0
	for _, d := range before {
		switch {
		case d.Status == "delivered":
			delivered++
		case d.Status == "pending" && d.Attempts > 0:
			failedOnce = append(failedOnce, d.EventID)
		case d.Status == "pending" && !slices.Contains(inFlight, d.EventID):
			neverAttempted = append(neverAttempted, d.EventID)
		}
	}
	t.Logf("killed pid %d with %d deliveries: %d delivered, %d failed once (503, Retry-After 3600), %d in flight, %d never attempted",
		first.cmd.Process.Pid, len(before), delivered, len(failedOnce), len(inFlight), len(neverAttempted))
	if len(before) != len(want) || len(failedOnce) == 0 || len(inFlight) != webhook.DefaultWorkers || len(neverAttempted) == 0 {
		t.Fatalf("the kill did not happen in the intended state (%d deliveries, want %d): %+v", len(before), len(want), before)
	}

	// Restart on the same database; the receiver now accepts everything.
	rc.accept()
	second := startServeProcess(t, bin, args)
	api.base = second.url
	pollUntil(t, 60*time.Second, "the deliveries never attempted before the kill", func() string {
		if missing := rc.missing(neverAttempted); len(missing) > 0 {
			return fmt.Sprintf("%d not delivered yet", len(missing))
		}
		return ""
	})
	if early := rc.sentAfterKill(failedOnce); len(early) > 0 {
		t.Errorf("deliveries retried an hour early, after the restart: %v", early)
	}
	// Past the 503s' Retry-After and the lost attempts' lease (the dev clock restarts from the
	// system's time with the process).
	api.do("POST", "/dev/clock/advance", "", `{"seconds":3601}`, http.StatusOK, nil)
	var after []crashDelivery
	pollUntil(t, 60*time.Second, "every delivery delivered", func() string {
		after = api.deliveries(agents)
		var ids []string
		for _, d := range after {
			ids = append(ids, d.EventID)
		}
		if missing := rc.missing(ids); len(missing) > 0 {
			return fmt.Sprintf("%d of %d events not answered 2xx yet", len(missing), len(ids))
		}
		for _, d := range after {
			if d.Status != "delivered" {
				return fmt.Sprintf("delivery of %s is %s", d.EventID, d.Status)
			}
		}
		return ""
	})
	second.stop()
	rc.check(t, after, want)
}

// crashServiceBody is an auto-accepting service with simple schemas.
const crashServiceBody = `{"name":"Crash service","description":"A service hired by the webhook crash test.",` +
	`"category":"testing","pricePerJob":1000,"autoAccept":true,"maxConcurrentJobs":10,` +
	`"inputSchema":{"type":"object","properties":{"text":{"type":"string"}},"required":["text"]},` +
	`"outputSchema":{"type":"object","properties":{"summary":{"type":"string"}},"required":["summary"]}}`

// buildJustpay builds this command into a temporary directory, with the race detector when the
// test binary has it.
func buildJustpay(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command to build the binary: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "justpay")
	args := []string{"build", "-o", bin}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				args = append(args, "-race")
			}
		}
	}
	if out, err := exec.Command(goTool, append(args, ".")...).CombinedOutput(); err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return bin
}

// serveProcess is `justpay serve` running as a child process.
type serveProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed once the process has exited and err is set
	err  error
	url  string
}

// startServeProcess starts bin with args and the master key (and no other JUSTPAY_* variable), and
// returns once it listens. The process is killed at the end of the test if it still runs; its
// logs are printed if the test failed.
func startServeProcess(t *testing.T, bin string, args []string) *serveProcess {
	t.Helper()
	p := &serveProcess{t: t, logs: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "JUSTPAY_") {
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.Env = append(p.cmd.Env, EnvMasterKey+"="+crashMasterKey)
	p.cmd.Stdout, p.cmd.Stderr = p.logs, p.logs
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", bin, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(p.logs.String(), "WARNING: DATA RACE") {
			t.Errorf("server pid %d: the race detector reported a race", p.cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("server pid %d logs:\n%s", p.cmd.Process.Pid, p.logs)
		}
	})
	pollUntil(t, 60*time.Second, "the server to listen", func() string {
		select {
		case <-p.done:
			t.Fatalf("the server exited before listening: %v\n%s", p.err, p.logs)
		default:
		}
		if p.url = listeningURL(p.logs.String()); p.url == "" {
			return "not listening"
		}
		return ""
	})
	return p
}

// listeningURL finds the URL in the server's "justpay listening" log line (JSON logs).
func listeningURL(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var line struct{ Msg, URL string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "justpay listening" {
			return line.URL
		}
	}
	return ""
}

// kill sends SIGKILL to the process (this one, by its pid) and waits for it to exit.
func (p *serveProcess) kill() {
	select {
	case <-p.done:
		return
	default:
	}
	if err := p.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.t.Errorf("kill pid %d: %v", p.cmd.Process.Pid, err)
	}
	<-p.done
}

// stop asks the process to shut down (SIGTERM) and fails unless it exits cleanly.
func (p *serveProcess) stop() {
	p.t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		p.t.Fatalf("signal pid %d: %v", p.cmd.Process.Pid, err)
	}
	select {
	case <-p.done:
		if p.err != nil {
			p.t.Errorf("server pid %d exited with %v after SIGTERM", p.cmd.Process.Pid, p.err)
		}
	case <-time.After(60 * time.Second):
		p.t.Fatalf("server pid %d still runs 60 s after SIGTERM", p.cmd.Process.Pid)
	}
}

// pollUntil polls cond until it returns "" and fails the test with cond's last answer after
// timeout.
func pollUntil(t *testing.T, timeout time.Duration, what string, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		state := cond()
		if state == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s: %s", timeout, what, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// crashAgent is an agent registered through the API, with the path of its callbackUrl.
type crashAgent struct {
	id, key, secret, wallet, path string
}

// crashAPI calls the server under test; base changes when it restarts.
type crashAPI struct {
	t    *testing.T
	base string
}

// call sends a JSON request and checks the status; it decodes the answer into out when not nil.
// It is safe for concurrent use (it does not fail the test itself).
func (a *crashAPI) call(method, path, key, body string, want int, out any) error {
	req, err := http.NewRequest(method, a.base+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read body: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d, want %d; body %s", method, path, resp.StatusCode, want, raw)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: decode %s: %w", method, path, raw, err)
		}
	}
	return nil
}

// do is call or the end of the test.
func (a *crashAPI) do(method, path, key, body string, want int, out any) {
	a.t.Helper()
	if err := a.call(method, path, key, body, want, out); err != nil {
		a.t.Fatal(err)
	}
}

// register registers an agent whose callbackUrl is rc's path, and tells rc its secret.
func (a *crashAPI) register(name string, rc *crashReceiver, path string) crashAgent {
	a.t.Helper()
	var reg struct{ AgentID, APIKey, WebhookSecret, WalletAddress string }
	a.do("POST", "/api/v1/auth/register", "", `{"name":"`+name+`","callbackUrl":"`+rc.srv.URL+path+`"}`, http.StatusCreated, &reg)
	if !strings.HasPrefix(reg.WebhookSecret, "whsec_") {
		a.t.Fatalf("register %s: webhookSecret %q", name, reg.WebhookSecret)
	}
	rc.listen(path, reg.WebhookSecret)
	return crashAgent{id: reg.AgentID, key: reg.APIKey, secret: reg.WebhookSecret, wallet: reg.WalletAddress, path: path}
}

// fund deposits 10 USDC on the simulated chain and confirms it, which activates the agent.
func (a *crashAPI) fund(ag crashAgent) {
	a.t.Helper()
	a.do("POST", "/dev/chain/transfer", "", `{"from":"`+sqlstoretest.NewWallet(a.t)+`","to":"`+ag.wallet+`","amount":10000000}`, http.StatusOK, nil)
	var confirm struct{ Activated bool }
	a.do("POST", "/api/v1/wallet/confirm-deposit", ag.key, "", http.StatusOK, &confirm)
	if !confirm.Activated {
		a.t.Fatalf("agent %s not activated by its deposit", ag.id)
	}
}

// crashDelivery is a delivery as GET /api/v1/webhooks/deliveries shows it.
type crashDelivery struct {
	EventID  string `json:"eventId"`
	Event    string `json:"event"`
	URL      string `json:"url"`
	Status   string `json:"status"`
	Attempts int    `json:"attempts"`
}

// deliveries lists every delivery of the agents.
func (a *crashAPI) deliveries(agents []crashAgent) []crashDelivery {
	a.t.Helper()
	var all []crashDelivery
	for _, ag := range agents {
		var page struct {
			Deliveries []crashDelivery
			Pagination struct{ Total int }
		}
		a.do("GET", "/api/v1/webhooks/deliveries?limit=100", ag.key, "", http.StatusOK, &page)
		if page.Pagination.Total != len(page.Deliveries) {
			a.t.Fatalf("agent %s: %d deliveries listed of %d", ag.id, len(page.Deliveries), page.Pagination.Total)
		}
		all = append(all, page.Deliveries...)
	}
	return all
}

// crashReceiver is the agents' webhook endpoint on loopback. It records every request, checks
// its signatures with the secret of the agent at its path, and answers as described on
// TestServe_WebhooksSurviveKill.
type crashReceiver struct {
	srv     *httptest.Server
	release chan struct{} // closed at the end: held requests are answered

	mu      sync.Mutex
	secrets map[string]string // path → secret
	failing bool
	reqs    []*hookRequest
	killAt  int // len(reqs) when accept was called
}

// hookRequest is one request the receiver got.
type hookRequest struct {
	path, id string
	header   http.Header
	body     []byte
	sigErr   error
	held     bool // held without an answer
	status   int  // the answer; 0 while held, and when the sender went away first
}

func newCrashReceiver(t *testing.T) *crashReceiver {
	rc := &crashReceiver{release: make(chan struct{}), secrets: map[string]string{}, failing: true}
	rc.srv = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	t.Cleanup(func() { close(rc.release) }) // before Close, which waits for the handlers
	return rc
}

func (rc *crashReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	rq := &hookRequest{path: r.URL.Path, id: r.Header.Get("webhook-id"), header: r.Header.Clone(), body: body}
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, rq)
	n := len(rc.reqs)
	if secret, ok := rc.secrets[rq.path]; !ok {
		rq.sigErr = fmt.Errorf("no agent listens at %s", rq.path)
	} else if err != nil {
		rq.sigErr = fmt.Errorf("read body: %w", err)
	} else {
		rq.sigErr = verifyWebhookSignatures(secret, r.Header, body)
	}
	status := http.StatusOK
	switch {
	case !rc.failing || n <= 2:
	case n%2 == 1:
		status = http.StatusServiceUnavailable
	default:
		rq.held = true
	}
	rc.mu.Unlock()
	if rq.held {
		select {
		case <-r.Context().Done(): // the sender went away: no answer
			status = 0
		case <-rc.release:
			status = http.StatusServiceUnavailable
		}
	}
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "3600")
	}
	if status != 0 {
		w.WriteHeader(status)
	}
	rc.mu.Lock()
	rq.held, rq.status = false, status
	rc.mu.Unlock()
}

// listen makes path an agent's endpoint, signed with secret.
func (rc *crashReceiver) listen(path, secret string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.secrets[path] = secret
}

// accept makes the receiver answer 200 to every request from now on.
func (rc *crashReceiver) accept() {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.failing, rc.killAt = false, len(rc.reqs)
}

// holding counts the requests held now.
func (rc *crashReceiver) holding() int {
	return len(rc.heldIDs())
}

// heldIDs are the webhook-ids of the requests held now.
func (rc *crashReceiver) heldIDs() []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var ids []string
	for _, rq := range rc.reqs {
		if rq.held {
			ids = append(ids, rq.id)
		}
	}
	return ids
}

// missing returns the ids among ids that no request answered 2xx carried.
func (rc *crashReceiver) missing(ids []string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	ok := map[string]bool{}
	for _, rq := range rc.reqs {
		if rq.status >= 200 && rq.status < 300 {
			ok[rq.id] = true
		}
	}
	var out []string
	for _, id := range ids {
		if !ok[id] {
			out = append(out, id)
		}
	}
	return out
}

// sentAfterKill returns the ids among ids that came again after accept.
func (rc *crashReceiver) sentAfterKill(ids []string) []string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, rq := range rc.reqs[rc.killAt:] {
		if slices.Contains(ids, rq.id) {
			out = append(out, rq.id)
		}
	}
	return out
}

// check compares everything received with the server's deliveries and the events the test
// caused (want, as "path event key").
func (rc *crashReceiver) check(t *testing.T, deliveries []crashDelivery, want []string) {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	recorded := map[string]crashDelivery{}
	for _, d := range deliveries {
		recorded[d.EventID] = d
	}
	first := map[string]*hookRequest{} // webhook-id → its first request
	for _, rq := range rc.reqs {
		if rq.sigErr != nil {
			t.Errorf("request for %s at %s: %v", rq.id, rq.path, rq.sigErr)
		}
		d, ok := recorded[rq.id]
		switch {
		case !ok:
			t.Errorf("webhook-id %q at %s is no event the server recorded (invented): %s", rq.id, rq.path, rq.body)
		case !strings.HasSuffix(d.URL, rq.path):
			t.Errorf("webhook-id %s arrived at %s, its delivery goes to %s", rq.id, rq.path, d.URL)
		}
		if f, ok := first[rq.id]; !ok {
			first[rq.id] = rq
		} else if !bytes.Equal(f.body, rq.body) {
			t.Errorf("webhook-id %s: bodies differ between attempts:\n%s\n%s", rq.id, f.body, rq.body)
		}
	}
	var got []string
	for id, d := range recorded {
		f, ok := first[id]
		if !ok {
			t.Errorf("event %s (%s) never reached the receiver (lost)", id, d.Event)
			continue
		}
		var p struct {
			Event string
			Data  struct{ JobID, NewAddress string }
		}
		if err := json.Unmarshal(f.body, &p); err != nil || p.Event != d.Event {
			t.Errorf("webhook-id %s: body %s, want a %s event (%v)", id, f.body, d.Event, err)
		}
		got = append(got, f.path+" "+p.Event+" "+p.Data.JobID+p.Data.NewAddress)
	}
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Errorf("events delivered:\n%s\nwant the events the test caused:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%d requests for %d events (%d after the restart); every signature verified", len(rc.reqs), len(recorded),
		len(rc.reqs)-rc.killAt)
}

// verifyWebhookSignatures checks both signatures of a delivery, written here from their published
// descriptions rather than with package webhook: X-JustPayAI-Signature "t=<unix>,v1=<hex>" with
// HMAC-SHA256(key, "<t>.<body>"), and Standard Webhooks' webhook-signature "v1,<base64>" with
// HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>"), where the key is the base64 after
// "whsec_". The timestamp's age is not checked: the dev clock runs ahead of the test's.
func verifyWebhookSignatures(secret string, h http.Header, body []byte) error {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return err
	}
	sum := func(parts ...string) []byte {
		m := hmac.New(sha256.New, key)
		for _, p := range parts {
			m.Write([]byte(p))
		}
		m.Write(body)
		return m.Sum(nil)
	}
	var t string
	var ours []string
	for _, part := range strings.Split(h.Get("X-JustPayAI-Signature"), ",") {
		switch k, v, _ := strings.Cut(part, "="); k {
		case "t":
			t = v
		case "v1":
			ours = append(ours, v)
		}
	}
	if _, err := strconv.ParseInt(t, 10, 64); err != nil || len(ours) == 0 {
		return fmt.Errorf("malformed X-JustPayAI-Signature %q", h.Get("X-JustPayAI-Signature"))
	}
	if !slices.Contains(ours, hex.EncodeToString(sum(t, "."))) {
		return errors.New("X-JustPayAI-Signature: no v1 signature matches")
	}
	id, ts := h.Get("webhook-id"), h.Get("webhook-timestamp")
	if id == "" || ts != t {
		return fmt.Errorf("webhook-id %q, webhook-timestamp %q (t=%s)", id, ts, t)
	}
	want := "v1," + base64.StdEncoding.EncodeToString(sum(id, ".", ts, "."))
	if !slices.Contains(strings.Split(h.Get("webhook-signature"), " "), want) {
		return fmt.Errorf("webhook-signature %q: no v1 signature matches", h.Get("webhook-signature"))
	}
	return nil
}
