package main

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"
)

// scrapeMetrics returns what a daemon's /metrics at addr shows; a
// status other than 200 is an error.
func scrapeMetrics(addr string) (string, error) {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("scrape of %s: %s", addr, resp.Status)
	}
	return string(body), err
}

// scrapeOf waits (10 s at most) for a scrape of the metrics at addr
// and returns it.
func scrapeOf(t *testing.T, addr string) string {
	t.Helper()
	var s string
	waitCond(t, "a scrape of "+addr, 10*time.Second, func() bool {
		var err error
		s, err = scrapeMetrics(addr)
		return err == nil
	})
	return s
}

// hupCounted sends d SIGHUP and waits (10 s at most) until the sum of
// its umbra_config_reloads_total series of the results named (as
// seriesValue reads each) is n; it returns the scrape (of the metrics
// at addr) that showed it.
func hupCounted(t *testing.T, d *daemon, addr string, n int, results ...string) string {
	t.Helper()
	d.hup()
	var s string
	waitCond(t, "the reload counted", 10*time.Second, func() bool {
		s = scrapeOf(t, addr)
		sum := 0.0
		for _, r := range results {
			sum += seriesValue(s, `umbra_config_reloads_total{result="`+r+`"}`)
		}
		return sum == float64(n)
	})
	return s
}
