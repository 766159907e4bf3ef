package filelimit

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// ErrTooLarge is a file larger than the limit of its kind.
var ErrTooLarge = errors.New("file too large")

// ReadFile reads file whole when it holds at most limit bytes;
// a larger one is refused after reading limit+1 bytes, with an error
// that names the limit ("is larger than the 16 MiB limit for a
// certificate file"), what is a kind's name in it.
func ReadFile(file string, limit int64, what string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(Reader(f, limit, what))
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Reader reads r up to limit bytes, and fails with ErrTooLarge
// (naming the limit and what) at the byte after: a reader that parses as
// it goes (a credentials file's lines) stops there too.
func Reader(r io.Reader, limit int64, what string) io.Reader {
	return &limitReader{r: io.LimitReader(r, limit+1), left: limit, limit: limit, what: what}
}

type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
	what  string
}

func (l *limitReader) Read(p []byte) (int, error) {
	n, err := l.r.Read(p)
	if int64(n) > l.left {
		return int(l.left), fmt.Errorf("%w: larger than the %s limit for %s", ErrTooLarge, sizeName(l.limit), l.what)
	}
	l.left -= int64(n)
	return n, err
}

// sizeName is n bytes as the largest unit that divides it: "16 MiB".
func sizeName(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}
