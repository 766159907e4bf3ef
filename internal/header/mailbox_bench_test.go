package header

import "testing"

// BenchmarkMailboxes: the From: fields DMARC and DKIM signing read, one
// of each common shape per iteration (a bare address, a display name, a
// quoted one, encoded words in Q and B, a comment, the address as its
// own name).
func BenchmarkMailboxes(b *testing.B) {
	fields := []string{
		" a@example.org\r\n",
		" Alice Example <alice@example.org>\r\n",
		" \"Example, Alice\" <alice@example.org>\r\n",
		" =?utf-8?q?J=C3=B6rg_M=C3=BCller?= <j@example.org>\r\n",
		" =?utf-8?b?SsO2cmcgTcO8bGxlcg==?= <j@example.org>\r\n",
		" alice@example.org (Alice)\r\n",
		" \"alice@example.org\" <alice@example.org>\r\n",
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		for _, f := range fields {
			if _, err := Mailboxes(f); err != nil {
				b.Fatal(f, err)
			}
		}
	}
}
