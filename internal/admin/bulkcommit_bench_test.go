package admin

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"umbra/internal/queue"
)

// BenchmarkBulkMessageAction measures message suspend --all and message
// remove --all of 10,000 queued messages on a real bbolt file with its
// fsyncs (rt20d-F1), through the admin API's batches as the CLI runs
// them; it reports messages/s (BENCHMARKS.md).
//
//	go test -run '^$' -bench BulkMessageAction -benchtime 1x ./internal/admin/
func BenchmarkBulkMessageAction(b *testing.B) {
	for _, action := range []string{"suspend", "remove", "retry"} {
		b.Run(action, func(b *testing.B) {
			const n = 10_000
			var total time.Duration
			for range b.N {
				b.StopTimer()
				dir := b.TempDir()
				st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
				if err != nil {
					b.Fatal(err)
				}
				q := queue.NewManager(st, nil, queue.ManagerConfig{Hostname: "mx.example.org"})
				now := time.Now()
				for i := 0; i < n; i += 500 {
					if err := st.Update(context.Background(), func(tx *queue.Tx) error {
						for range min(500, n-i) {
							m := &queue.Message{ID: tx.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour),
								Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending, Queue: "smarthost:sink"}}}
							if err := tx.PutNewBody(m, queue.MemBody([]byte("Subject: x\r\n\r\nbody\r\n"))); err != nil {
								return err
							}
						}
						return nil
					}); err != nil {
						b.Fatal(err)
					}
				}
				s, err := Listen(filepath.Join(dir, "admin.sock"), q, nil, Status{}, slog.New(slog.DiscardHandler))
				if err != nil {
					b.Fatal(err)
				}
				done := 0
				b.StartTimer()
				start := time.Now()
				var res BulkResult
				for {
					v := "all=true&max_time=15s"
					if res.Next != "" {
						v += "&after=" + res.Next + "&selection=" + res.Selection + "&through=" + res.Through
					}
					req := httptest.NewRequest(http.MethodPost, "/v1/messages/"+action+"?"+v, nil)
					rec := httptest.NewRecorder()
					s.Handler().ServeHTTP(rec, req)
					res = BulkResult{}
					if err := jsonUnmarshal(rec.Body.Bytes(), &res); err != nil || rec.Code != http.StatusOK {
						b.Fatalf("%d %s", rec.Code, rec.Body)
					}
					done += len(res.Done)
					if res.Next == "" {
						break
					}
				}
				total += time.Since(start)
				b.StopTimer()
				if done != n {
					b.Fatalf("%s --all: %d of %d done", action, done, n)
				}
				s.Shutdown(context.Background())
				st.Close()
			}
			b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
		})
	}
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

// BenchmarkMessageActionIDs measures message suspend and remove of
// queued messages named by id (`umbra message list | umbra message
// remove -`), through the client the CLI uses on a real socket and a
// real bbolt file with its fsyncs: "per-id" is one request and one
// commit per id (the CLI before), "batched" the ids sent once and done
// in batches many per commit (Client.BulkActionIDs). It reports
// messages/s (BENCHMARKS.md). UMBRA_BENCH_MESSAGES sets how many (5,000).
//
//	go test -run '^$' -bench MessageActionIDs -benchtime 1x ./internal/admin/
func BenchmarkMessageActionIDs(b *testing.B) {
	n := 5000
	if v, err := strconv.Atoi(os.Getenv("UMBRA_BENCH_MESSAGES")); err == nil && v > 0 {
		n = v
	}
	for _, action := range []string{"suspend", "remove"} {
		for _, way := range []string{"per-id", "batched"} {
			b.Run(action+"/"+way, func(b *testing.B) {
				var total time.Duration
				for range b.N {
					b.StopTimer()
					dir := b.TempDir()
					st, err := queue.Open(filepath.Join(dir, "queue.db"), queue.Options{})
					if err != nil {
						b.Fatal(err)
					}
					q := queue.NewManager(st, nil, queue.ManagerConfig{Hostname: "mx.example.org"})
					now := time.Now()
					var ids []string
					for i := 0; i < n; i += 500 {
						if err := st.Update(context.Background(), func(tx *queue.Tx) error {
							for range min(500, n-i) {
								m := &queue.Message{ID: tx.NewID(now), State: queue.Ready, From: "a@example.org", NextAttempt: now.Add(time.Hour),
									Rcpts: []queue.Recipient{{Addr: "b@example.net", Status: queue.Pending, Queue: "smarthost:sink"}}}
								if err := tx.PutNewBody(m, queue.MemBody([]byte("Subject: x\r\n\r\nbody\r\n"))); err != nil {
									return err
								}
								ids = append(ids, m.ID.String())
							}
							return nil
						}); err != nil {
							b.Fatal(err)
						}
					}
					sock := filepath.Join(dir, "admin.sock")
					s, err := Listen(sock, q, nil, Status{}, slog.New(slog.DiscardHandler))
					if err != nil {
						b.Fatal(err)
					}
					go s.Serve()
					c := NewClient(sock)
					done := 0
					b.StartTimer()
					start := time.Now()
					if way == "per-id" {
						for _, id := range ids {
							if _, err := c.MessageActionNoted(id, action, false, false); err != nil {
								b.Fatal(err)
							}
							done++
						}
					} else {
						res, err := c.BulkActionIDs(action, ids, false, false, false, nil)
						if err != nil {
							b.Fatal(err)
						}
						done = len(res.Done)
					}
					total += time.Since(start)
					b.StopTimer()
					if done != n {
						b.Fatalf("%s %s: %d of %d done", action, way, done, n)
					}
					s.Shutdown(context.Background())
					st.Close()
				}
				b.ReportMetric(float64(n*b.N)/total.Seconds(), "msgs/s")
			})
		}
	}
}
