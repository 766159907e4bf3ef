package milter

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
)

// OPS (README, milters: reason timeout): a milter that does not answer a
// step in time is logged with the time and the setting that bounds the
// step ("no reply within 200ms (command_timeout)"), never with the error
// the socket gave the read the timeout cut ("read tcp …: i/o timeout"),
// at every step: the option negotiation, connect, HELO, MAIL, RCPT,
// DATA, each header, the end of the header, the body chunks and the end
// of message. A milter that answers every step before the one it stalls
// at, over a real connection.
func TestMilterStepTimeoutSaidInWords(t *testing.T) {
	for _, tc := range []struct {
		stall byte
		stage string
		want  string
	}{
		{cmdOptNeg, stConnect, "no reply to the option negotiation within 200ms (command_timeout)"},
		{cmdConnect, stConnect, "no reply within 200ms (command_timeout)"},
		{cmdHelo, stHelo, "no reply within 200ms (command_timeout)"},
		{cmdMail, stMail, "no reply within 200ms (command_timeout)"},
		{cmdRcpt, stRcpt, "no reply within 200ms (command_timeout)"},
		{cmdData, stData, "no reply within 200ms (command_timeout)"},
		{cmdHeader, stHeader, "no reply within 300ms (data_timeout)"},
		{cmdEOH, stEOH, "no reply within 300ms (data_timeout)"},
		{cmdBody, stBody, "no reply within 300ms (data_timeout)"},
		{cmdEOB, stEOM, "no reply within 400ms (eom_timeout)"},
	} {
		t.Run(tc.stage+"_"+string(tc.stall), func(t *testing.T) {
			addr := rawMilter(t, func(r *bufio.Reader, c net.Conn) {
				stalled := func() { io.Copy(io.Discard, r) } // read on, never answer, until umbra closes
				if tc.stall == cmdOptNeg {
					stalled()
					return
				}
				if !optneg(r, c, offeredActions, 0) {
					return
				}
				for {
					p, err := readPacket(r)
					if err != nil {
						return
					}
					switch p.code {
					case tc.stall:
						stalled()
						return
					case cmdMacro, cmdAbort, cmdQuit:
					default:
						c.Write(appendPacket(nil, repContinue, nil))
					}
				}
			})
			var logs syncBuffer
			d := dial(t, startMTAObserved(t, &fakeQueue{}, milterConf(addr,
				", command_timeout: 200ms, data_timeout: 300ms, eom_timeout: 400ms"), nil, 0, 0,
				slog.New(slog.NewTextHandler(&logs, nil)), nil))
			tempfailed := false
			step := func(line string) bool {
				d.conn.Write([]byte(line + "\r\n"))
				got := d.reply()
				tempfailed = tempfailed || strings.HasPrefix(got, "451 4.7.1")
				return strings.HasPrefix(got, "2") || strings.HasPrefix(got, "3")
			}
			if step("EHLO client.test") && step("MAIL FROM:<a@sender.test>") && step("RCPT TO:<u@example.test>") && step("DATA") {
				step(strings.ReplaceAll(msg, "\r\n", "\r\n")[:len(msg)-2] + "\r\n.")
			}
			if !tempfailed {
				t.Errorf("no 451 4.7.1 for a milter stalled at %q", tc.stall)
			}
			out := logs.String()
			if !strings.Contains(out, "milter_stage="+tc.stage) || !strings.Contains(out, "reason=milter_timeout") || !strings.Contains(out, tc.want) {
				t.Errorf("stalled at %q: want milter_stage=%s reason=milter_timeout and %q; log:\n%s", tc.stall, tc.stage, tc.want, out)
			}
			if strings.Contains(out, "i/o timeout") || strings.Contains(out, "read tcp") || strings.Contains(out, "write tcp") {
				t.Errorf("stalled at %q: the socket's error logged:\n%s", tc.stall, out)
			}
		})
	}
}
