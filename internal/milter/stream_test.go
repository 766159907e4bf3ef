package milter

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	gomilter "github.com/d--j/go-milter"

	"umbra/internal/queue"
)

// A spooled message goes to a milter in body chunks read from the spool
// file, and lands in the queue as it does when held in memory: header
// edits on top of the file, or a replaced body in memory (the file
// then removed).
func TestMilterSpooledBody(t *testing.T) {
	big := strings.Repeat("a line of a large body\r\n", 20000)
	content := "From: a@sender.test\r\nSubject: hello\r\n\r\n" + big
	for _, replace := range []bool{false, true} {
		var stored [2]string
		for i, spooled := range []bool{false, true} {
			var got strings.Builder
			s := &script{mods: func(m gomilter.Modifier) error {
				if err := m.ChangeHeader(1, "Subject", "changed"); err != nil {
					return err
				}
				if replace {
					return m.ReplaceBody(strings.NewReader("new body\n"))
				}
				return nil
			}}
			sm := &chunkScript{script: s, body: &got}
			dir := t.TempDir()
			var st *queue.Store
			if spooled {
				var err error
				st, err = queue.Open(filepath.Join(dir, "queue.db"), queue.Options{UnsafeNoSync: true})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
			}
			q := &fakeQueue{}
			mta := startMTASpool(t, q, milterConf(startChunkMilter(t, sm), ""), st, 4096)
			d := dial(t, mta)
			d.cmd("EHLO client.test", "250")
			if r := d.send("a@sender.test", []string{"u@example.test"}, content); !strings.HasPrefix(r, "250") {
				t.Fatalf("end of data: %q", r)
			}
			_, body := q.last(t)
			stored[i] = body[strings.Index(body, "\r\nFrom: ")+2:] // past umbra's Received field
			if got.String() != big {
				t.Fatalf("spooled %v: the milter saw %d bytes of body, want %d", spooled, got.Len(), len(big))
			}
			if spooled {
				if len(q.spooled) != 1 || q.spooled[0] == replace {
					t.Fatalf("replace %v: stored spooled %v", replace, q.spooled)
				}
				ents, _ := os.ReadDir(filepath.Join(dir, "spool"))
				if replace && len(ents) != 0 || !replace && len(ents) != 1 {
					t.Fatalf("replace %v: %d spool files", replace, len(ents))
				}
			}
		}
		if stored[0] != stored[1] {
			t.Fatalf("replace %v: spooled and in-memory messages differ:\n%.300q\n%.300q", replace, stored[1], stored[0])
		}
	}
}

// chunkScript is a script whose milter keeps the body chunks it is sent.
type chunkScript struct {
	*script
	body *strings.Builder
}

type chunkMilter struct {
	scriptMilter
	body *strings.Builder
}

func (m *chunkMilter) BodyChunk(b []byte, _ gomilter.Modifier) (*gomilter.Response, error) {
	m.s.mu.Lock()
	m.body.Write(b)
	m.s.mu.Unlock()
	return gomilter.RespContinue, nil
}

func startChunkMilter(t *testing.T, cs *chunkScript) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := gomilter.NewServer(gomilter.WithMilter(func() gomilter.Milter {
		return &chunkMilter{scriptMilter: scriptMilter{s: cs.script}, body: cs.body}
	}),
		gomilter.WithActions(gomilter.OptAddHeader|gomilter.OptChangeHeader|gomilter.OptChangeBody), gomilter.WithProtocol(gomilter.OptSkip))
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "inet:" + ln.Addr().String()
}
