package queue

// WithOwnHead is WithHead for a head the caller hands over and never
// touches again: a spooled body whose file part starts at or after skip
// keeps head as it is instead of a copy, so a receiving session with a
// header section of max_header_size does not hold it twice while the
// message is stored. Otherwise it is WithHead.
func (b Body) WithOwnHead(head []byte, skip int64) (Body, error) {
	if b.file == "" || skip < int64(len(b.head)) || skip > b.Len() {
		return b.WithHead(head, skip)
	}
	d := skip - int64(len(b.head))
	return Body{head: head[:len(head):len(head)], file: b.file, off: b.off + d, n: b.n - d}, nil
}
