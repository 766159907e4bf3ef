package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// opsAddr is a free TCP address on ip with a port in 7000-7999.
func opsAddr(t testing.TB, ip string) string { return addrInRange(t, ip, 7000, 1000) }

// seriesValue is the value of the series line (name and labels as
// written) in scrape, or -1 when it is not there.
func seriesValue(scrape, series string) float64 {
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(scrape)
	if m == nil {
		return -1
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return -1
	}
	return v
}

// OPS-1, OPS-2: a reload that applies the rest of the file but finds a
// part only a restart applies refused (the console's certificate gone:
// logged as a WARN) counted as a successful reload, and nothing said
// that the next restart would refuse the file. umbra_config_restart_would_fail
// is 1 while the file last reloaded has a part the daemon could not take
// that a restart would refuse (or change: a restart-only setting
// changed, a reload that failed), and 0 again after a reload, or a
// restart, that clears it.
func TestOPS2RestartWouldFailGauge(t *testing.T) {
	dir := t.TempDir()
	listen := opsAddr(t, "127.0.0.121")
	metricsAddr := opsAddr(t, "127.0.0.121")
	consoleAddr := opsAddr(t, "127.0.0.121")
	creds := filepath.Join(dir, "credentials")
	alice, _ := bcrypt.GenerateFromPassword([]byte("alice-pw"), bcrypt.MinCost)
	os.WriteFile(creds, []byte("alice:"+string(alice)+"\n"), 0o600)
	certFile, keyFile := writeCertFiles(t, dir, selfSignedCert(t, "localhost"))
	cfg := filepath.Join(dir, "hub.yaml")
	write := func(maxFiles int) {
		os.WriteFile(cfg, []byte(fmt.Sprintf(`server: {name: hub.restart.test, data_dir: %s, metrics_listen: %q}
accepted_domains: [{domain: example.test, type: authoritative, recipient_validation: "off"}]
mailbox: {maildir: maildir}
tracking: {max_files: %d}
console:
  listen: %s
  cert_file: %s
  key_file: %s
%s`, filepath.Join(dir, "data"), metricsAddr, maxFiles, consoleAddr, certFile, keyFile, submitConnector("in", listen,
			`auth: {mechanisms: [PLAIN], credentials_file: `+creds+`, allow_insecure: true}`))), 0o600)
	}
	write(10)
	d := startUmbra(t, cfg, listen)
	d.dumpLogIfFailed()
	scrape := func() string { t.Helper(); return scrapeOf(t, metricsAddr) }
	reloads := 0
	// hup sends SIGHUP and waits until the reload counted its result.
	hup := func() string {
		t.Helper()
		reloads++
		return hupCounted(t, d, metricsAddr, reloads, "ok", "failed")
	}
	check := func(when string, s string, ok, wouldFail float64) {
		t.Helper()
		if got := seriesValue(s, "umbra_config_last_reload_successful"); got != ok {
			t.Errorf("%s: umbra_config_last_reload_successful %v, want %v", when, got, ok)
		}
		if got := seriesValue(s, "umbra_config_restart_would_fail"); got != wouldFail {
			t.Errorf("%s: umbra_config_restart_would_fail %v, want %v", when, got, wouldFail)
		}
	}
	check("fresh start", scrape(), 1, 0)

	// The console's certificate gone: the reload applies the rest, the
	// next restart would refuse the file.
	os.Rename(certFile, certFile+".old")
	check("reload with the console's certificate missing", hup(), 1, 1)
	os.Rename(certFile+".old", certFile)
	check("reload with the certificate back", hup(), 1, 0)

	// A restart-only setting changed: a restart would run otherwise.
	write(5)
	check("reload with tracking.max_files changed", hup(), 1, 1)
	write(10)
	check("reload with tracking.max_files put back", hup(), 1, 0)

	// A file that does not load: a restart would refuse it too.
	os.WriteFile(cfg, []byte("server: [\n"), 0o600)
	check("failed reload", hup(), 0, 1)

	// A restart that takes the file clears it.
	write(10)
	os.Rename(certFile, certFile+".old")
	check("reload with the console's certificate missing again", hup(), 1, 1)
	os.Rename(certFile+".old", certFile)
	d.kill()
	d = startUmbra(t, cfg, listen)
	reloads = 0
	check("restart", scrape(), 1, 0)
}
