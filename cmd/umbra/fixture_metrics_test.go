package main

import (
	"fmt"
	"io"
	"net/http"
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
